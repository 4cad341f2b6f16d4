//! Transition history: `state_dir/history.jsonl`, one JSON object per line, oldest
//! first, at most [`HISTORY_MAX`] lines. Appends rewrite the file through a rename, so a
//! reader sees the old or the new history, never a torn line. Only the holder of the
//! transition lock writes it.

use super::exec::ActionResult;
use super::state::replace_quick;
use super::GroupState;
use crate::paths::Paths;
use std::io;
use serde::Serialize;
use std::path::PathBuf;

pub const HISTORY_MAX: usize = 64;

/// One action's result inside a history record: `{"action","ok","ms","detail"?}`.
pub type ActionRecord = ActionResult;

/// One transition: `{"time","from","to","reason","ok","ms","seq","actions":[…]}`, in
/// this order in the file; in a ubus reply (a `serde_json::Value`) keys are sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRecord {
    /// Unix seconds when the transition started.
    pub time: u64,
    /// `null` when no state was recorded before (first event after boot); missing
    /// reads as `None` too, as it always did.
    pub from: Option<GroupState>,
    pub to: GroupState,
    /// What asked for it: `keepalived GROUP muros_ha MASTER prio 150`, `converge at daemon start`…
    pub reason: String,
    /// Every action succeeded.
    pub ok: bool,
    /// Wall time of the whole plan, in milliseconds.
    pub ms: u64,
    pub seq: u64,
    pub actions: Vec<ActionRecord>,
    /// MASTER only: VRRP event → WAN up, services running, conntrack committed.
    /// Left out otherwise, and missing in lines from before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<serde_json::Value>,
}

impl HistoryRecord {
    /// One line of `history.jsonl` (no newline): fields in declaration order.
    pub fn to_line(&self) -> io::Result<String> {
        serde_json::to_string(self).map_err(io::Error::from)
    }

    /// A line of `history.jsonl`.
    pub fn parse(line: &str) -> Result<Self, String> {
        let v = crate::json::parse(line.as_bytes())?;
        let o = crate::json::Obj::of(&v)?;
        Ok(HistoryRecord {
            time: o.u64("time")?,
            from: o.opt_state("from")?,
            to: o.state("to")?,
            reason: o.string("reason")?,
            ok: o.bool("ok")?,
            ms: o.u64("ms")?,
            seq: o.u64("seq")?,
            actions: o.objects("actions", |a| Ok(ActionRecord { action: a.string("action")?, ok: a.bool("ok")?, ms: a.u64("ms")?, detail: a.opt_string("detail")?, at_ms: 0 }))?,
            steps: o.opt("steps").cloned(),
        })
    }
}

pub fn history_path(paths: &Paths) -> PathBuf {
    paths.state_dir().join("history.jsonl")
}

/// Append `rec`, keeping the newest [`HISTORY_MAX`] records. Lines that do not parse
/// (a hand edit, an older format) are dropped on the way.
pub fn append(paths: &Paths, rec: &HistoryRecord) -> io::Result<()> {
    append_jsonl(&history_path(paths), &rec.to_line()?, |l| HistoryRecord::parse(l).is_ok())
}

/// Append one JSON line to a bounded log, keeping the newest [`HISTORY_MAX`] lines that
/// `valid` accepts; rewritten through a rename, so a reader never sees a torn line.
fn append_jsonl(path: &std::path::Path, new: &str, valid: fn(&str) -> bool) -> io::Result<()> {
    let old = crate::fsutil::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<&str> = old.lines().filter(|l| valid(l)).collect();
    let keep_from = lines.len().saturating_sub(HISTORY_MAX - 1);
    lines.drain(..keep_from);
    let mut text = String::with_capacity(old.len() + new.len() + 1);
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text.push_str(new);
    text.push('\n');
    replace_quick(path, text.as_bytes())
}

/// Something the daemon saw that is not a transition (`history.events`): a fence
/// raised or lifted, an alert raised, what the peer sent and this node refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub time: u64,
    pub kind: String,
    pub message: String,
}

impl Event {
    /// A line of `events.jsonl`.
    pub fn parse(line: &str) -> Result<Self, String> {
        let v = crate::json::parse(line.as_bytes())?;
        let o = crate::json::Obj::of(&v)?;
        Ok(Event { time: o.u64("time")?, kind: o.string("kind")?, message: o.string("message")? })
    }
}

pub fn events_path(paths: &Paths) -> PathBuf {
    paths.state_dir().join("events.jsonl")
}

/// The daemon's threads (ubus loop, peer link) both record events.
static EVENTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Record an event (newest [`HISTORY_MAX`] kept); a failure is logged, never fatal.
pub fn append_event(paths: &Paths, kind: &str, message: &str) {
    let ev = Event { time: super::state::now_secs(), kind: kind.to_string(), message: message.to_string() };
    let _guard = EVENTS.lock().unwrap_or_else(|e| e.into_inner());
    let r = serde_json::to_string(&ev).map_err(io::Error::from).and_then(|line| append_jsonl(&events_path(paths), &line, |l| Event::parse(l).is_ok()));
    if let Err(e) = r {
        log::warn!("cannot record the {} event: {}", kind, e);
    }
}

/// The newest `limit` events (all if `None`), oldest first.
pub fn read_events(paths: &Paths, limit: Option<usize>) -> Vec<Event> {
    let text = crate::fsutil::read_to_string(events_path(paths)).unwrap_or_default();
    let all: Vec<Event> = text.lines().filter_map(|l| Event::parse(l).ok()).collect();
    let skip = limit.map_or(0, |n| all.len().saturating_sub(n));
    all.into_iter().skip(skip).collect()
}

/// The newest `limit` records (all if `None`), oldest first.
pub fn read(paths: &Paths, limit: Option<usize>) -> Vec<HistoryRecord> {
    let text = crate::fsutil::read_to_string(history_path(paths)).unwrap_or_default();
    let all: Vec<HistoryRecord> = text.lines().filter_map(|l| HistoryRecord::parse(l).ok()).collect();
    let skip = limit.map_or(0, |n| all.len().saturating_sub(n));
    all.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64) -> HistoryRecord {
        HistoryRecord {
            time: 1_764_150_000 + seq,
            from: Some(GroupState::Backup),
            to: GroupState::Master,
            reason: format!("test {}", seq),
            ok: true,
            ms: 3,
            seq,
            actions: vec![ActionRecord { action: "conntrackd -c".into(), ok: true, ms: 1, detail: None, at_ms: 0 }],
            steps: None,
        }
    }

    #[test]
    fn events_are_kept_apart_from_transitions_newest_64() {
        let r = std::env::temp_dir().join(format!("muros-events-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&r);
        let p = Paths::new(&r);
        for i in 0..70 {
            append_event(&p, "refused", &format!("firewall.@include[{}]", i));
        }
        let ev = read_events(&p, None);
        assert_eq!(ev.len(), HISTORY_MAX);
        assert_eq!(ev.last().unwrap().message, "firewall.@include[69]");
        assert_eq!(read_events(&p, Some(2)).len(), 2);
        assert!(read(&p, None).is_empty(), "no transition was recorded");
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn history_keeps_only_the_newest_64_records() {
        let r = std::env::temp_dir().join(format!("muros-hist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&r);
        let p = Paths::new(&r);
        for i in 1..=100 {
            append(&p, &rec(i)).unwrap();
        }
        let all = read(&p, None);
        assert_eq!(all.len(), HISTORY_MAX);
        assert_eq!(all.first().unwrap().seq, 37);
        assert_eq!(all.last().unwrap().seq, 100);
        assert_eq!(read(&p, Some(2)).iter().map(|r| r.seq).collect::<Vec<_>>(), vec![99, 100]);
        // garbage lines are dropped, not fatal
        let mut text = std::fs::read_to_string(history_path(&p)).unwrap();
        text.push_str("{garbage\n");
        std::fs::write(history_path(&p), text).unwrap();
        append(&p, &rec(101)).unwrap();
        let all = read(&p, None);
        assert_eq!(all.len(), HISTORY_MAX);
        assert_eq!(all.last().unwrap().seq, 101);
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn record_json_has_the_fields_the_daemon_reads() {
        let v = serde_json::to_value(rec(1)).unwrap();
        for k in ["time", "from", "to", "reason", "ok", "ms", "seq", "actions"] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["to"], "MASTER");
        assert_eq!(v["actions"][0]["action"], "conntrackd -c");
        assert!(v["actions"][0].get("detail").is_none());
    }

    /// Lines as the previous release wrote them (fields in declaration order, `from`
    /// null when unknown, `detail` left out when empty): still written byte for byte.
    #[test]
    fn lines_are_written_as_the_previous_release_wrote_them() {
        let mut r = rec(1);
        assert_eq!(
            r.to_line().unwrap(),
            r#"{"time":1764150001,"from":"BACKUP","to":"MASTER","reason":"test 1","ok":true,"ms":3,"seq":1,"actions":[{"action":"conntrackd -c","ok":true,"ms":1}]}"#
        );
        r.from = None;
        r.actions.push(ActionRecord { action: "/etc/init.d/dnsmasq start".into(), ok: false, ms: 30000, detail: Some("timed out \"x\"".into()), at_ms: 0 });
        let line = r#"{"time":1764150001,"from":null,"to":"MASTER","reason":"test 1","ok":true,"ms":3,"seq":1,"actions":[{"action":"conntrackd -c","ok":true,"ms":1},{"action":"/etc/init.d/dnsmasq start","ok":false,"ms":30000,"detail":"timed out \"x\""}]}"#;
        assert_eq!(r.to_line().unwrap(), line);
        assert_eq!(HistoryRecord::parse(line).unwrap(), r);
    }

    /// What the previous reader accepted is still read: `from` and `detail` missing or
    /// null, unknown fields; a wrong state or type is still refused.
    #[test]
    fn old_lines_are_read_and_bad_ones_refused() {
        let old = r#"{"time":1,"to":"FAULT","reason":"r","ok":false,"ms":0,"seq":9,"actions":[{"action":"a","ok":true,"ms":2,"detail":null,"extra":1}],"future":{}}"#;
        let r = HistoryRecord::parse(old).unwrap();
        assert_eq!((r.from, r.to, r.seq), (None, GroupState::Fault, 9));
        assert_eq!(r.actions[0].detail, None);
        for bad in [
            r#"{"time":1,"from":null,"to":"master","reason":"r","ok":false,"ms":0,"seq":9,"actions":[]}"#,
            r#"{"time":1,"from":null,"to":"MASTER","reason":"r","ok":false,"ms":-1,"seq":9,"actions":[]}"#,
            r#"{"time":1,"from":null,"to":"MASTER","reason":"r","ok":false,"ms":0,"seq":9}"#,
            r#"{"time":1,"from":null,"to":"MASTER","reason":"r","ok":false,"ms":0,"seq":9,"actions":[]} x"#,
        ] {
            assert!(HistoryRecord::parse(bad).is_err(), "{bad}");
        }
    }
}
