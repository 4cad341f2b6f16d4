//! `keepalived.conf` for keepalived 2.2.x.
//!
//! Layout: `global_defs`, then the `muros_ha` sync group (when it has at least two
//! members), then one `vrrp_instance` per VIP in the order of the config.
//!
//! Facts from keepalived 2.2.7 (`keepalived -t`, exit 5 on any of these warnings) that
//! shape this file:
//! - a `vrrp_sync_group` with a single member is rejected ("only 1 virtual router"),
//!   so one VIP gets the notify line on its instance instead;
//! - `state MASTER` with `auth_type AH` is "incompatible" and cleared, and `nopreempt`
//!   with `state MASTER` likewise: both need `state BACKUP`;
//! - VRRPv3 (and every IPv6 instance, which keepalived always runs as v3) rejects an
//!   `authentication` block; v2 rejects a fractional `advert_int`;
//! - an `auth_pass` longer than 8 characters is truncated with a warning;
//! - a notify script run as root needs `enable_script_security` + `script_user root`.
//!
//! And from running two daemons on these files (tests/render_vrrp_pair.rs): the notify
//! command gets `GROUP muros_ha STATE 0` (a group's priority is always 0) or `INSTANCE
//! lan STATE <effective priority>`; keepalived's own shutdown sends STATE `STOP` to the
//! group as well as to a lone instance; the FIFO carries `GROUP "muros_ha" MASTER 0`
//! lines (name quoted) plus one line per instance; AH-authenticated adverts travel as IP
//! protocol 51, not 112 (see [`super::firewall`]).

use super::{own_address_like, RenderContext, Text};
use crate::model::{AuthType, Config, Role, SyncMode, Vip, VrrpVersion};

/// Delay (s) of the second GARP/NA burst after becoming master. The first burst goes
/// out at once; a second one a second later catches switches that were still flushing
/// their MAC tables, without keepalived's default 5 s wait.
const GARP_MASTER_DELAY_S: u32 = 1;
/// Re-announce the VIPs while master. Keeps switch MAC caches (often 300 s) pointing at
/// the master while nothing moves, and bounds how long LAN clients stay on the wrong
/// router after a split brain ends (pitfall 3): the surviving master makes no
/// transition then, so it sends no GARP of its own, and clients that followed the
/// other router's announcement keep its MAC until this refresh (was 60 s: the lab's
/// DHCP client lost its flow for that long). One ARP per VIP every 5 s is nothing.
const GARP_MASTER_REFRESH_S: u32 = 5;

/// Metric of the static WAN's default route: below anything netifd installs for a WAN
/// with its own gateway (OpenWrt's default metric is 0 only when none is set; README
/// asks for none on the WAN interface or a metric above this).
const STATIC_WAN_METRIC: u32 = 1;

/// The whole keepalived.conf.
pub fn render(cfg: &Config, ctx: &RenderContext<'_>) -> String {
    let mut t = Text::new();
    let members = group_members(cfg);
    let notify = notify_command(ctx);

    global_defs(&mut t, cfg, ctx);
    fence(&mut t, ctx);
    boost(&mut t, ctx);
    if !cfg.health.is_empty() {
        upstream(&mut t, ctx);
    }

    if members.len() >= 2 {
        t.blank();
        t.line("# Every VIP fails over together; the notify hook runs once per group transition.");
        t.open(format!("vrrp_sync_group {}", Config::GROUP_NAME));
        t.open("group");
        for vip in &members {
            t.line(&vip.name);
        }
        t.close();
        t.line(format!("notify {}", quote(&notify)));
        t.line("# The handover boost (and the upstream demotion) move every member's priority together.");
        t.line("sync_group_tracking_weight");
        t.close();
    }

    for vip in &cfg.vips {
        t.blank();
        let on_sync_link = is_on_sync_link(cfg, vip);
        // keepalived 2.2.7 rejects a one-member sync group, so the lone member carries
        // the notify line itself.
        let carries_notify = members.len() == 1 && !on_sync_link;
        instance(&mut t, cfg, vip, on_sync_link, carries_notify.then_some(notify.as_str()));
    }
    t.finish()
}

fn global_defs(t: &mut Text, cfg: &Config, ctx: &RenderContext<'_>) {
    t.open("global_defs");
    t.line(format!("router_id {}", cfg.router_id));
    t.line("# The notify hook runs as root; keepalived refuses that without script security.");
    t.line("enable_script_security");
    t.line("script_user root");
    t.line("# Every group and instance transition, one line each and in order, for the muros-ha daemon.");
    t.line(format!("notify_fifo {}", quote(&ctx.paths.notify_fifo().display().to_string())));
    if cfg.vrrp_version == VrrpVersion::V3 {
        t.line("vrrp_version 3");
    }
    t.line(format!("vrrp_garp_master_delay {}", GARP_MASTER_DELAY_S));
    t.line(format!("vrrp_garp_master_refresh {}", GARP_MASTER_REFRESH_S));
    t.line("# After a split brain the loser advertises once more, so the winner re-sends GARPs.");
    t.line("vrrp_higher_prio_send_advert true");
    t.close();
}

/// Name of the `track_file` every instance follows.
pub const FENCE_TRACK: &str = "muros_ha_fence";

/// Name of the `track_file` that lifts a router taking over a planned handover.
pub const BOOST_TRACK: &str = "muros_ha_boost";

/// The handover boost (src/peer/link/heartbeat.rs): while this router takes over a
/// planned handover it holds 254 minus its priority, so it advertises 254 and the
/// peer's priority-0 resignation makes it master after a skew time of ~1/256 of the
/// advert interval instead of (256 - priority)/256 of it (39 ms at priority 100 and
/// 0.1 s). The daemon writes 0 again once it is MASTER, or after 10 s.
fn boost(t: &mut Text, ctx: &RenderContext<'_>) {
    let c = "# Handover boost: muros-ha writes 254 minus the priority while this router takes over a planned handover, 0 otherwise.";
    track_file(t, c, BOOST_TRACK, &ctx.paths.boost_file(), 1);
}

/// Name of the `track_file` that demotes this router after an upstream failure.
pub const UPSTREAM_TRACK: &str = "muros_ha_upstream";
/// 1 × -253 added to any priority 1..254 clamps it to 1 (keepalived: a result of -253
/// or more is added, the effective priority kept within 1..254; below -253 is FAULT).
const UPSTREAM_WEIGHT: i32 = -253;

/// The upstream demotion (src/daemon/health.rs): 1 while this router's upstream failed,
/// so that it advertises priority 1 and never preempts the peer back; it can still
/// take over if the peer fails. The move itself is a yield through the fence file.
fn upstream(t: &mut Text, ctx: &RenderContext<'_>) {
    let c = "# Upstream demotion: muros-ha writes 1 after this router's upstream checks failed (priority 1), 0 when they may pass again.";
    track_file(t, c, UPSTREAM_TRACK, &ctx.paths.upstream_file(), UPSTREAM_WEIGHT);
}

/// The fence: the daemon writes 1 here when this router must yield in a certain split
/// brain (src/daemon/watch.rs); keepalived then puts every instance into FAULT at once.
fn fence(t: &mut Text, ctx: &RenderContext<'_>) {
    let c = "# Split-brain fence: muros-ha writes 1 to release the VIPs (FAULT), 0 to let VRRP decide.";
    track_file(t, c, FENCE_TRACK, &ctx.paths.fence_file(), 0);
}

/// One `track_file` block the daemon drives. `init_file 0` creates the file with 0 when
/// missing (boot: /var/run is a tmpfs) and never overwrites what a running daemon wrote.
fn track_file(t: &mut Text, comment: &str, name: &str, file: &std::path::Path, weight: i32) {
    t.blank();
    t.line(comment);
    t.open(format!("track_file {}", name));
    t.line(format!("file {}", quote(&file.display().to_string())));
    t.line(format!("weight {}", weight));
    t.line("init_file 0");
    t.close();
}

fn instance(t: &mut Text, cfg: &Config, vip: &Vip, on_sync_link: bool, notify: Option<&str>) {
    let v6 = vip.address.is_ipv6();
    // keepalived runs IPv6 instances as VRRPv3 whatever vrrp_version says.
    let v3 = v6 || cfg.vrrp_version == VrrpVersion::V3;
    let auth = if v3 { AuthType::None } else { cfg.auth_type };

    if on_sync_link {
        t.line("# On the sync link: kept out of the sync group, so cutting that link cannot fault it.");
    }
    t.open(format!("vrrp_instance {}", vip.name));
    t.line(format!("state {}", initial_state(cfg, auth)));
    t.line(format!("interface {}", vip.interface.device));
    t.line(format!("virtual_router_id {}", vip.vrid));
    t.line(format!("priority {}", cfg.effective_priority()));
    t.line(format!("advert_int {}", advert_int(cfg.advert_ms, v3)));
    if !cfg.preempt {
        t.line("nopreempt");
    } else if cfg.preempt_delay_s > 0 {
        t.line("# A returning master waits this long (its conntrack cache fills) before taking over.");
        t.line(format!("preempt_delay {}", cfg.preempt_delay_s));
    }
    if auth != AuthType::None {
        t.open("authentication");
        t.line(format!("auth_type {}", if auth == AuthType::Ah { "AH" } else { "PASS" }));
        // Quoted so that spaces, `#` and `!` stay part of the secret.
        t.line(format!("auth_pass {}", quote(cfg.password.expose())));
        t.close();
    }
    if cfg.sync.mode == SyncMode::Unicast {
        unicast(t, vip);
    }
    t.open("virtual_ipaddress");
    t.line(format!("{} dev {}", vip.address, vip.interface.device));
    t.close();
    if let Some(gw) = vip.gateway {
        // The static WAN: the master's default route goes from the VIP, so the router's
        // own traffic and the NATed flows (fw4 srcnat snippet) keep the public address.
        t.line("# Static WAN: default route from the VIP while MASTER (metric below netifd's own).");
        t.open("virtual_routes");
        t.line(format!("src {} to 0.0.0.0/0 via {} dev {} metric {}", vip.address.addr, gw, vip.interface.device, STATIC_WAN_METRIC));
        t.close();
    }
    if let Some(wan) = &cfg.wan {
        if wan.parent != vip.interface.device {
            t.line("# WAN cable out: FAULT, so the peer takes over.");
            t.open("track_interface");
            t.line(&wan.parent);
            t.close();
        }
    }
    t.open("track_file");
    t.line(FENCE_TRACK);
    t.line(BOOST_TRACK);
    if !cfg.health.is_empty() {
        t.line(UPSTREAM_TRACK);
    }
    t.close();
    if let Some(cmd) = notify {
        t.line(format!("notify {}", quote(cmd)));
    }
    t.close();
}

/// Unicast adverts to the peer's address on this interface, from ours.
fn unicast(t: &mut Text, vip: &Vip) {
    let Some(peer) = vip.peer_address else {
        t.line("# No peer_address for this VIP: adverts stay multicast.");
        return;
    };
    match own_address_like(&vip.interface.addresses, peer, vip.address.addr) {
        Some(own) => t.line(format!("unicast_src_ip {}", own)),
        None => t.line("# No own address of this family on the interface: keepalived picks the primary one."),
    }
    t.open("unicast_peer");
    t.line(peer.to_string());
    t.close();
}

/// `BACKUP` unless this node is the preempting master. nopreempt only works from
/// BACKUP, keepalived clears `state MASTER` when AH authentication is used, and a node
/// in maintenance must not grab the VIPs for the moment it takes to hear the peer.
fn initial_state(cfg: &Config, auth: AuthType) -> &'static str {
    // keepalived applies preempt_delay only to an instance that starts as BACKUP.
    if cfg.role == Role::Master && cfg.preempt && cfg.preempt_delay_s == 0 && auth != AuthType::Ah && !cfg.maintenance {
        "MASTER"
    } else {
        "BACKUP"
    }
}

/// VIPs whose instances belong to the sync group: all but those on the sync link,
/// because losing that link must not take the LAN VIPs down with it.
fn group_members(cfg: &Config) -> Vec<&Vip> {
    cfg.vips.iter().filter(|v| !is_on_sync_link(cfg, v)).collect()
}

fn is_on_sync_link(cfg: &Config, vip: &Vip) -> bool {
    vip.interface.device == cfg.sync.interface.device
}

/// The notify command; keepalived appends `TYPE NAME STATE PRIO`.
pub fn notify_command(ctx: &RenderContext<'_>) -> String {
    if ctx.paths.is_system_root() {
        format!("{} notify", ctx.hook_binary)
    } else {
        format!("{} notify --root {}", ctx.hook_binary, ctx.paths.root().display())
    }
}

/// `advert_int` in seconds: whole seconds for v2 (rounded up, at least 1), decimal
/// seconds for v3 (`0.1`, `0.01`, `1.5`).
pub fn advert_int(ms: u32, v3: bool) -> String {
    if !v3 {
        return ms.div_ceil(1000).max(1).to_string();
    }
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{:03}", frac);
    format!("{}.{}", whole, frac.trim_end_matches('0'))
}

/// keepalived's quoted string. It has no escapes, so a `"` cannot be expressed; the
/// model refuses such values, and here one would be dropped rather than end the string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', ""))
}

