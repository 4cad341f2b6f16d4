//! Split-brain watch: "we are MASTER and the peer is advertising too".
//!
//! Only a VRRP master sends adverts. The fw4 snippet accepts the peer's adverts with a
//! `counter` per instance (comment `muros-ha: VRRP <name> vrid <n>`), so while this
//! node is MASTER a growing counter means the peer believes it is master as well.
//! keepalived would step down on a valid advert of a higher priority, and the peer on
//! ours; if both keep advertising, each rejects the other's adverts — an
//! authentication mismatch (pitfall 3: silent in keepalived), a VRRP version or VRID
//! mismatch — or ours never reach it. Either way both routers hold the VIPs.
//!
//! The watch runs (a 1 s tick) only while this node is MASTER; a BACKUP has nothing to
//! watch here and the daemon then sleeps until something happens.

use std::time::{Duration, Instant};

/// Peer adverts seen without a gap for this long while we are MASTER → split brain.
/// With the 1 s tick this reports within 3 s.
pub const SPLIT_BRAIN_AFTER: Duration = Duration::from_secs(2);
/// A gap this long in the peer's adverts ends a streak (a preempted peer stops at once).
pub const QUIET_GAP: Duration = Duration::from_millis(2500);
pub const TICK: Duration = Duration::from_secs(1);

/// Where fw4 keeps its input chain (our snippet is included there).
pub const NFT_FAMILY: &str = "inet";
pub const NFT_TABLE: &str = "fw4";
pub const NFT_CHAIN: &str = "input";

const COMMENT_PREFIX: &str = "muros-ha: VRRP ";

/// (first, last) time the peer's counter grew in the current streak.
type Streak = (Instant, Instant);

#[derive(Debug, Default)]
pub struct VrrpWatch {
    /// Per instance: the last packet count, and the (first, last) growth of the current
    /// streak. A few instances at most: a Vec is smaller code than maps.
    seen: Vec<(String, u64, Option<Streak>)>,
}

/// `(instance, packets)` of our VRRP rules in `nft list chain` output.
pub fn parse_counters(nft_text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for line in nft_text.lines() {
        let Some(c) = line.find(&format!("comment \"{}", COMMENT_PREFIX)) else { continue };
        let rest = &line[c + "comment \"".len() + COMMENT_PREFIX.len()..];
        let Some(name) = rest.split_ascii_whitespace().next() else { continue };
        let Some(p) = line.find("counter packets ") else { continue };
        let packets = line[p + "counter packets ".len()..].split_ascii_whitespace().next().and_then(crate::parse_u64);
        if let Some(n) = packets {
            out.push((name.to_string(), n));
        }
    }
    out
}

impl VrrpWatch {
    /// Forget everything (we are not MASTER).
    pub fn reset(&mut self) {
        self.seen.clear();
    }

    /// Feed one reading; returns the instances on which the peer has been advertising
    /// for at least [`SPLIT_BRAIN_AFTER`].
    pub fn observe(&mut self, now: Instant, counters: &[(String, u64)]) -> Vec<String> {
        let mut split = Vec::new();
        for (name, packets) in counters {
            let i = match self.seen.iter().position(|(n, _, _)| n == name) {
                Some(i) => i,
                None => {
                    self.seen.push((name.clone(), *packets, None));
                    self.seen.len() - 1
                }
            };
            let (_, last_count, streak) = &mut self.seen[i];
            let grew = *packets > *last_count;
            *last_count = *packets;
            if grew {
                streak.get_or_insert((now, now)).1 = now;
            }
            if let Some((first, last)) = *streak {
                if now.duration_since(last) > QUIET_GAP {
                    *streak = None;
                } else if last.duration_since(first) >= SPLIT_BRAIN_AFTER {
                    split.push(name.clone());
                }
            }
        }
        split
    }
}

/// Read the counters with the real `nft` (bounded in time).
pub fn read_counters() -> Result<Vec<(String, u64)>, String> {
    let argv: Vec<String> = ["nft", "list", "chain", NFT_FAMILY, NFT_TABLE, NFT_CHAIN].iter().map(|s| s.to_string()).collect();
    let text = crate::proc::run_capture(&argv, Duration::from_secs(2))?;
    Ok(parse_counters(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFT: &str = r#"table inet fw4 {
	chain input {
		type filter hook input priority filter; policy drop;
		iifname "br-lan" ip daddr 224.0.0.18 ip protocol { 51, 112 } counter packets 17 bytes 680 accept comment "muros-ha: VRRP lan vrid 10"
		iifname "eth2" ip daddr 225.0.0.50 udp dport 3780 accept comment "muros-ha: conntrackd sync (multicast)"
	}
}"#;

    #[test]
    fn counters_are_found_by_their_comment() {
        assert_eq!(parse_counters(NFT), vec![("lan".to_string(), 17)]);
        assert!(parse_counters("garbage\ncomment \"muros-ha: VRRP \"").is_empty());
    }

    #[test]
    fn continuous_peer_adverts_while_master_are_a_split_brain_and_a_gap_ends_it() {
        let mut w = VrrpWatch::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        assert!(w.observe(at(0), &[("lan".into(), 5)]).is_empty());
        assert!(w.observe(at(1000), &[("lan".into(), 6)]).is_empty());
        assert!(w.observe(at(2000), &[("lan".into(), 7)]).is_empty());
        assert_eq!(w.observe(at(3000), &[("lan".into(), 8)]), vec!["lan".to_string()]);
        // The peer stops (it stepped down): after the quiet gap the streak ends.
        assert_eq!(w.observe(at(4000), &[("lan".into(), 8)]), vec!["lan".to_string()]);
        assert!(w.observe(at(6000), &[("lan".into(), 8)]).is_empty());
    }

    #[test]
    fn a_single_advert_during_a_preemption_is_not_a_split_brain() {
        let mut w = VrrpWatch::default();
        let t0 = Instant::now();
        assert!(w.observe(t0, &[("lan".into(), 1)]).is_empty());
        assert!(w.observe(t0 + Duration::from_secs(1), &[("lan".into(), 2)]).is_empty());
        for s in 2..6 {
            assert!(w.observe(t0 + Duration::from_secs(s), &[("lan".into(), 2)]).is_empty());
        }
    }
}
