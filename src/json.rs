//! Reading our JSON records and messages through `serde_json::Value` with a few typed
//! getters, instead of serde's derived visitors (which are compiled once per type and
//! cost 2–6 KB each on a router). Writing stays `#[derive(Serialize)]`, so the formats
//! are what they were; the readers' acceptance is pinned by each type's tests: a
//! required member missing or of the wrong type is an error, an optional one may be
//! missing or `null`, unknown members are ignored.

use crate::failover::GroupState;
use serde_json::{Map, Value};

/// One JSON object's members.
pub struct Obj<'a>(pub &'a Map<String, Value>);

/// `bytes` as JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

fn wrong(key: &str, what: &str) -> String {
    format!("field `{}` is not {}", key, what)
}

impl<'a> Obj<'a> {
    pub fn of(v: &'a Value) -> Result<Self, String> {
        v.as_object().map(Obj).ok_or_else(|| "not a JSON object".to_string())
    }
    pub fn get(&self, key: &str) -> Result<&'a Value, String> {
        self.0.get(key).ok_or_else(|| format!("missing field `{}`", key))
    }
    /// The member, `None` when missing or `null`.
    pub fn opt(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }
    pub fn u64(&self, key: &str) -> Result<u64, String> {
        self.get(key)?.as_u64().ok_or_else(|| wrong(key, "an unsigned integer"))
    }
    pub fn u32(&self, key: &str) -> Result<u32, String> {
        u32::try_from(self.u64(key)?).map_err(|_| wrong(key, "a 32-bit unsigned integer"))
    }
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        self.get(key)?.as_bool().ok_or_else(|| wrong(key, "a boolean"))
    }
    pub fn str(&self, key: &str) -> Result<&'a str, String> {
        self.get(key)?.as_str().ok_or_else(|| wrong(key, "a string"))
    }
    pub fn string(&self, key: &str) -> Result<String, String> {
        self.str(key).map(str::to_string)
    }
    pub fn opt_string(&self, key: &str) -> Result<Option<String>, String> {
        self.opt(key).map(|v| v.as_str().map(str::to_string).ok_or_else(|| wrong(key, "a string"))).transpose()
    }
    /// An array of strings; `default` when missing (`None`: required).
    pub fn strings(&self, key: &str, default: Option<Vec<String>>) -> Result<Vec<String>, String> {
        let Some(v) = self.0.get(key) else { return default.ok_or_else(|| format!("missing field `{}`", key)) };
        let bad = || wrong(key, "an array of strings");
        v.as_array().ok_or_else(bad)?.iter().map(|s| s.as_str().map(str::to_string).ok_or_else(bad)).collect()
    }
    /// An array of objects, each read by `f`.
    pub fn objects<T>(&self, key: &str, f: impl Fn(Obj<'a>) -> Result<T, String>) -> Result<Vec<T>, String> {
        self.get(key)?.as_array().ok_or_else(|| wrong(key, "an array"))?.iter().map(|v| Obj::of(v).and_then(&f)).collect()
    }
    /// `"MASTER"`, `"BACKUP"`, `"FAULT"` or `"STOP"`, upper case only.
    pub fn state(&self, key: &str) -> Result<GroupState, String> {
        state_of(self.get(key)?).ok_or_else(|| wrong(key, "MASTER, BACKUP, FAULT or STOP"))
    }
    pub fn opt_state(&self, key: &str) -> Result<Option<GroupState>, String> {
        self.opt(key).map(|v| state_of(v).ok_or_else(|| wrong(key, "MASTER, BACKUP, FAULT or STOP"))).transpose()
    }
}

fn state_of(v: &Value) -> Option<GroupState> {
    let s = v.as_str()?;
    s.bytes().all(|b| !b.is_ascii_lowercase()).then(|| s.parse().ok())?
}
