//! The split-brain watch and the fence, pure: fed with classified adverts
//! ([`super::adverts`]), the group state and the peer link's view; time is passed in.
//!
//! Only a VRRP master advertises, so while this node is MASTER every advert from the
//! peer is a second master:
//!
//! - an advert keepalived drops (another password, version, v2 interval) cannot end it:
//!   one such advert while we are MASTER makes the split brain certain at once;
//! - an advert keepalived accepts ends it within one advert interval (the lower side
//!   steps down); if the peer keeps advertising anyway for [`Watch::streak`], ours are
//!   not reaching it, and that is certain too;
//! - the peer link reporting both MASTER for as long is the third witness (a LAN cut in
//!   two, where no advert crosses).
//!
//! When it is certain, the side that VRRP itself would make backup (lower priority,
//! then lower address; for the peer link lower priority, then role `backup`) fences
//! itself: the daemon writes 1 into keepalived's `track_file`, keepalived puts every
//! instance into FAULT at once (VIPs released), and the notify hook's FAULT plan takes
//! the WAN down and stops the services. Both sides use the same order, so exactly one
//! fences. The fence is lifted when the peer's adverts are accepted again (two in a
//! row), or when the peer stops advertising for [`Watch::quiet`] (it died: we must be
//! able to take over), or, for a fence from the peer link, when the link no longer
//! shows the peer as MASTER.

use super::adverts::{Advert, Verdict};
use crate::model::{Config, Role};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Mismatch and collision alerts stay this long after the last such advert (a fenced
/// peer is silent, so its survivor would otherwise forget at once).
pub const HOLD: Duration = Duration::from_secs(60);
/// The loop's tick while something is being watched.
pub const TICK: Duration = Duration::from_millis(500);
/// Consecutive accepted adverts that lift a fence.
const ACCEPTED_TO_LIFT: u32 = 2;
/// Dropped adverts that make a split brain certain while we are MASTER: one. Only a
/// master advertises (priority-0 resignations aside), and keepalived cannot resolve it.
const REJECTED_TO_FENCE: u32 = 1;

#[derive(Debug, Default, Clone)]
struct Seen {
    /// The peer's last advert (any verdict but collision) and what it carried.
    last: Option<Instant>,
    source: Option<IpAddr>,
    priority: u8,
    problem: Option<String>,
    problem_at: Option<Instant>,
    rejected_in_row: u32,
    accepted_in_row: u32,
    /// First advert of the current run of accepted ones.
    accepted_since: Option<Instant>,
    /// First peer advert while we were MASTER, gaps shorter than `quiet`.
    streak: Option<Instant>,
    collision: Option<(IpAddr, Instant)>,
}

/// Why this node is fenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// Unix seconds.
    pub since: u64,
    pub reason: String,
    /// Raised from the peer link, not from adverts.
    pub by_link: bool,
}

/// The last split brain this daemon saw, kept after it ends: `status.last_split_brain`
/// (an alert lasts only as long as the condition, and the survivor's ends as soon as
/// the loser has fenced itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Episode {
    /// Unix seconds; `end` is `None` while it lasts.
    pub start: u64,
    pub end: Option<u64>,
    pub message: String,
    /// This router fenced itself during it.
    pub fenced: bool,
}

impl Episode {
    /// Follow one evaluation: open, update or close the record.
    pub fn track(slot: &mut Option<Episode>, split: Option<&str>, fenced: bool, unix_now: u64) {
        match (slot.as_mut(), split) {
            (Some(e), Some(m)) if e.end.is_none() => {
                e.message = m.to_string();
                e.fenced |= fenced;
            }
            (Some(e), None) if e.end.is_none() => e.end = Some(unix_now),
            (_, Some(m)) => *slot = Some(Episode { start: unix_now, end: None, message: m.to_string(), fenced }),
            _ => {}
        }
        if let (Some(e), true) = (slot.as_mut(), fenced) {
            e.fenced = true;
        }
    }
}

/// The peer link's say, per evaluation.
#[derive(Debug, Clone, Default)]
pub struct LinkView {
    pub connected: bool,
    /// Peer's VRRP state as its heartbeat reports it.
    pub peer_master: bool,
    pub peer_priority: Option<u8>,
}

/// What the daemon should show and do now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    pub split_brain: Option<String>,
    pub mismatch: Option<String>,
    pub collision: Option<String>,
    /// `Some(reason)`: write the fence file (raise) / clear it (lift).
    pub raise_fence: Option<String>,
    pub lift_fence: Option<String>,
}

#[derive(Debug)]
pub struct Watch {
    seen: Vec<Seen>,
    /// The peer is gone after this long without an advert (keepalived's master-down).
    pub quiet: Duration,
    /// Accepted adverts (or a link-reported double master) this long are a split brain.
    pub streak: Duration,
    link_double_since: Option<Instant>,
    pub fence: Option<Fence>,
    /// Fences raised again soon after a lift, in a row, and when the last lift was.
    relapses: u32,
    last_lift: Option<Instant>,
}

/// A fence raised within this long of the previous lift is a relapse.
const RELAPSE_WINDOW: Duration = Duration::from_secs(120);
/// After `n` relapses, accepted adverts lift the fence only once they have lasted
/// 10 s × 2ⁿ (at most 5 min): if the daemon's view of the VRRP settings and
/// keepalived's disagree (keepalived not reloaded after a change), the pair does not
/// bounce every few seconds. A silent peer still lifts it at once.
fn relapse_hold(n: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1 << n.min(5)).min(300))
}

impl Watch {
    pub fn new(cfg: &Config) -> Self {
        let advert = Duration::from_millis(u64::from(cfg.advert_ms.max(10)));
        Watch {
            seen: vec![Seen::default(); cfg.vips.len()],
            quiet: advert * 3 + Duration::from_millis(500),
            streak: (advert * 3).max(Duration::from_secs(2)),
            link_double_since: None,
            fence: None,
            relapses: 0,
            last_lift: None,
        }
    }

    /// Take a new config: timings and instances; the fence and what was seen of
    /// instances that still exist stay.
    pub fn reconfigure(&mut self, cfg: &Config) {
        let fresh = Watch::new(cfg);
        self.seen.resize(cfg.vips.len(), Seen::default());
        self.quiet = fresh.quiet;
        self.streak = fresh.streak;
    }

    /// Whether anything needs the loop's tick (a fence, a streak, an alert to expire).
    pub fn busy(&self, now: Instant) -> bool {
        self.fence.is_some()
            || self.link_double_since.is_some()
            || self.seen.iter().any(|s| s.last.is_some_and(|t| now.duration_since(t) < HOLD) || s.collision.is_some() || s.problem_at.is_some())
    }

    /// Feed one advert. `master`: this node is MASTER now.
    pub fn advert(&mut self, now: Instant, verdict: &Verdict, ad: &Advert, master: bool) {
        match verdict {
            Verdict::Ignore => {}
            Verdict::Collision { instance } => {
                if let Some(s) = self.seen.get_mut(*instance) {
                    s.collision = Some((ad.source, now));
                }
            }
            Verdict::Peer { instance, problem } => {
                let quiet = self.quiet;
                let Some(s) = self.seen.get_mut(*instance) else { return };
                if ad.priority == 0 {
                    // A resigning master: not a claim to be master.
                    s.rejected_in_row = 0;
                    s.streak = None;
                    return;
                }
                let gap = s.last.is_none_or(|t| now.duration_since(t) > quiet);
                if gap || !master {
                    s.streak = None;
                }
                if master && s.streak.is_none() {
                    s.streak = Some(now);
                }
                s.last = Some(now);
                s.source = Some(ad.source);
                s.priority = ad.priority;
                match problem {
                    Some(p) => {
                        s.problem = Some(p.clone());
                        s.problem_at = Some(now);
                        s.rejected_in_row = if gap { 1 } else { s.rejected_in_row.saturating_add(1) };
                        s.accepted_in_row = 0;
                        s.accepted_since = None;
                    }
                    None => {
                        s.accepted_in_row = if gap { 1 } else { s.accepted_in_row.saturating_add(1) };
                        if s.accepted_in_row == 1 {
                            s.accepted_since = Some(now);
                        }
                        s.rejected_in_row = 0;
                        // The peer's adverts are accepted now: whatever was wrong is fixed.
                        s.problem = None;
                        s.problem_at = None;
                    }
                }
            }
        }
    }

    /// Decide. `master`: group state MASTER; `unix_now` stamps a new fence.
    pub fn evaluate(&mut self, cfg: &Config, now: Instant, unix_now: u64, master: bool, link: &LinkView) -> Findings {
        let mut out = Findings::default();
        let quiet = self.quiet;
        let fresh = |t: Option<Instant>, d: Duration| t.is_some_and(|t| now.duration_since(t) <= d);
        let ours = cfg.effective_priority();

        // Link witness: both MASTER for `streak`.
        let link_double = link.connected && link.peer_master && master;
        match (link_double, self.link_double_since) {
            (true, None) => self.link_double_since = Some(now),
            (false, _) => self.link_double_since = None,
            _ => {}
        }

        let mut certain: Option<(String, bool)> = None; // (message, we lose)
        for (i, s) in self.seen.iter_mut().enumerate() {
            let Some(vip) = cfg.vips.get(i) else { continue };
            if !fresh(s.last, quiet) {
                s.streak = None;
                s.rejected_in_row = 0;
                s.accepted_in_row = 0;
                s.accepted_since = None;
            }
            if !fresh(s.problem_at, HOLD) {
                s.problem = None;
                s.problem_at = None;
            }
            if !fresh(s.collision.map(|c| c.1), HOLD) {
                s.collision = None;
            }
            let src = s.source.map_or_else(|| "?".to_string(), |a| a.to_string());
            if let (Some(p), true) = (&s.problem, fresh(s.problem_at, HOLD)) {
                out.mismatch.get_or_insert_with(|| {
                    format!("the peer {} advertises VRID {} ({}) but keepalived drops its adverts: {}", src, vip.vrid, vip.address.addr, p)
                });
            }
            if let Some((who, _)) = s.collision {
                out.collision.get_or_insert_with(|| {
                    format!("another router ({}) advertises VRID {} on {} for other addresses than our VIP {}: two VRRP clusters share a VRID", who, vip.vrid, vip.interface.device, vip.address.addr)
                });
            }
            if !master || !fresh(s.last, quiet) {
                continue;
            }
            let rejected = s.rejected_in_row >= REJECTED_TO_FENCE;
            let long = s.streak.is_some_and(|t| now.duration_since(t) >= self.streak);
            if certain.is_none() && (rejected || long) {
                let own = own_address(vip).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let lose = (ours, own) < (s.priority, s.source.unwrap_or(own));
                let why = if rejected { "each side drops the other's adverts" } else { "our adverts do not reach it" };
                certain = Some((format!("both routers are MASTER on {} (VRID {}): the peer {} (priority {}) keeps advertising while we hold the VIP; {}", vip.name, vip.vrid, src, s.priority, why), lose));
            }
        }
        if certain.is_none() && self.link_double_since.is_some_and(|t| now.duration_since(t) >= self.streak) {
            let theirs = link.peer_priority.unwrap_or(0);
            let lose = ours < theirs || (ours == theirs && cfg.role == Role::Backup);
            certain = Some((format!("both routers are MASTER (peer link, peer priority {}): no advert crosses between them", theirs), lose));
        }

        match (&self.fence, &certain) {
            (None, Some((msg, true))) => {
                self.relapses = match self.last_lift {
                    Some(t) if now.duration_since(t) < RELAPSE_WINDOW => self.relapses.saturating_add(1),
                    _ => 0,
                };
                // Lifting takes accepted adverts heard while fenced, not before.
                for s in &mut self.seen {
                    s.accepted_in_row = 0;
                    s.accepted_since = None;
                }
                let mut reason = format!("fenced: {}; this router yields (lower priority)", msg);
                if self.relapses > 0 {
                    reason.push_str(&format!(
                        "; fenced again {} time(s) soon after a lift: keepalived may not run the settings muros-ha has (reload it); the next lift waits for {} s of accepted adverts",
                        self.relapses,
                        relapse_hold(self.relapses).as_secs()
                    ));
                }
                self.fence = Some(Fence { since: unix_now, reason: reason.clone(), by_link: self.link_double_since.is_some() && self.seen.iter().all(|s| !fresh(s.last, quiet)) });
                out.raise_fence = Some(reason);
            }
            (Some(f), _) => {
                let hold = if self.relapses == 0 { Duration::ZERO } else { relapse_hold(self.relapses) };
                let accepted = self.seen.iter().any(|s| s.accepted_in_row >= ACCEPTED_TO_LIFT && fresh(s.last, quiet) && s.accepted_since.is_some_and(|t| now.duration_since(t) >= hold));
                let any_advert = self.seen.iter().any(|s| fresh(s.last, quiet));
                let lift = if accepted {
                    Some("the peer's adverts are accepted again")
                } else if f.by_link {
                    (!(link.connected && link.peer_master)).then_some("the peer link no longer shows the peer as MASTER")
                } else {
                    (!any_advert).then_some("the peer stopped advertising")
                };
                if let Some(why) = lift {
                    self.fence = None;
                    self.last_lift = Some(now);
                    out.lift_fence = Some(why.to_string());
                }
            }
            _ => {}
        }
        out.split_brain = certain.map(|(m, _)| m);
        out
    }

    /// The peer has advertised as MASTER (an accepted advert, priority > 0) since `t`.
    pub fn peer_took_over(&self, t: Instant) -> bool {
        self.seen.iter().any(|s| s.accepted_in_row > 0 && s.last.is_some_and(|l| l > t))
    }

    /// The source of the peer's last advert on instance `i` (its link-local address
    /// for an IPv6 instance).
    pub fn peer_source(&self, i: usize) -> Option<IpAddr> {
        self.seen.get(i).and_then(|s| s.source)
    }

    /// The peer's last advert per instance, for `status`.
    pub fn peers(&self, cfg: &Config, now: Instant) -> Vec<serde_json::Value> {
        self.seen
            .iter()
            .zip(&cfg.vips)
            .filter_map(|(s, v)| {
                let t = s.last?;
                Some(serde_json::json!({
                    "instance": v.name, "source": s.source.map(|a| a.to_string()), "priority": s.priority,
                    "age_ms": u64::try_from(now.duration_since(t).as_millis()).unwrap_or(u64::MAX),
                    "accepted": s.problem.is_none() || s.accepted_in_row > 0, "problem": s.problem,
                }))
            })
            .collect()
    }
}

/// The address our keepalived advertises from on the VIP's interface: the first own
/// address of the VIP's family.
fn own_address(vip: &crate::model::Vip) -> Option<IpAddr> {
    vip.interface.addresses.iter().map(|n| n.addr).find(|a| a.is_ipv6() == vip.address.addr.is_ipv6())
}

#[cfg(test)]
mod tests {
    use super::super::adverts::{classify, parse_ipv4, tests::v2_packet};
    use super::*;

    fn cfg(prio: u8) -> Config {
        let mut c = crate::model::tests_support::minimal_config();
        c.priority = prio;
        c
    }

    /// Feed one advert from 192.0.2.3 (prio, password) at `ms`.
    fn feed(w: &mut Watch, c: &Config, t0: Instant, ms: u64, prio: u8, pass: &[u8], master: bool) {
        let vip = c.vips[0].address.addr;
        let IpAddr::V4(v) = vip else { panic!() };
        let ad = parse_ipv4(&v2_packet([192, 0, 2, 3], c.vips[0].vrid, prio, v.octets(), pass, 1)).unwrap();
        let verdict = classify(c, &c.vips[0].interface.device, &ad, &[]);
        w.advert(t0 + Duration::from_millis(ms), &verdict, &ad, master);
    }

    fn eval(w: &mut Watch, c: &Config, t0: Instant, ms: u64, master: bool) -> Findings {
        w.evaluate(c, t0 + Duration::from_millis(ms), 1000 + ms / 1000, master, &LinkView::default())
    }

    #[test]
    fn rejected_adverts_while_master_fence_the_lower_side_at_once() {
        let c = cfg(100);
        let pw = c.password.expose().as_bytes().to_vec();
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        // Rejected while BACKUP: keepalived will soon claim MASTER, nothing to do yet.
        feed(&mut w, &c, t0, 0, 150, b"wrong99", false);
        assert_eq!(eval(&mut w, &c, t0, 100, false), Findings { mismatch: w_mismatch(&c), ..Findings::default() });
        // It did: the first tick as MASTER fences (the adverts seen while BACKUP count).
        feed(&mut w, &c, t0, 1000, 150, b"wrong99", false);
        let f = eval(&mut w, &c, t0, 1100, true);
        assert!(f.split_brain.as_deref().unwrap().contains("drops"), "{:?}", f);
        assert!(f.mismatch.as_deref().unwrap().contains("password"), "{:?}", f);
        assert!(f.raise_fence.is_some(), "lower priority fences: {:?}", f);
        // Fenced (FAULT now): the peer's adverts still come, still rejected: stay.
        for s in 2..6 {
            feed(&mut w, &c, t0, s * 1000, 150, b"wrong99", false);
            assert_eq!(eval(&mut w, &c, t0, s * 1000 + 100, false).lift_fence, None);
        }
        // Repaired: two accepted adverts lift it.
        feed(&mut w, &c, t0, 6000, 150, &pw, false);
        assert_eq!(eval(&mut w, &c, t0, 6100, false).lift_fence, None);
        feed(&mut w, &c, t0, 7000, 150, &pw, false);
        assert!(eval(&mut w, &c, t0, 7100, false).lift_fence.unwrap().contains("accepted"));
        assert!(w.fence.is_none());
    }

    fn w_mismatch(c: &Config) -> Option<String> {
        Some(format!("the peer 192.0.2.3 advertises VRID {} ({}) but keepalived drops its adverts: it uses another VRRP password", c.vips[0].vrid, c.vips[0].address.addr))
    }

    #[test]
    fn the_higher_side_reports_but_never_fences() {
        let c = cfg(150);
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        for s in 0..4 {
            feed(&mut w, &c, t0, s * 1000, 100, b"wrong99", true);
        }
        let f = eval(&mut w, &c, t0, 3100, true);
        assert!(f.split_brain.is_some() && f.raise_fence.is_none(), "{:?}", f);
        // The peer fenced itself and went quiet: split brain over, mismatch still shown.
        let q = w.quiet.as_millis() as u64;
        let f = eval(&mut w, &c, t0, 3100 + q + 100, true);
        assert!(f.split_brain.is_none() && f.mismatch.is_some(), "{:?}", f);
        let f = eval(&mut w, &c, t0, 3100 + HOLD.as_millis() as u64 + 100, true);
        assert!(f.mismatch.is_none(), "{:?}", f);
    }

    #[test]
    fn a_fence_that_comes_back_right_after_a_lift_is_lifted_later_each_time() {
        // The daemon believes the peer's adverts are fine, keepalived does not (it was
        // not reloaded): accepted adverts, yet we keep turning MASTER.
        let c = cfg(100);
        let pw = c.password.expose().as_bytes().to_vec();
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        let mut ms = 0;
        let mut lifted_after = Vec::new();
        for _round in 0..3 {
            // MASTER with accepted adverts for the streak: fence.
            let start = ms;
            while eval(&mut w, &c, t0, ms, true).raise_fence.is_none() {
                feed(&mut w, &c, t0, ms, 150, &pw, true);
                ms += 1000;
                assert!(ms - start < 10_000, "no fence");
            }
            let fenced_at = ms;
            loop {
                feed(&mut w, &c, t0, ms, 150, &pw, false);
                if eval(&mut w, &c, t0, ms + 10, false).lift_fence.is_some() {
                    break;
                }
                ms += 1000;
                assert!(ms - fenced_at < 400_000, "never lifted");
            }
            lifted_after.push(ms - fenced_at);
            ms += 1000;
        }
        assert!(lifted_after[0] >= 1000 && lifted_after[0] < 3000 && lifted_after[1] >= 10_000 && lifted_after[2] >= 20_000, "{:?}", lifted_after);
        assert!(w.fence.is_none());
    }

    #[test]
    fn a_fenced_router_comes_back_when_the_peer_goes_silent() {
        let c = cfg(100);
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        feed(&mut w, &c, t0, 0, 150, b"wrong99", true);
        feed(&mut w, &c, t0, 1000, 150, b"wrong99", true);
        assert!(eval(&mut w, &c, t0, 1100, true).raise_fence.is_some());
        let q = w.quiet.as_millis() as u64;
        assert_eq!(eval(&mut w, &c, t0, 1000 + q - 100, false).lift_fence, None);
        assert!(eval(&mut w, &c, t0, 1000 + q + 100, false).lift_fence.unwrap().contains("stopped"));
    }

    #[test]
    fn accepted_adverts_during_a_preemption_are_not_a_split_brain() {
        let c = cfg(100);
        let pw = c.password.expose().as_bytes().to_vec();
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        feed(&mut w, &c, t0, 0, 150, &pw, true);
        assert_eq!(eval(&mut w, &c, t0, 100, true), Findings::default());
        // We stepped down: adverts keep coming, we are BACKUP.
        for s in 1..10 {
            feed(&mut w, &c, t0, s * 1000, 150, &pw, false);
            assert_eq!(eval(&mut w, &c, t0, s * 1000 + 100, false), Findings::default());
        }
    }

    #[test]
    fn accepted_adverts_that_do_not_stop_are_a_split_brain_after_the_streak() {
        let c = cfg(150);
        let pw = c.password.expose().as_bytes().to_vec();
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        let mut last = Findings::default();
        for s in 0..5 {
            feed(&mut w, &c, t0, s * 1000, 100, &pw, true);
            last = eval(&mut w, &c, t0, s * 1000 + 100, true);
        }
        assert!(last.split_brain.unwrap().contains("do not reach"));
        assert_eq!(last.raise_fence, None);
    }

    #[test]
    fn a_foreign_vrid_is_ignored_and_our_vrid_for_other_addresses_is_a_collision() {
        let c = cfg(150);
        let dev = c.vips[0].interface.device.clone();
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        let other = parse_ipv4(&v2_packet([192, 0, 2, 9], c.vips[0].vrid.wrapping_add(1), 200, [192, 0, 2, 200], b"x", 1)).unwrap();
        assert_eq!(classify(&c, &dev, &other, &[]), Verdict::Ignore);
        let same = parse_ipv4(&v2_packet([192, 0, 2, 9], c.vips[0].vrid, 200, [192, 0, 2, 200], b"x", 1)).unwrap();
        let v = classify(&c, &dev, &same, &[]);
        assert_eq!(v, Verdict::Collision { instance: 0 });
        assert_eq!(classify(&c, "eth9", &same, &[]), Verdict::Ignore, "another device");
        assert_eq!(classify(&c, &dev, &same, &[same.source]), Verdict::Ignore, "our own");
        for s in 0..5 {
            w.advert(t0 + Duration::from_secs(s), &v, &same, true);
        }
        let f = eval(&mut w, &c, t0, 5000, true);
        assert!(f.collision.unwrap().contains("192.0.2.9"));
        assert_eq!((f.split_brain, f.raise_fence), (None, None));
    }

    #[test]
    fn the_peer_link_alone_fences_the_backup_role_on_a_tie() {
        let mut c = cfg(100);
        c.role = Role::Backup;
        let (mut w, t0) = (Watch::new(&c), Instant::now());
        let link = LinkView { connected: true, peer_master: true, peer_priority: Some(100) };
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(w.evaluate(&c, at(0), 1, true, &link).raise_fence, None);
        assert!(w.evaluate(&c, at(3100), 4, true, &link).raise_fence.is_some());
        assert!(w.fence.as_ref().unwrap().by_link);
        // Fenced: the peer is still MASTER: stay; it is not any more: lift.
        assert_eq!(w.evaluate(&c, at(5000), 6, false, &link).lift_fence, None);
        let gone = LinkView { connected: true, peer_master: false, peer_priority: Some(100) };
        assert!(w.evaluate(&c, at(6000), 7, false, &gone).lift_fence.is_some());
    }
}
