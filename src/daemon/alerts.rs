//! Conditions an admin must hear about: raised once (log + ubus event), listed by
//! `status` while they last, cleared with a log line.

use serde::Serialize;

/// In `status.alerts`: `{"kind","message","since"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// `split_brain`, …
    pub kind: String,
    pub message: String,
    /// Unix seconds when it was raised.
    pub since: u64,
}

#[derive(Debug, Default)]
pub struct Alerts {
    active: Vec<Alert>,
    /// Raised (`Some(message)`) and cleared (`None`) since the loop last took them, for
    /// the hotplug scripts.
    pub changes: Vec<(String, Option<String>)>,
}

impl Alerts {
    /// Raise `kind`; returns true when it was not active before (the caller then sends
    /// the event). A raised alert keeps its first `since` but takes the newest message.
    pub fn raise(&mut self, kind: &str, message: String) -> bool {
        if let Some(a) = self.active.iter_mut().find(|a| a.kind == kind) {
            a.message = message;
            return false;
        }
        log::warn!("ALERT {}: {}", kind, message);
        self.changes.push((kind.to_string(), Some(message.clone())));
        self.active.push(Alert { kind: kind.to_string(), message, since: crate::failover::state::now_secs() });
        true
    }

    /// Clear `kind`; returns true when it was active.
    pub fn clear(&mut self, kind: &str) -> bool {
        let before = self.active.len();
        self.active.retain(|a| a.kind != kind);
        let cleared = self.active.len() != before;
        if cleared {
            log::info!("alert {} cleared", kind);
            self.changes.push((kind.to_string(), None));
        }
        cleared
    }

    pub fn list(&self) -> &[Alert] {
        &self.active
    }

    pub fn is_active(&self, kind: &str) -> bool {
        self.active.iter().any(|a| a.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_announced_once_and_cleared_once() {
        let mut a = Alerts::default();
        assert!(a.raise("split_brain", "x".into()));
        assert!(!a.raise("split_brain", "y".into()));
        assert_eq!(a.list().len(), 1);
        assert_eq!(a.list()[0].message, "y");
        assert!(a.clear("split_brain"));
        assert!(!a.clear("split_brain"));
        assert!(a.list().is_empty());
    }
}
