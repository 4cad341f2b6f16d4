//! What the two daemons tell each other, inside authenticated frames.
//!
//! A message is JSON (small, debuggable; serde_json), split into
//! chunks of at most [`CHUNK`] bytes: each transport plaintext is one flag byte
//! (`MORE` = another chunk follows) and the chunk. Reassembly stops at [`MAX_MESSAGE`].

use serde::Serialize;
use crate::json::Obj;
use serde_json::Value;

pub const MORE: u8 = 0x01;
pub const CHUNK: usize = super::session::MAX_PLAINTEXT - 1;
/// Largest reassembled message: a big firewall config or lease file, with room to spare.
pub const MAX_MESSAGE: usize = 1 << 20;

/// `{"seq","state","role","priority","maintenance","config_digest","conntrack"}`, in this
/// order; `conntrack` is `null` when unknown and may be missing (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heartbeat {
    pub seq: u64,
    /// Runtime VRRP group state (`MASTER`, `BACKUP`, `FAULT`, `UNKNOWN`).
    pub state: String,
    /// Configured role (`master`/`backup`).
    pub role: String,
    pub priority: u8,
    pub maintenance: bool,
    /// Digest of the replicated packages, exclusions left out (hex).
    pub config_digest: String,
    /// conntrackd counters when it runs (`internal_active`, `external_active`, …).
    pub conntrack: Option<Value>,
    /// The sender's upstream health (`ok`, `down`, `down_both`, `demoted`, `idle`,
    /// `starting`); left out without health checks, and by releases before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The sender's HA settings summary (`Config::ha_summary`: no password, a digest);
    /// left out by releases before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<String>,
    /// A MASTER's WAN lease (`failover::lease` wire form: seconds left, not a time);
    /// left out without one, and by releases before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wan_lease: Option<String>,
}

/// Longest `Heartbeat::ha` believed (a summary of 64 VIPs fits easily).
pub const HA_SUMMARY_MAX: usize = 4096;


/// The values [`Heartbeat::upstream`] may carry; anything else is dropped on receipt.
pub const UPSTREAM_WORDS: &[&str] = &["ok", "down", "down_both", "demoted", "idle", "starting"];

/// Externally tagged, as serde wrote it: `{"heartbeat": {…}}`, `{"package": {"name",
/// "text"}}`, `{"leases": {"text"}}`, `{"handover_query": {"id", "config_digest"}}`,
/// `{"handover_reply": {"id", "ready", "reason"}}`; exactly one member. serde's default
/// enum form is that very layout: the wire stays what the previous release speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Heartbeat(Heartbeat),
    /// A replicated UCI package, whole file text, from the leading node.
    Package { name: String, text: String },
    /// dnsmasq's lease file.
    Leases { text: String },
    /// "May I hand over to you?" with the asker's config digest.
    HandoverQuery { id: u64, config_digest: String },
    HandoverReply { id: u64, ready: bool, reason: String },
    /// A `replicate_file` from the leading node: base64 bytes, permission bits, owner
    /// and group. The follower writes it only to a path of its own list.
    File { path: String, mode: u32, uid: u32, gid: u32, data: String },
}

impl Message {
    /// The JSON text sent.
    pub fn to_json_string(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }

    /// A received message; unknown kinds are errors, unknown fields are not; a required
    /// member missing or of the wrong type is an error, an optional one (`conntrack`,
    /// `upstream`, `ha`, `wan_lease`) may be missing or `null`. Read through
    /// `serde_json::Value` with a few typed getters instead of serde's derived visitors:
    /// what is accepted is the same (the tests below pin it), at a fraction of the code
    /// on a router (the derived reader was 6.4 KB on aarch64).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let v = crate::json::parse(bytes)?;
        let Some((kind, body)) = v.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
            return Err("a message is an object with exactly one member".into());
        };
        let b = Obj::of(body)?;
        Ok(match kind.as_str() {
            "heartbeat" => Message::Heartbeat(Heartbeat {
                seq: b.u64("seq")?,
                state: b.string("state")?,
                role: b.string("role")?,
                priority: u8::try_from(b.u64("priority")?).map_err(|_| "priority out of range".to_string())?,
                maintenance: b.bool("maintenance")?,
                config_digest: b.string("config_digest")?,
                conntrack: b.opt("conntrack").cloned(),
                upstream: b.opt_string("upstream")?,
                ha: b.opt_string("ha")?,
                wan_lease: b.opt_string("wan_lease")?,
            }),
            "package" => Message::Package { name: b.string("name")?, text: b.string("text")? },
            "leases" => Message::Leases { text: b.string("text")? },
            "handover_query" => Message::HandoverQuery { id: b.u64("id")?, config_digest: b.string("config_digest")? },
            "handover_reply" => Message::HandoverReply { id: b.u64("id")?, ready: b.bool("ready")?, reason: b.string("reason")? },
            "file" => Message::File { path: b.string("path")?, mode: b.u32("mode")?, uid: b.u32("uid")?, gid: b.u32("gid")?, data: b.string("data")? },
            other => return Err(format!("unknown message kind '{}'", other)),
        })
    }

    /// Plaintexts for consecutive transport frames.
    pub fn to_chunks(&self) -> Result<Vec<Vec<u8>>, String> {
        let json = self.to_json_string()?.into_bytes();
        if json.len() > MAX_MESSAGE {
            return Err(format!("peer message of {} bytes exceeds {}", json.len(), MAX_MESSAGE));
        }
        let n = json.len().div_ceil(CHUNK).max(1);
        Ok(json
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| {
                let mut p = Vec::with_capacity(1 + c.len());
                p.push(if i + 1 < n { MORE } else { 0 });
                p.extend_from_slice(c);
                p
            })
            .collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    Oversized,
    Malformed(String),
}

/// Reassembles chunks into messages.
#[derive(Debug, Default)]
pub struct Assembler {
    buf: Vec<u8>,
}

impl Assembler {
    /// Feed one decrypted plaintext; `Ok(None)` while more chunks are due. After an
    /// error the partial message is discarded and the next chunk starts afresh.
    pub fn push(&mut self, plaintext: &[u8]) -> Result<Option<Message>, Bad> {
        let Some((&flags, chunk)) = plaintext.split_first() else {
            self.buf.clear();
            return Err(Bad::Malformed("empty plaintext".into()));
        };
        if self.buf.len() + chunk.len() > MAX_MESSAGE {
            self.buf = Vec::new();
            return Err(Bad::Oversized);
        }
        self.buf.extend_from_slice(chunk);
        if flags & MORE != 0 {
            return Ok(None);
        }
        let whole = std::mem::take(&mut self.buf);
        Message::parse(&whole).map(Some).map_err(Bad::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_package_crosses_several_frames_and_comes_back_equal() {
        let text: String = (0..9000).map(|i| format!("config rule 'r{}'\n", i)).collect();
        let m = Message::Package { name: "firewall".into(), text };
        let chunks = m.to_chunks().unwrap();
        assert!(chunks.len() > 2);
        let mut a = Assembler::default();
        let mut out = None;
        for c in &chunks {
            assert!(c.len() <= super::super::session::MAX_PLAINTEXT);
            out = a.push(c).unwrap();
        }
        assert_eq!(out, Some(m));
    }

    #[test]
    fn endless_more_chunks_stop_at_the_limit() {
        let mut a = Assembler::default();
        let chunk = vec![MORE; CHUNK + 1];
        let mut hit = false;
        for _ in 0..(MAX_MESSAGE / CHUNK + 2) {
            if a.push(&chunk) == Err(Bad::Oversized) {
                hit = true;
                break;
            }
        }
        assert!(hit);
        assert!(matches!(a.push(b"\0{\"nope\":{}}"), Err(Bad::Malformed(_))));
        assert!(matches!(a.push(b""), Err(Bad::Malformed(_))));
    }

    /// What a node of the previous release sends and reads: every kind, byte for byte.
    /// These strings were produced by the hand-written writer of that release; a
    /// change here breaks pairing with it.
    fn wire_cases() -> Vec<(Message, &'static str)> {
        let stats = crate::failover::system::conntrackd_stats(
            "cache internal:\ncurrent active connections: 4\ncache external:\ncurrent active connections: 7\n 0 Malformed msgs 3 Lost msgs\n",
        );
        let hb = |conntrack| Heartbeat {
            seq: 7,
            state: "MASTER".into(),
            role: "master".into(),
            priority: 150,
            maintenance: false,
            config_digest: "9f86d081".into(),
            conntrack,
            upstream: None,
            ha: None,
            wan_lease: None,
        };
        vec![
            (
                Message::Heartbeat(hb(None)),
                r#"{"heartbeat":{"seq":7,"state":"MASTER","role":"master","priority":150,"maintenance":false,"config_digest":"9f86d081","conntrack":null}}"#,
            ),
            (
                Message::Heartbeat(hb(Some(stats))),
                r#"{"heartbeat":{"seq":7,"state":"MASTER","role":"master","priority":150,"maintenance":false,"config_digest":"9f86d081","conntrack":{"external_active":7,"internal_active":4,"lost_msgs":3,"malformed_msgs":0}}}"#,
            ),
            // Health checks configured (issue 17): one more member, at the end; a release
            // before it reads the rest and ignores it (see the next test).
            (
                Message::Heartbeat(Heartbeat { upstream: Some("demoted".into()), ..hb(None) }),
                r#"{"heartbeat":{"seq":7,"state":"MASTER","role":"master","priority":150,"maintenance":false,"config_digest":"9f86d081","conntrack":null,"upstream":"demoted"}}"#,
            ),
            (
                Message::Heartbeat(Heartbeat { wan_lease: Some("198.51.100.23/24 198.51.100.1 600".into()), ..hb(None) }),
                r#"{"heartbeat":{"seq":7,"state":"MASTER","role":"master","priority":150,"maintenance":false,"config_digest":"9f86d081","conntrack":null,"wan_lease":"198.51.100.23/24 198.51.100.1 600"}}"#,
            ),
            (
                Message::Package { name: "firewall".into(), text: "config rule 'r'\n\toption name \"a\\b\" # é/\u{1}\u{7f}\r\n".into() },
                "{\"package\":{\"name\":\"firewall\",\"text\":\"config rule 'r'\\n\\toption name \\\"a\\\\b\\\" # é/\\u0001\u{7f}\\r\\n\"}}",
            ),
            (Message::Leases { text: "1700000000 02:00:00:00:00:01 192.0.2.10 host *\n".into() }, r#"{"leases":{"text":"1700000000 02:00:00:00:00:01 192.0.2.10 host *\n"}}"#),
            (Message::HandoverQuery { id: 18446744073709551615, config_digest: "".into() }, r#"{"handover_query":{"id":18446744073709551615,"config_digest":""}}"#),
            (Message::HandoverReply { id: 3, ready: false, reason: "maintenance".into() }, r#"{"handover_reply":{"id":3,"ready":false,"reason":"maintenance"}}"#),
            (
                Message::File { path: "/etc/openvpn/ta.key".into(), mode: 0o600, uid: 0, gid: 0, data: "a2V5".into() },
                r#"{"file":{"path":"/etc/openvpn/ta.key","mode":384,"uid":0,"gid":0,"data":"a2V5"}}"#,
            ),
        ]
    }

    #[test]
    fn every_kind_is_wire_identical_to_the_previous_release() {
        for (m, wire) in wire_cases() {
            assert_eq!(m.to_json_string().unwrap(), wire);
            assert_eq!(Message::parse(wire.as_bytes()), Ok(m), "{wire}");
        }
    }

    #[test]
    fn the_reader_takes_what_the_previous_release_tolerated_and_refuses_the_rest() {
        // No `conntrack` member at all, unknown members anywhere inside the body.
        let old = br#"{"heartbeat":{"seq":1,"state":"BACKUP","role":"backup","priority":100,"maintenance":true,"config_digest":"d","new_field":[1]}}"#;
        match Message::parse(old) {
            Ok(Message::Heartbeat(h)) => assert_eq!((h.seq, h.conntrack, h.maintenance), (1, None, true)),
            other => panic!("{other:?}"),
        }
        // `null` for every optional member is as good as leaving it out.
        let nulls = br#"{"heartbeat":{"seq":2,"state":"MASTER","role":"master","priority":150,"maintenance":false,"config_digest":"d","conntrack":null,"upstream":null,"ha":null,"wan_lease":null}}"#;
        match Message::parse(nulls) {
            Ok(Message::Heartbeat(h)) => assert_eq!((h.conntrack, h.upstream, h.ha, h.wan_lease), (None, None, None, None)),
            other => panic!("{other:?}"),
        }
        for bad in [
            &br#"{"gossip":{}}"#[..],
            br#"{"leases":{"text":"a"},"package":{"name":"n","text":"t"}}"#,
            br#"{"leases":{}}"#,
            br#"{"heartbeat":{"seq":1,"state":"B","role":"b","priority":256,"maintenance":true,"config_digest":"d"}}"#,
            br#"{"handover_reply":{"id":-1,"ready":true,"reason":""}}"#,
            br#"{"leases":{"text":"a"},}"#,
            br#"{"heartbeat":{"seq":1,"state":"B","role":"b","priority":1,"maintenance":true,"config_digest":"d","upstream":5}}"#,
            br#"{"heartbeat":{"seq":1.5,"state":"B","role":"b","priority":1,"maintenance":true,"config_digest":"d"}}"#,
            br#"{"heartbeat":{"seq":1,"state":"B","role":"b","priority":1,"maintenance":"yes","config_digest":"d"}}"#,
            br#"{"package":{"name":1,"text":"t"}}"#,
            br#"{"file":{"path":"/etc/openvpn/k","mode":4294967296,"uid":0,"gid":0,"data":""}}"#,
            br#"{"heartbeat":[]}"#,
            br#"{}"#,
            br#"[]"#,
            b"",
        ] {
            assert!(Message::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
