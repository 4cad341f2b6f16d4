//! Upstream health checks (issue 17 §1): `config health` sections probed by the
//! daemon while this router is MASTER, and what follows from their verdict.
//!
//! Why the daemon and not keepalived's `vrrp_script`: a script is a fork per check per
//! interval on a router with 64 MB, it cannot tell "my upstream failed" from "the ISP
//! is down for both of us" (that needs the peer link and the time since the takeover),
//! and a `track_script` failure only lowers a priority, which moves nothing when the
//! peer runs `nopreempt`. The daemon probes from threads it already has the rights for
//! (raw ICMP, TCP connect), and acts through two keepalived `track_file`s:
//!
//! - the *yield* (the fence file, a moment of FAULT → priority-0 advert): the peer takes
//!   over at once, preempt or not;
//! - the *demotion* (`muros_ha_upstream`, weight -253): priority 1 afterwards, so this
//!   router never preempts the master back while its own upstream is in doubt, yet it
//!   still takes over if the peer fails.
//!
//! No flapping when the ISP is down for both: a master whose checks fail while the
//! peer's upstream is known bad (the peer link's heartbeat says `down` or `demoted`),
//! or, when there is no peer link to tell, within [`grace`] of taking over, stays
//! master and reports "upstream down on both" instead of handing back.
//!
//! The demotion ends when this router becomes MASTER again (its own checks judge it
//! then), or, with the peer link, once the peer's upstream is healthy and the hold
//! (60 s, doubled for each relapse within 10 min, at most 30 min) has passed. Without
//! the peer link nothing can tell that this router's upstream is back, so it stays
//! at priority 1 until it is master again (as `nopreempt` would): safe, and said in
//! the alert.

use crate::model::{HealthCheck, ProbeMethod};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// First hold of a demotion before the peer link may lift it.
pub const HOLD: Duration = Duration::from_secs(60);
/// Longest hold after repeated relapses.
pub const HOLD_MAX: Duration = Duration::from_secs(30 * 60);
/// A demotion within this long of the last lift is a relapse (the hold doubles).
pub const RELAPSE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long after taking over a failing upstream is blamed on the line both routers
/// share (when the peer link cannot say): at least 30 s, at least four detection times.
pub fn grace(checks: &[HealthCheck]) -> Duration {
    let detect = checks.iter().map(|c| u64::from(c.interval_s) * u64::from(c.fall)).max().unwrap_or(0);
    Duration::from_secs((detect * 4).max(30))
}

/// What the peer link says about the peer's upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerUpstream {
    /// No peer link, or a peer that does not report it.
    Unknown,
    /// The peer probes and its upstream passes.
    Ok,
    /// The peer's upstream failed (it says `down` or `demoted`).
    Bad,
    /// The peer does not probe now (a backup without demotion).
    Idle,
}

impl PeerUpstream {
    /// From the heartbeat's `upstream` field.
    pub fn from_wire(s: Option<&str>) -> Self {
        match s {
            Some("ok") => PeerUpstream::Ok,
            Some("down" | "down_both" | "demoted") => PeerUpstream::Bad,
            Some("idle" | "starting") => PeerUpstream::Idle,
            _ => PeerUpstream::Unknown,
        }
    }
}

/// The overall verdict, as `status.health.state` spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not MASTER: nothing is probed.
    Idle,
    /// MASTER, first round not due yet.
    Starting,
    Ok,
    /// Failed and handed over (or tried to).
    Down(String),
    /// Failed, but the peer's upstream is bad too: staying master.
    DownBoth(String),
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Idle => "idle",
            Verdict::Starting => "starting",
            Verdict::Ok => "ok",
            Verdict::Down(_) => "down",
            Verdict::DownBoth(_) => "down_both",
        }
    }
}

/// One check's counters.
#[derive(Debug, Clone)]
struct CheckState {
    healthy: bool,
    fails: u32,
    passes: u32,
    next_due: Option<Instant>,
    in_flight: bool,
    last_error: Option<String>,
    last_rtt_ms: Option<u64>,
}

impl CheckState {
    fn new() -> Self {
        CheckState { healthy: true, fails: 0, passes: 0, next_due: None, in_flight: false, last_error: None, last_rtt_ms: None }
    }
}

/// The demotion in force.
#[derive(Debug, Clone)]
pub struct Demotion {
    pub since_unix: u64,
    pub at: Instant,
    pub hold: Duration,
    pub reason: String,
}

/// What the daemon must do after [`Health::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Hand the master over now (the yield), with this reason for history.
    Yield(String),
    /// Write the demotion file (true = 1).
    Demote(bool, String),
    /// Raise (Some) or clear (None) the `upstream_down` alert.
    Alert(Option<String>),
    /// A history event and a ubus event: (kind, message).
    Event(&'static str, String),
}

/// A probe round's outcome for check `index`.
#[derive(Debug, Clone)]
pub struct RoundResult {
    pub index: usize,
    pub ok: bool,
    pub rtt_ms: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct Health {
    pub checks: Vec<HealthCheck>,
    states: Vec<CheckState>,
    pub verdict: Verdict,
    pub demoted: Option<Demotion>,
    master_since: Option<Instant>,
    relapses: u32,
    last_lift: Option<Instant>,
}

impl Health {
    pub fn new(checks: &[HealthCheck]) -> Self {
        Health { checks: checks.to_vec(), states: checks.iter().map(|_| CheckState::new()).collect(), verdict: Verdict::Idle, demoted: None, master_since: None, relapses: 0, last_lift: None }
    }

    /// New checks from a reloaded config: counters start again if the checks changed.
    pub fn reconfigure(&mut self, checks: &[HealthCheck]) {
        if self.checks != checks {
            self.checks = checks.to_vec();
            self.states = checks.iter().map(|_| CheckState::new()).collect();
            if matches!(self.verdict, Verdict::Ok | Verdict::Down(_) | Verdict::DownBoth(_)) {
                self.verdict = Verdict::Starting;
            }
            if self.master_since.is_some() {
                for s in &mut self.states {
                    s.next_due = Some(Instant::now());
                }
            }
        }
    }

    /// A demotion found in the file at start: kept, with a fresh hold.
    pub fn adopt_demotion(&mut self, now: Instant, unix: u64, reason: String) {
        self.demoted = Some(Demotion { since_unix: unix, at: now, hold: HOLD, reason });
    }

    /// The checks due now (not in flight): the caller starts a round for each and
    /// calls [`Health::round_started`].
    pub fn due(&self, now: Instant) -> Vec<usize> {
        if self.master_since.is_none() {
            return Vec::new();
        }
        self.states.iter().enumerate().filter(|(_, s)| !s.in_flight && s.next_due.is_some_and(|t| t <= now)).map(|(i, _)| i).collect()
    }

    pub fn round_started(&mut self, i: usize, now: Instant) {
        if let (Some(s), Some(c)) = (self.states.get_mut(i), self.checks.get(i)) {
            s.in_flight = true;
            s.next_due = Some(now + Duration::from_secs(u64::from(c.interval_s)));
        }
    }

    /// When the next round is due (for the loop's timeout), if probing.
    pub fn next_due(&self) -> Option<Instant> {
        self.master_since?;
        self.states.iter().filter(|s| !s.in_flight).filter_map(|s| s.next_due).min()
    }

    /// Record a round (ignored when this router stopped being master meanwhile).
    pub fn round_done(&mut self, r: &RoundResult) {
        let master = self.master_since.is_some();
        let (Some(s), Some(c)) = (self.states.get_mut(r.index), self.checks.get(r.index)) else { return };
        s.in_flight = false;
        if !master {
            return;
        }
        if r.ok {
            s.passes = s.passes.saturating_add(1);
            s.fails = 0;
            s.last_rtt_ms = r.rtt_ms;
            if !s.healthy && s.passes >= c.rise {
                s.healthy = true;
            }
        } else {
            s.fails = s.fails.saturating_add(1);
            s.passes = 0;
            s.last_error = r.error.clone();
            if s.healthy && s.fails >= c.fall {
                s.healthy = false;
            }
        }
    }

    /// Every check passed its first round (or has not failed enough to be down).
    fn all_healthy(&self) -> bool {
        self.states.iter().all(|s| s.healthy)
    }

    /// "3 probes to 203.0.113.2 lost: timeout" for each failing check (named when
    /// there are several).
    fn failure_text(&self) -> String {
        let named = self.checks.len() > 1;
        let parts: Vec<String> = self
            .checks
            .iter()
            .zip(&self.states)
            .filter(|(_, s)| !s.healthy)
            .map(|(c, s)| {
                let targets: Vec<String> = c.targets.iter().map(|t| t.to_string()).collect();
                let how = match c.method {
                    ProbeMethod::Icmp => String::new(),
                    ProbeMethod::Tcp(p) => format!(" (tcp port {})", p),
                };
                let why = s.last_error.as_deref().map(|e| format!(": {}", e)).unwrap_or_default();
                let name = if named { format!("{}: ", c.name) } else { String::new() };
                format!("{}{} probes to {}{} lost{}", name, s.fails.max(c.fall), targets.join(", "), how, why)
            })
            .collect();
        parts.join("; ")
    }

    /// Judge the checks against this router's role and the peer's word; returns what
    /// to do, in order.
    pub fn evaluate(&mut self, master: bool, peer: PeerUpstream, now: Instant, unix: u64) -> Vec<Act> {
        let mut acts = Vec::new();
        if self.checks.is_empty() {
            return acts;
        }
        match (master, self.master_since) {
            (true, None) => {
                // Became master: probe from one interval on (the WAN is coming up).
                self.master_since = Some(now);
                for (s, c) in self.states.iter_mut().zip(&self.checks) {
                    *s = CheckState { in_flight: s.in_flight, ..CheckState::new() };
                    s.next_due = Some(now + Duration::from_secs(u64::from(c.interval_s)));
                }
                self.verdict = Verdict::Starting;
                if let Some(d) = self.demoted.take() {
                    self.last_lift = Some(now);
                    acts.push(Act::Demote(false, format!("upstream: this router is master again; its own checks judge it now (demoted since {})", d.since_unix)));
                    acts.push(Act::Alert(None));
                }
            }
            (false, Some(_)) => {
                self.master_since = None;
                if matches!(self.verdict, Verdict::DownBoth(_)) && self.demoted.is_none() {
                    acts.push(Act::Alert(None));
                }
                self.verdict = Verdict::Idle;
            }
            _ => {}
        }
        if let Some(since) = self.master_since {
            self.judge_master(since, peer, now, unix, &mut acts);
        } else if let Some(d) = &self.demoted {
            if peer == PeerUpstream::Ok && now.saturating_duration_since(d.at) >= d.hold {
                let held = d.hold.as_secs();
                self.demoted = None;
                self.last_lift = Some(now);
                acts.push(Act::Demote(false, format!("upstream: the peer's upstream is healthy and {} s have passed; this router may be master again", held)));
                acts.push(Act::Alert(None));
                acts.push(Act::Event("upstream_lifted", format!("upstream demotion lifted after {} s", held)));
            }
        }
        acts
    }

    fn judge_master(&mut self, since: Instant, peer: PeerUpstream, now: Instant, unix: u64, acts: &mut Vec<Act>) {
        let healthy = self.all_healthy();
        let any_round = self.states.iter().any(|s| s.passes > 0 || s.fails > 0);
        match (&self.verdict, healthy) {
            (Verdict::Starting, true) if any_round => self.verdict = Verdict::Ok,
            (Verdict::Starting | Verdict::Ok, false) => {
                let text = self.failure_text();
                let fresh = now.saturating_duration_since(since) < grace(&self.checks);
                // The peer link knows; without it, a failure right after a takeover is
                // blamed on the line both share.
                let both = match peer {
                    PeerUpstream::Bad => true,
                    PeerUpstream::Unknown => fresh,
                    PeerUpstream::Ok | PeerUpstream::Idle => false,
                };
                if both {
                    let m = format!("upstream down on both routers: {} (the peer's upstream failed too; staying master instead of bouncing)", text);
                    acts.push(Act::Alert(Some(m.clone())));
                    acts.push(Act::Event("upstream_down_both", m.clone()));
                    self.verdict = Verdict::DownBoth(m);
                } else {
                    let relapse = self.last_lift.is_some_and(|l| now.saturating_duration_since(l) < RELAPSE_WINDOW);
                    self.relapses = if relapse { self.relapses.saturating_add(1) } else { 0 };
                    let hold = HOLD.saturating_mul(1u32 << self.relapses.min(5)).min(HOLD_MAX);
                    let reason = format!("upstream: {}", text);
                    let until = if peer == PeerUpstream::Unknown { "until it is master again (no peer link to say when its upstream is back)".to_string() } else { format!("for at least {} s, until the peer's upstream is healthy", hold.as_secs()) };
                    let m = format!("{}; handed the master over to the peer; this router stays backup at priority 1 {}", reason, until);
                    self.demoted = Some(Demotion { since_unix: unix, at: now, hold, reason: reason.clone() });
                    acts.push(Act::Demote(true, reason.clone()));
                    acts.push(Act::Yield(reason));
                    acts.push(Act::Alert(Some(m.clone())));
                    acts.push(Act::Event("upstream_down", m.clone()));
                    self.verdict = Verdict::Down(m);
                }
            }
            (Verdict::DownBoth(_), false) => {
                // The peer's upstream came back while ours stays down: hand over now.
                let fresh = now.saturating_duration_since(since) < grace(&self.checks);
                if peer == PeerUpstream::Ok && !fresh {
                    self.verdict = Verdict::Ok;
                    self.judge_master(since, peer, now, unix, acts);
                }
            }
            (Verdict::Down(_) | Verdict::DownBoth(_), true) => {
                let m = format!("upstream: {} answer again", self.target_list());
                acts.push(Act::Alert(None));
                acts.push(Act::Event("upstream_up", m));
                self.verdict = Verdict::Ok;
            }
            _ => {}
        }
    }

    fn target_list(&self) -> String {
        let t: Vec<String> = self.checks.iter().flat_map(|c| c.targets.iter().map(|t| t.to_string())).collect();
        t.join(", ")
    }

    /// What the heartbeat tells the peer: `ok`, `down`, `down_both`, `demoted`,
    /// `idle`, `starting`; `None` without checks.
    pub fn wire(&self) -> Option<&'static str> {
        if self.checks.is_empty() {
            return None;
        }
        if self.demoted.is_some() && self.master_since.is_none() {
            return Some("demoted");
        }
        Some(self.verdict.as_str())
    }

    /// `status.health`.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .zip(&self.states)
            .map(|(c, s)| {
                json!({
                    "name": c.name,
                    "method": match c.method { ProbeMethod::Icmp => "icmp", ProbeMethod::Tcp(_) => "tcp" },
                    "port": match c.method { ProbeMethod::Tcp(p) => Some(p), ProbeMethod::Icmp => None },
                    "targets": c.targets,
                    "interval": c.interval_s, "fall": c.fall, "rise": c.rise,
                    "healthy": s.healthy,
                    "fails": s.fails,
                    "passes": s.passes,
                    "last_error": s.last_error,
                    "last_rtt_ms": s.last_rtt_ms,
                })
            })
            .collect();
        json!({
            "state": self.verdict.as_str(),
            "message": match &self.verdict { Verdict::Down(m) | Verdict::DownBoth(m) => Some(m.as_str()), _ => None },
            "demoted": self.demoted.as_ref().map(|d| json!({ "since": d.since_unix, "hold": d.hold.as_secs(), "reason": d.reason })),
            "checks": checks,
        })
    }
}

/// One round of check `c`: the targets in turn until one answers (the round passes),
/// each with its share of the round's time, so a round never outlasts the interval.
pub fn probe_round(index: usize, c: &HealthCheck) -> RoundResult {
    let round = Duration::from_millis((u64::from(c.interval_s) * 1000).saturating_sub(100).clamp(200, 2000));
    let n = u32::try_from(c.targets.len().max(1)).unwrap_or(1);
    let each = (round / n).max(Duration::from_millis(100));
    let mut first_error = None;
    for &t in &c.targets {
        match probe(t, c.method, each) {
            Ok(rtt) => return RoundResult { index, ok: true, rtt_ms: Some(u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX)), error: None },
            Err(e) => {
                first_error.get_or_insert(format!("{}: {}", t, e));
            }
        }
    }
    RoundResult { index, ok: false, rtt_ms: None, error: Some(first_error.unwrap_or_else(|| "no target".into())) }
}

/// One probe: the round-trip time, or why it failed.
pub fn probe(target: IpAddr, method: ProbeMethod, timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    match method {
        ProbeMethod::Tcp(port) => match std::net::TcpStream::connect_timeout(&SocketAddr::new(target, port), timeout) {
            Ok(_) => Ok(t0.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => Err("timeout".into()),
            Err(e) => Err(e.to_string()),
        },
        ProbeMethod::Icmp => icmp::echo(target, timeout).map(|()| t0.elapsed()),
    }
}

mod icmp {
    //! One ICMP/ICMPv6 echo on a raw socket (root; the daemon is root): raw sockets get
    //! every echo reply on the host, so ours is matched by identifier, sequence number
    //! and source. The kernel fills in the ICMPv6 checksum; the ICMP one is ours.
    use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, SockaddrIn6, SockaddrStorage};
    use std::net::{IpAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::{AsFd, AsRawFd};
    use std::time::{Duration, Instant};

    const PAYLOAD: &[u8; 16] = b"muros-ha health\0";

    pub fn echo(target: IpAddr, timeout: Duration) -> Result<(), String> {
        let v6 = target.is_ipv6();
        let (family, proto) = if v6 { (AddressFamily::Inet6, SockProtocol::IcmpV6) } else { (AddressFamily::Inet, SockProtocol::Icmp) };
        let fd = socket::socket(family, SockType::Raw, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, proto).map_err(|e| format!("raw socket: {}", e))?;
        let mut idseq = [0u8; 4];
        getrandom::fill(&mut idseq).map_err(|e| format!("random: {}", e))?;
        let mut pkt = Vec::with_capacity(8 + PAYLOAD.len());
        pkt.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0]);
        pkt.extend_from_slice(&idseq);
        pkt.extend_from_slice(PAYLOAD);
        if !v6 {
            let c = checksum(&pkt);
            pkt[2..4].copy_from_slice(&c.to_be_bytes());
        }
        let sent = match target {
            IpAddr::V4(a) => socket::sendto(fd.as_raw_fd(), &pkt, &SockaddrIn::from(SocketAddrV4::new(a, 0)), MsgFlags::empty()),
            IpAddr::V6(a) => socket::sendto(fd.as_raw_fd(), &pkt, &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, 0)), MsgFlags::empty()),
        };
        sent.map_err(|e| format!("send: {}", e))?;
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 1500];
        // Bounded: at most 256 foreign packets per probe, and never past the deadline.
        for _ in 0..256 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
                Ok(0) => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("poll: {}", e)),
            }
            let (n, from) = match socket::recvfrom::<SockaddrStorage>(fd.as_raw_fd(), &mut buf) {
                Ok(x) => x,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("receive: {}", e)),
            };
            let source: Option<IpAddr> = from.and_then(|f| f.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())).or_else(|| f.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip()))));
            if source != Some(target) {
                continue;
            }
            let icmp = if v6 {
                &buf[..n]
            } else {
                // IPv4 raw sockets hand over the IP header too.
                let ihl = usize::from(buf.first().map_or(0, |b| b & 0x0f)) * 4;
                if ihl < 20 || n < ihl {
                    continue;
                }
                &buf[ihl..n]
            };
            if icmp.len() >= 8 && icmp[0] == (if v6 { 129 } else { 0 }) && icmp[4..8] == idseq {
                return Ok(());
            }
        }
        Err("timeout".into())
    }

    /// RFC 1071 one's-complement sum.
    pub fn checksum(data: &[u8]) -> u16 {
        let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn checksum_of_a_known_echo_request() {
            // type 8, code 0, id 0x1234, seq 1, no payload: sum 0x0800+0x1234+0x0001.
            let p = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
            assert_eq!(super::checksum(&p), !(0x0800u16 + 0x1234 + 0x0001));
            let mut q = p;
            q[2..4].copy_from_slice(&super::checksum(&p).to_be_bytes());
            assert_eq!(super::checksum(&q), 0, "a packet with its checksum sums to zero");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fall: u32, rise: u32) -> HealthCheck {
        HealthCheck { name: "upstream".into(), targets: vec!["203.0.113.2".parse().unwrap()], method: ProbeMethod::Icmp, interval_s: 1, fall, rise }
    }

    fn round(h: &mut Health, ok: bool) {
        h.round_done(&RoundResult { index: 0, ok, rtt_ms: ok.then_some(3), error: (!ok).then(|| "timeout".to_string()) });
    }

    fn yields(acts: &[Act]) -> bool {
        acts.iter().any(|a| matches!(a, Act::Yield(_)))
    }

    /// The master's own upstream fails after the grace: it demotes itself and yields,
    /// once, with the reason in the words history shows.
    #[test]
    fn a_master_whose_upstream_fails_hands_over_once() {
        let mut h = Health::new(&[check(3, 2)]);
        let t0 = Instant::now();
        assert!(h.evaluate(true, PeerUpstream::Idle, t0, 100).is_empty());
        assert_eq!(h.verdict, Verdict::Starting);
        let t = t0 + Duration::from_secs(120);
        round(&mut h, true);
        h.evaluate(true, PeerUpstream::Idle, t, 220);
        assert_eq!(h.verdict, Verdict::Ok);
        round(&mut h, false);
        round(&mut h, false);
        assert!(h.evaluate(true, PeerUpstream::Idle, t, 220).is_empty(), "two failures of three: nothing yet");
        round(&mut h, false);
        let acts = h.evaluate(true, PeerUpstream::Idle, t, 220);
        assert_eq!(acts[0], Act::Demote(true, "upstream: 3 probes to 203.0.113.2 lost: timeout".into()));
        assert!(yields(&acts), "{acts:?}");
        assert!(matches!(&acts[3], Act::Event("upstream_down", m) if m.contains("3 probes to 203.0.113.2 lost")), "{acts:?}");
        assert_eq!(h.wire(), Some("down"));
        round(&mut h, false);
        assert!(!yields(&h.evaluate(true, PeerUpstream::Idle, t, 220)), "one yield per episode");
        // FAULT, then BACKUP at priority 1: demoted, says so to the peer.
        h.evaluate(false, PeerUpstream::Ok, t, 221);
        assert_eq!(h.wire(), Some("demoted"));
        assert!(h.demoted.is_some());
    }

    /// The ISP is down for both: the new master's checks fail within the grace of its
    /// takeover, or while the peer says its own upstream failed: it stays master.
    #[test]
    fn down_on_both_stays_put() {
        for (peer, late) in [(PeerUpstream::Unknown, false), (PeerUpstream::Bad, false), (PeerUpstream::Bad, true)] {
            let mut h = Health::new(&[check(3, 2)]);
            let t0 = Instant::now();
            h.evaluate(true, peer, t0, 100);
            let t = if late { t0 + Duration::from_secs(600) } else { t0 + Duration::from_secs(5) };
            for _ in 0..3 {
                round(&mut h, false);
            }
            let acts = h.evaluate(true, peer, t, 105);
            assert!(!yields(&acts), "{peer:?}: {acts:?}");
            assert!(matches!(&acts[1], Act::Event("upstream_down_both", m) if m.contains("upstream down on both")), "{acts:?}");
            assert_eq!(h.verdict.as_str(), "down_both");
            assert!(h.demoted.is_none());
            // Probes answer again (rise 2): the alert goes, no transition.
            round(&mut h, true);
            assert!(h.evaluate(true, peer, t, 106).is_empty(), "one pass of two");
            round(&mut h, true);
            let acts = h.evaluate(true, peer, t, 106);
            assert_eq!(acts[0], Act::Alert(None));
            assert!(matches!(&acts[1], Act::Event("upstream_up", _)));
            assert_eq!(h.verdict, Verdict::Ok);
        }
    }

    /// Down on both, then the peer's upstream is healthy again while ours still fails
    /// (after the grace): now hand over.
    #[test]
    fn down_on_both_hands_over_once_the_peer_is_healthy() {
        let mut h = Health::new(&[check(3, 2)]);
        let t0 = Instant::now();
        h.evaluate(true, PeerUpstream::Bad, t0, 100);
        for _ in 0..3 {
            round(&mut h, false);
        }
        h.evaluate(true, PeerUpstream::Bad, t0 + Duration::from_secs(5), 105);
        assert_eq!(h.verdict.as_str(), "down_both");
        assert!(!yields(&h.evaluate(true, PeerUpstream::Ok, t0 + Duration::from_secs(6), 106)), "within the grace");
        assert!(yields(&h.evaluate(true, PeerUpstream::Ok, t0 + Duration::from_secs(60), 160)));
    }

    /// A demoted backup comes back only when the peer link says the peer's upstream is
    /// fine and the hold passed; a relapse doubles the hold. Without the peer link it
    /// stays demoted until it is master again.
    #[test]
    fn the_demotion_lifts_after_its_hold_and_doubles_on_relapse() {
        let mut h = Health::new(&[check(1, 1)]);
        let t0 = Instant::now();
        let fail_as_master = |h: &mut Health, t: Instant| {
            h.evaluate(true, PeerUpstream::Ok, t, 0);
            round(h, false);
            let acts = h.evaluate(true, PeerUpstream::Ok, t + Duration::from_secs(100), 0);
            assert!(yields(&acts), "{acts:?}");
            h.evaluate(false, PeerUpstream::Ok, t + Duration::from_secs(101), 0);
        };
        fail_as_master(&mut h, t0);
        let at = t0 + Duration::from_secs(100);
        assert_eq!(h.demoted.as_ref().unwrap().hold, HOLD);
        assert!(h.evaluate(false, PeerUpstream::Unknown, at + HOLD * 10, 0).is_empty(), "no peer link: stays demoted");
        assert!(h.evaluate(false, PeerUpstream::Bad, at + HOLD * 10, 0).is_empty(), "peer's upstream bad: stays demoted");
        assert!(h.evaluate(false, PeerUpstream::Ok, at + HOLD - Duration::from_secs(1), 0).is_empty(), "hold not over");
        let acts = h.evaluate(false, PeerUpstream::Ok, at + HOLD, 0);
        assert!(matches!(acts[0], Act::Demote(false, _)), "{acts:?}");
        assert!(h.demoted.is_none());
        // Preempts back at once and fails again: a relapse, twice the hold.
        fail_as_master(&mut h, at + HOLD);
        assert_eq!(h.demoted.as_ref().unwrap().hold, HOLD * 2);
    }

    /// Becoming master (the peer died) lifts the demotion: this router's own checks
    /// judge it from then on.
    #[test]
    fn becoming_master_lifts_the_demotion() {
        let mut h = Health::new(&[check(1, 1)]);
        h.adopt_demotion(Instant::now(), 5, "found at start".into());
        assert_eq!(h.wire(), Some("demoted"));
        let acts = h.evaluate(true, PeerUpstream::Unknown, Instant::now(), 6);
        assert!(matches!(acts[0], Act::Demote(false, _)), "{acts:?}");
        assert_eq!(h.wire(), Some("starting"));
    }

    #[test]
    fn nothing_is_probed_while_backup_and_rounds_follow_the_interval() {
        let mut h = Health::new(&[check(3, 2)]);
        let t0 = Instant::now();
        h.evaluate(false, PeerUpstream::Unknown, t0, 0);
        assert!(h.due(t0 + Duration::from_secs(10)).is_empty());
        h.evaluate(true, PeerUpstream::Unknown, t0, 0);
        assert!(h.due(t0).is_empty(), "the first round waits one interval (the WAN comes up)");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(h.due(t1), vec![0]);
        h.round_started(0, t1);
        assert!(h.due(t1 + Duration::from_secs(5)).is_empty(), "one round in flight at a time");
        round(&mut h, true);
        assert_eq!(h.next_due(), Some(t1 + Duration::from_secs(1)));
        assert_eq!(h.to_json()["checks"][0]["last_rtt_ms"], 3);
    }

    /// With the peer link, a backup that is not demoted is no reason to stay: even
    /// right after taking over, a failing master hands over. Without the link, it
    /// stays within the grace.
    #[test]
    fn right_after_a_takeover_only_the_missing_peer_link_means_both() {
        for (peer, hands_over) in [(PeerUpstream::Idle, true), (PeerUpstream::Ok, true), (PeerUpstream::Unknown, false)] {
            let mut h = Health::new(&[check(1, 1)]);
            let t0 = Instant::now();
            h.evaluate(true, peer, t0, 0);
            round(&mut h, false);
            assert_eq!(yields(&h.evaluate(true, peer, t0 + Duration::from_secs(2), 2)), hands_over, "{peer:?}");
        }
    }

    #[test]
    fn the_grace_covers_four_detection_times_and_at_least_30_s() {
        assert_eq!(grace(&[check(3, 2)]), Duration::from_secs(30));
        let slow = HealthCheck { interval_s: 10, fall: 5, ..check(3, 2) };
        assert_eq!(grace(&[check(3, 2), slow]), Duration::from_secs(200));
    }

    /// Real probes on the loopback: TCP to a listener passes, to a closed port fails;
    /// ICMP needs a raw socket (root).
    #[test]
    fn probes_on_the_loopback() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(probe(lo, ProbeMethod::Tcp(port), Duration::from_secs(1)).is_ok());
        drop(l);
        assert!(probe(lo, ProbeMethod::Tcp(port), Duration::from_secs(1)).is_err());
        if nix::unistd::geteuid().is_root() {
            // Only the loopback here: lab traffic never leaves a namespace of ours (the
            // lab's health case probes a lost target for real).
            probe(lo, ProbeMethod::Icmp, Duration::from_secs(1)).expect("ICMP echo to 127.0.0.1");
        } else {
            eprintln!("SKIP ICMP probe: needs root for a raw socket");
        }
    }
}
