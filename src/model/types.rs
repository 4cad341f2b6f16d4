//! The validated configuration: what render and failover consume.
//! Everything here is already checked; no `Option` means "maybe invalid".

use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// `status.role`: `"master"`, `"backup"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Backup,
}

impl Role {
    /// As UCI and `status` spell it: `master`, `backup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backup => "backup",
        }
    }
    /// MurOS's rule: the priority follows the role.
    pub fn default_priority(self) -> u8 {
        match self {
            Role::Master => 150,
            Role::Backup => 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Ah,
    Pass,
    None,
}

/// `status.vrrp_version`: the string `"2"` or `"3"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VrrpVersion {
    #[serde(rename = "2")]
    V2,
    #[serde(rename = "3")]
    V3,
}

/// `status.sync.mode`: `"multicast"`, `"unicast"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Multicast,
    Unicast,
}

/// The VRRP secret. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The clear text, for the one place that must write it (keepalived.conf, mode 0600).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An address with its prefix length, e.g. `192.0.2.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> IpNet {
        match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                IpNet { addr: IpAddr::V4(Ipv4Addr::from(bits & mask)), prefix: self.prefix }
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                IpNet { addr: IpAddr::V6(std::net::Ipv6Addr::from(bits & mask)), prefix: self.prefix }
            }
        }
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && IpNet { addr: ip, prefix: self.prefix }.network() == self.network()
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A logical OpenWrt interface resolved through `/etc/config/network`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Logical name (`lan`).
    pub logical: String,
    /// Kernel device (`br-lan`, `eth0.2`).
    pub device: String,
    /// The router's own static addresses on it (from `ipaddr`/`ip6addr`), if any.
    pub addresses: Vec<IpNet>,
}

/// One VIP = one VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// Instance name used in keepalived.conf and notify lines (`lan`, `guest`…): derived
    /// from the UCI section name or the logical interface.
    pub name: String,
    pub interface: Interface,
    pub address: IpNet,
    pub vrid: u8,
    /// Peer's address on this interface, required for unicast VRRP.
    pub peer_address: Option<IpAddr>,
    /// Only for a static WAN VIP (`config wan` with `proto 'static'`): the ISP's gateway.
    /// The master routes by default via it from the VIP (keepalived `virtual_routes`) and
    /// NATs LAN traffic to the VIP (fw4 srcnat snippet).
    pub gateway: Option<Ipv4Addr>,
}

/// The shared-MAC macvlan WAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wan {
    /// Logical interface driven through netifd (`network.interface.<logical>`).
    pub logical: String,
    /// Physical parent device of the macvlan; tracked by keepalived.
    pub parent: String,
    /// macvlan device name (from the network config, default `<logical>`... see model).
    pub device: String,
    pub macaddr: [u8; 6],
}

impl Wan {
    pub fn mac_string(&self) -> String {
        let m = self.macaddr;
        format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// How a health check probes its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeMethod {
    /// ICMP (or ICMPv6) echo request, answered by an echo reply from the target.
    Icmp,
    /// A TCP connection to this port completes (a refusal counts as a failure).
    Tcp(u16),
}

/// `config health`: an upstream check run by the daemon while this router is MASTER
/// (see `daemon::health`). All sections must pass for the upstream to count as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The UCI section name (`upstream`), as `status` and history name it.
    pub name: String,
    /// A round passes when any target answers.
    pub targets: Vec<IpAddr>,
    pub method: ProbeMethod,
    /// Seconds between rounds.
    pub interval_s: u32,
    /// Failed rounds in a row before the check is down.
    pub fall: u32,
    /// Passed rounds in a row before a down check is up again.
    pub rise: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLink {
    pub interface: Interface,
    pub mode: SyncMode,
    pub port: u16,
    /// 225.0.0.50 unless configured.
    pub multicast_group: Ipv4Addr,
    /// The router's own IPv4 address on the sync link (conntrackd binds to it).
    pub local_address: Option<Ipv4Addr>,
    pub peer_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub enabled: bool,
    pub role: Role,
    /// Priority from the role or the explicit override, before maintenance.
    pub priority: u8,
    /// Maintenance mode: this node advertises [`Config::MAINTENANCE_PRIORITY`].
    pub maintenance: bool,
    pub auth_type: AuthType,
    pub password: Secret,
    pub vrrp_version: VrrpVersion,
    /// Advertisement interval in milliseconds (v2: whole seconds; v3: 10 ms steps).
    pub advert_ms: u32,
    pub preempt: bool,
    /// `option preempt_delay`: seconds a returning higher-priority router waits before
    /// it takes the master back (keepalived `preempt_delay`; 0 = at once).
    pub preempt_delay_s: u32,
    pub sync: SyncLink,
    pub services: Vec<String>,
    /// `list vpn` (issue 18): logical network interfaces (a WireGuard tunnel whose keys
    /// both routers share) brought up on MASTER and down otherwise, like the WAN.
    pub vpns: Vec<String>,
    /// The UDP `listen_port`s of the `list vpn` interfaces (from `/etc/config/network`):
    /// with a static WAN their packets leave from the WAN VIP (`render::firewall`).
    pub vpn_ports: Vec<u16>,
    pub vips: Vec<Vip>,
    pub wan: Option<Wan>,
    /// keepalived `router_id` (hostname from `/etc/config/system`, else `muros-<role>`).
    pub router_id: String,
    /// `option backup_route` (default on): while not MASTER, reach the Internet through
    /// the peer (default route and resolver via the LAN VIP); see `failover::plan`.
    pub backup_route: bool,
    /// `config health` sections (issue 17): upstream checks; empty = link state only.
    pub health: Vec<HealthCheck>,
}

impl Config {
    /// Low enough that any peer wins, high enough to stay a valid backup.
    pub const MAINTENANCE_PRIORITY: u8 = 1;

    /// The priority keepalived must advertise now.
    pub fn effective_priority(&self) -> u8 {
        if self.maintenance {
            Self::MAINTENANCE_PRIORITY
        } else {
            self.priority
        }
    }

    /// The static WAN VIP (`config wan` with `proto 'static'`), if there is one: the
    /// one instance with a gateway.
    pub fn static_wan(&self) -> Option<&Vip> {
        self.vips.iter().find(|v| v.gateway.is_some())
    }

    /// The name of the sync group in keepalived.conf.
    pub const GROUP_NAME: &'static str = "muros_ha";
}

impl Config {
    /// What both routers of a pair must agree on, as `key=value` words in a fixed order
    /// (issue 18 §1): VRRP version, advert interval, authentication and a digest of the
    /// password (never the password), each instance's name, VRID and VIP. Sent to the
    /// peer in the heartbeat and compared with [`ha_mismatch`].
    pub fn ha_summary(&self) -> String {
        use blake2::{Blake2s256, Digest};
        let auth = match self.auth_type {
            AuthType::Ah => "ah",
            AuthType::Pass => "pass",
            AuthType::None => "none",
        };
        let version = match self.vrrp_version {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        };
        let mut s = format!("version={} advert_ms={} auth={}", version, self.advert_ms, auth);
        if self.auth_type != AuthType::None {
            let d = Blake2s256::new().chain_update(b"muros-ha vrrp password\0").chain_update(self.password.expose().as_bytes()).finalize();
            s.push_str(" password_digest=");
            for b in &d[..6] {
                s.push_str(&format!("{:02x}", b));
            }
        }
        for v in &self.vips {
            s.push_str(&format!(" vip.{}={}/{}", v.name, v.vrid, v.address));
        }
        s
    }
}

/// The differences between our [`Config::ha_summary`] and the peer's, in words
/// (`None` when they agree). Keys only one side has count too (a VIP missing on one).
pub fn ha_mismatch(local: &str, peer: &str) -> Option<String> {
    let split = |s: &str| -> Vec<(String, String)> { s.split_ascii_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    let (mine, theirs) = (split(local), split(peer));
    let find = |list: &[(String, String)], k: &str| list.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let mut keys: Vec<&str> = mine.iter().map(|(k, _)| k.as_str()).collect();
    for (k, _) in &theirs {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let diffs: Vec<String> = keys
        .into_iter()
        .filter_map(|k| {
            let (a, b) = (find(&mine, k), find(&theirs, k));
            // Not even the digests go into an alert (status, log): only that they differ.
            if k == "password_digest" {
                return (a != b).then(|| "the VRRP passwords differ".to_string());
            }
            (a != b).then(|| format!("{}: {} here, {} on the peer", k, a.as_deref().unwrap_or("none"), b.as_deref().unwrap_or("none")))
        })
        .collect();
    (!diffs.is_empty()).then(|| diffs.join("; "))
}
