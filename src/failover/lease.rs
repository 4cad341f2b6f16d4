//! The WAN lease cache (issue 16): what the shared-MAC WAN's DHCP server gave, known to
//! both routers, so a new master configures its WAN at once and lets DHCP confirm after.
//!
//! - The MASTER's daemon reads the lease from netifd (`network.interface.<wan> status`,
//!   [`WanLease::from_netifd`]) and keeps it in `state_dir/wan-lease`; the heartbeat
//!   carries it to the peer ([`WanLease::to_wire`]), which keeps its own copy.
//! - On MASTER, netifd runs our `muros_dhcp` proto handler (files/), whose setup calls
//!   `muros-ha wan-cached`: that sends the cached lease to netifd as the proto handler's
//!   own update (`notify_proto`, [`WanLease::notify_proto`]), then the handler starts
//!   udhcpc asking for the same address. netifd stays the owner: `ifstatus`, hotplug and
//!   fw4 see a WAN that came up, and DHCP's answer replaces the cached values.
//!
//! File (one line): `ADDRESS/PREFIX GATEWAY VALID_UNTIL [DNS…]`, `VALID_UNTIL` in this
//! router's Unix seconds. Wire: the same with seconds left instead (the clocks of the
//! two routers need not agree). Both are data: parsed into addresses and numbers, and
//! refused unless the gateway lies inside the lease's subnet.

use crate::paths::Paths;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// At most this many DNS servers are kept (udhcpc hands netifd a few at most).
const DNS_MAX: usize = 4;
/// A copy whose validity moved less than this is not rewritten.
const REFRESH_S: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WanLease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// Unix seconds (this router's clock) until which the address is surely still leased.
    pub valid_until: u64,
    pub dns: Vec<Ipv4Addr>,
}

pub fn lease_path(paths: &Paths) -> PathBuf {
    paths.state_dir().join("wan-lease")
}

impl WanLease {
    /// One line of the file or the wire; `third` is `VALID_UNTIL` or the seconds left.
    fn parse_with(line: &str, third: impl Fn(u64) -> u64) -> Result<Self, String> {
        // The text is not echoed: it may come from the peer.
        let bad = || "not a WAN lease (ADDRESS/PREFIX GATEWAY SECONDS [DNS...])".to_string();
        let mut w = line.split_ascii_whitespace();
        let (a, p) = w.next().and_then(|s| s.split_once('/')).ok_or_else(bad)?;
        let address: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().ok().filter(|p| (1..=32).contains(p)).ok_or_else(bad)?;
        let gateway: Ipv4Addr = w.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let valid_until = third(w.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?);
        let mut dns = Vec::new();
        for s in w {
            dns.push(s.parse::<Ipv4Addr>().map_err(|_| bad())?);
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let same_net = u32::from(address) & mask == u32::from(gateway) & mask;
        if !same_net || address == gateway || dns.len() > DNS_MAX || address.is_unspecified() {
            return Err(bad());
        }
        Ok(WanLease { address, prefix, gateway, valid_until, dns })
    }

    fn line(&self, third: u64) -> String {
        let mut s = format!("{}/{} {} {}", self.address, self.prefix, self.gateway, third);
        for d in &self.dns {
            s.push(' ');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The file's line.
    pub fn parse_file(line: &str) -> Result<Self, String> {
        Self::parse_with(line.trim(), |v| v)
    }

    /// The peer's heartbeat word, read at `now`.
    pub fn from_wire(line: &str, now: u64) -> Result<Self, String> {
        Self::parse_with(line, |left| now.saturating_add(left.min(1 << 31)))
    }

    /// The heartbeat word at `now`: seconds left, not our clock.
    pub fn to_wire(&self, now: u64) -> String {
        self.line(self.valid_until.saturating_sub(now))
    }

    /// Same lease, whatever its validity.
    pub fn same_lease(&self, o: &WanLease) -> bool {
        (self.address, self.prefix, self.gateway, &self.dns) == (o.address, o.prefix, o.gateway, &o.dns)
    }

    /// What netifd says of an interface that is up with a DHCP lease: the first IPv4
    /// address, the default route's next hop, the DNS servers, `data.leasetime`. Half
    /// the lease time counts as certain: udhcpc renews at half time, so a lease never has
    /// less left while its holder runs. `None` without a lease (down, static, pending).
    pub fn from_netifd(status: &Value, now: u64) -> Option<Self> {
        if status.get("up") != Some(&Value::Bool(true)) {
            return None;
        }
        let a = status.get("ipv4-address")?.get(0)?;
        let gw = status.get("route")?.as_array()?.iter().find(|r| {
            r.get("target").and_then(Value::as_str) == Some("0.0.0.0") && r.get("mask").and_then(Value::as_u64) == Some(0)
        })?;
        let lease_s = status.get("data")?.get("leasetime")?.as_u64()?;
        let dns = status.get("dns-server").and_then(Value::as_array).map_or(Vec::new(), |d| {
            d.iter().filter_map(|s| s.as_str()?.parse().ok()).take(DNS_MAX).collect()
        });
        let line = format!(
            "{}/{} {} 0",
            a.get("address")?.as_str()?,
            a.get("mask")?.as_u64()?,
            gw.get("nexthop")?.as_str()?
        );
        let mut l = Self::parse_file(&line).ok()?;
        l.valid_until = now.saturating_add(lease_s / 2);
        l.dns = dns;
        Some(l)
    }

    /// netifd's `notify_proto` message for this lease, as netifd-proto.sh's
    /// `proto_init_update "*" 1` … `proto_send_update` builds it for udhcpc's script.
    pub fn notify_proto(&self, now: u64) -> Value {
        json!({
            "action": 0,
            "link-up": true,
            "ipaddr": [{ "ipaddr": self.address.to_string(), "mask": self.prefix.to_string() }],
            "routes": [{ "target": "0.0.0.0", "netmask": "0", "gateway": self.gateway.to_string() }],
            "dns": self.dns.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "data": { "leasetime": self.valid_until.saturating_sub(now), "muros_ha": "cached lease" },
        })
    }

    /// `{"address","gateway","dns","valid_s"}` for `status`.
    pub fn to_json(&self, now: u64) -> Value {
        json!({
            "address": format!("{}/{}", self.address, self.prefix),
            "gateway": self.gateway.to_string(),
            "dns": self.dns.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "valid_s": self.valid_until.saturating_sub(now),
        })
    }
}

/// The cached lease, if there is one that is still valid at `now`.
pub fn load(paths: &Paths, now: u64) -> Option<WanLease> {
    let text = crate::fsutil::read_to_string(lease_path(paths)).ok()?;
    WanLease::parse_file(&text).ok().filter(|l| l.valid_until > now)
}

/// Keep `l` as the cached lease unless the file already holds the same lease with a
/// validity less than [`REFRESH_S`] older. Returns the lease it replaced when the
/// lease itself changed (`Some(None)` for a first one), `None` when nothing changed.
pub fn store(paths: &Paths, l: &WanLease) -> std::io::Result<Option<Option<WanLease>>> {
    let path = lease_path(paths);
    let old = crate::fsutil::read_to_string(&path).ok().and_then(|t| WanLease::parse_file(&t).ok());
    let same = old.as_ref().is_some_and(|o| o.same_lease(l));
    if same && old.as_ref().is_some_and(|o| o.valid_until + REFRESH_S > l.valid_until) {
        return Ok(None);
    }
    super::state::replace_quick(&path, format!("{}\n", l.line(l.valid_until)).as_bytes())?;
    Ok(if same { None } else { Some(old) })
}

/// `muros-ha wan-cached IFACE`, run by the `muros_dhcp` proto handler's setup: while
/// keepalived wants this router MASTER, hand netifd the cached lease for `iface`. Says
/// what it did on stdout (netifd logs it). Exit 0: the WAN is up from the cache (the
/// handler then skips udhcpc's first deconfig); 3: no lease used; 1: netifd refused it.
/// DHCP decides in both of the latter, as without a cache.
pub fn command(paths: &Paths, iface: &str) -> i32 {
    let now = super::state::now_secs();
    let master = super::state::read_desired(paths).is_some_and(|d| d.state == super::GroupState::Master);
    let lease = load(paths, now);
    let Some(l) = lease.filter(|_| master) else {
        outln!("muros-ha: no cached lease used for {} ({}): DHCP decides", iface, if master { "none valid" } else { "not MASTER" });
        return 3;
    };
    let object = format!("network.interface.{}", iface);
    match crate::ubus::client::call_timeout(paths.ubus_socket(), &object, "notify_proto", &l.notify_proto(now), std::time::Duration::from_secs(2)) {
        Ok(_) => {
            outln!("muros-ha: {} up from the cached lease {}/{} via {}; DHCP confirms", iface, l.address, l.prefix, l.gateway);
            // The WAN's device, as the hook that raised it recorded it.
            let dev = crate::fsutil::read(super::notify::inputs_cache(paths)).ok().and_then(|b| super::PlanInputs::parse(&b).ok()).and_then(|i| i.wan_device);
            if let Some(dev) = dev {
                if let Err(e) = announce(&dev, l.address) {
                    errln!("muros-ha: no gratuitous ARP for {} on {}: {}", l.address, dev, e);
                }
            }
            0
        }
        Err(e) => {
            errln!("muros-ha: netifd refused the cached lease for {}: {}", iface, e);
            1
        }
    }
}

/// One gratuitous ARP request (sender = target = `addr`) from `dev`'s MAC, the shared
/// one: switches between us and the ISP learn at once that the MAC moved to this
/// router's port, before any flow's first packet would teach them. (The ISP's ARP entry
/// for the address already names that MAC: it never changes.)
#[allow(unsafe_code)]
pub fn announce(dev: &str, addr: Ipv4Addr) -> Result<(), String> {
    use nix::libc;
    use nix::sys::socket::{sendto, socket, AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType, SockaddrLike};
    let text = crate::fsutil::read_to_string(format!("/sys/class/net/{}/address", dev)).map_err(|e| e.to_string())?;
    let mac = crate::model::parse_mac(text.trim_ascii())?;
    let ifindex = nix::net::if_::if_nametoindex(dev).map_err(|e| e.to_string())?;
    let mut ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: (libc::ETH_P_ARP as u16).to_be(),
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: [0; 8],
    };
    ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: `ll` is a fully initialised sockaddr_ll and the length given is its size.
    let to = unsafe { LinkAddr::from_raw((&ll as *const libc::sockaddr_ll).cast(), Some(std::mem::size_of::<libc::sockaddr_ll>() as u32)) }
        .ok_or("bad link address")?;
    // Protocol 0: this socket receives nothing; the kernel adds the Ethernet header.
    let fd = socket(AddressFamily::Packet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).map_err(|e| e.to_string())?;
    let ip = addr.octets();
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&mac);
    arp.extend_from_slice(&ip);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&ip);
    sendto(std::os::fd::AsRawFd::as_raw_fd(&fd), &arp, &to, MsgFlags::empty()).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> WanLease {
        WanLease::parse_file("198.51.100.23/24 198.51.100.1 1000 198.51.100.1 192.0.2.53").unwrap()
    }

    #[test]
    fn file_and_wire_round_trip_with_the_clock_difference_removed() {
        let l = lease();
        assert_eq!(l.line(l.valid_until), "198.51.100.23/24 198.51.100.1 1000 198.51.100.1 192.0.2.53");
        let wire = l.to_wire(400);
        assert_eq!(wire, "198.51.100.23/24 198.51.100.1 600 198.51.100.1 192.0.2.53");
        // the peer's clock reads 5000: the lease is good for its 600 s from then
        assert_eq!(WanLease::from_wire(&wire, 5000).unwrap().valid_until, 5600);
    }

    #[test]
    fn garbage_and_off_subnet_gateways_are_refused() {
        for bad in [
            "",
            "198.51.100.23 198.51.100.1 10",
            "198.51.100.23/33 198.51.100.1 10",
            "198.51.100.23/24 203.0.113.1 10",
            "198.51.100.23/24 198.51.100.23 10",
            "198.51.100.23/24 198.51.100.1",
            "198.51.100.23/24 198.51.100.1 x",
            "198.51.100.23/24 198.51.100.1 10 /etc/passwd",
            "0.0.0.0/24 0.0.0.1 10",
            "198.51.100.23/24 198.51.100.1 10 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5",
        ] {
            assert!(WanLease::parse_file(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn netifd_status_gives_the_lease_and_half_its_time() {
        let st: Value = serde_json::from_str(
            r#"{"up":true,"ipv4-address":[{"address":"198.51.100.23","mask":24}],
                "route":[{"target":"198.51.100.0","mask":24,"nexthop":"0.0.0.0"},{"target":"0.0.0.0","mask":0,"nexthop":"198.51.100.1"}],
                "dns-server":["198.51.100.1"],"data":{"leasetime":3600}}"#,
        )
        .unwrap();
        let l = WanLease::from_netifd(&st, 100).unwrap();
        assert_eq!(l.line(l.valid_until), "198.51.100.23/24 198.51.100.1 1900 198.51.100.1");
        let mut down = st.clone();
        down["up"] = Value::Bool(false);
        assert!(WanLease::from_netifd(&down, 100).is_none());
        let mut no_time = st;
        no_time["data"] = json!({});
        assert!(WanLease::from_netifd(&no_time, 100).is_none(), "no lease time, no cache");
    }

    #[test]
    fn notify_proto_is_what_netifd_proto_sh_sends() {
        let v = lease().notify_proto(400);
        assert_eq!(
            v.to_string(),
            r#"{"action":0,"data":{"leasetime":600,"muros_ha":"cached lease"},"dns":["198.51.100.1","192.0.2.53"],"ipaddr":[{"ipaddr":"198.51.100.23","mask":"24"}],"link-up":true,"routes":[{"gateway":"198.51.100.1","netmask":"0","target":"0.0.0.0"}]}"#
        );
    }

    #[test]
    fn store_writes_on_change_and_on_a_real_refresh_only() {
        let dir = std::env::temp_dir().join(format!("muros-lease-{}", std::process::id()));
        let paths = Paths::new(&dir);
        let mut l = lease();
        assert_eq!(store(&paths, &l).unwrap(), Some(None), "first lease");
        assert_eq!(load(&paths, 999), Some(l.clone()));
        assert_eq!(load(&paths, 1000), None, "expired");
        l.valid_until += 30;
        assert_eq!(store(&paths, &l).unwrap(), None);
        assert_eq!(load(&paths, 0).unwrap().valid_until, 1000, "30 s is no reason to write");
        l.valid_until += 60;
        assert_eq!(store(&paths, &l).unwrap(), None);
        assert_eq!(load(&paths, 0).unwrap().valid_until, 1090);
        let mut other = l.clone();
        other.address = "198.51.100.77".parse().unwrap();
        assert_eq!(store(&paths, &other).unwrap(), Some(Some(l)), "a new address is news");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
