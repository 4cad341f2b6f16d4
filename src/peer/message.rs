//! What the two daemons tell each other, inside authenticated frames.
//!
//! A message is JSON (small, debuggable, serde is already in the binary), split into
//! chunks of at most [`CHUNK`] bytes: each transport plaintext is one flag byte
//! (`MORE` = another chunk follows) and the chunk. Reassembly stops at [`MAX_MESSAGE`].

use serde::{Deserialize, Serialize};

pub const MORE: u8 = 0x01;
pub const CHUNK: usize = super::session::MAX_PLAINTEXT - 1;
/// Largest reassembled message: a big firewall config or lease file, with room to spare.
pub const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub conntrack: Option<serde_json::Value>,
}

/// Externally tagged (`{"heartbeat": {…}}`): serde's internally tagged enums buffer
/// through `Content` and cost ~10 KB more code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Message {
    /// Plaintexts for consecutive transport frames.
    pub fn to_chunks(&self) -> Result<Vec<Vec<u8>>, String> {
        let json = serde_json::to_vec(self).map_err(|e| format!("encoding a peer message: {}", e))?;
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
        serde_json::from_slice(&whole).map(Some).map_err(|e| Bad::Malformed(e.to_string()))
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
}
