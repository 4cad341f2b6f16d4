//! Raw IPPROTO_VRRP sockets, one per VIP device and family: a copy of every VRRP
//! packet that reaches this host on that device (after the firewall, which accepts
//! them: see the fw4 snippet), for [`super::adverts`]. Reading them costs a wake-up
//! per advert and no process: the counter watch this replaces forked `nft` every
//! second.
//!
//! keepalived joins 224.0.0.18 / ff02::12 on its interfaces; for IPv4 we join too (by
//! our own address on the device, when it has one), so a fenced node whose keepalived
//! is in FAULT still hears the peer.

use super::adverts::{self, Advert, IPPROTO_VRRP};
use crate::model::Config;
use nix::sys::socket::{self, sockopt, MsgFlags, SockaddrIn6};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Largest VRRP packet we care about (255 IPv6 addresses would be 4 KB; ours carry one).
const BUF: usize = 2048;
/// Packets read per wake-up, so a flood cannot hold the loop.
const BURST: usize = 64;

pub struct Socket {
    pub device: String,
    v6: bool,
    fd: OwnedFd,
}

/// Open a socket per (device, family) of `cfg`'s VIPs. Errors are returned beside the
/// sockets that did open (the watch is then partial, and says so in the log).
pub fn open(cfg: &Config) -> (Vec<Socket>, Vec<String>) {
    let wanted: BTreeSet<(String, bool)> = cfg.vips.iter().map(|v| (v.interface.device.clone(), v.address.addr.is_ipv6())).collect();
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for (device, v6) in wanted {
        let own = cfg.vips.iter().filter(|v| v.interface.device == device).flat_map(|v| &v.interface.addresses).find_map(|n| match n.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        });
        match open_one(&device, v6, own) {
            Ok(fd) => out.push(Socket { device, v6, fd }),
            Err(e) => errors.push(format!("VRRP socket on {} ({}): {}", device, if v6 { "IPv6" } else { "IPv4" }, e)),
        }
    }
    (out, errors)
}

#[allow(unsafe_code)]
fn raw_socket(v6: bool) -> std::io::Result<OwnedFd> {
    let family = if v6 { nix::libc::AF_INET6 } else { nix::libc::AF_INET };
    // nix's `SockProtocol` has no IPPROTO_VRRP, so the one raw call is libc's.
    // SAFETY: socket(2) takes plain integers; a non-negative result is a new descriptor
    // that nothing else owns, which OwnedFd then closes exactly once.
    let fd = unsafe { nix::libc::socket(family, nix::libc::SOCK_RAW | nix::libc::SOCK_NONBLOCK | nix::libc::SOCK_CLOEXEC, IPPROTO_VRRP) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_one(device: &str, v6: bool, own: Option<Ipv4Addr>) -> std::io::Result<OwnedFd> {
    let fd = raw_socket(v6)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))?;
    if let (false, Some(own)) = (v6, own) {
        let req = socket::IpMembershipRequest::new(VRRP_GROUP_V4, Some(own));
        if let Err(e) = socket::setsockopt(&fd, sockopt::IpAddMembership, &req) {
            // keepalived's own membership still brings the adverts while it runs.
            log::debug!("join 224.0.0.18 on {}: {}", device, e);
        }
    }
    Ok(fd)
}

impl Socket {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Read what is queued (at most [`BURST`] packets), decoded; packets that are not
    /// VRRP adverts are skipped.
    pub fn drain(&self) -> Vec<Advert> {
        let mut buf = [0u8; BUF];
        let mut out = Vec::new();
        for _ in 0..BURST {
            let ad = if self.v6 {
                match socket::recvfrom::<SockaddrIn6>(self.fd.as_raw_fd(), &mut buf) {
                    Ok((n, Some(from))) => adverts::parse_ipv6(&buf[..n], from.ip()),
                    Ok((_, None)) => None,
                    Err(_) => break,
                }
            } else {
                match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => adverts::parse_ipv4(&buf[..n]),
                    Err(_) => break,
                }
            };
            out.extend(ad);
        }
        out
    }
}

/// Linux's IPV6_FREEBIND (not in nix): send from an address that is not ours.
const IPV6_FREEBIND: nix::libc::c_int = 78;

#[allow(unsafe_code)]
fn set_ipv6_freebind(fd: &OwnedFd) -> std::io::Result<()> {
    let one: nix::libc::c_int = 1;
    // SAFETY: setsockopt(2) reads `size_of::<c_int>()` bytes from `&one`, a live local;
    // `fd` is an open socket we own.
    let rc = unsafe {
        nix::libc::setsockopt(
            fd.as_raw_fd(),
            nix::libc::IPPROTO_IPV6,
            IPV6_FREEBIND,
            (&one as *const nix::libc::c_int).cast(),
            std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The peer's last word as an IPv6 router on `device`: a router advertisement with
/// router lifetime 0 from the peer's link-local address `peer`, to all nodes.
///
/// SLAAC clients route through the link-local address of the router whose
/// advertisements they heard. A master that loses power cannot withdraw its own, and a
/// Linux client keeps using it until the advertised router lifetime runs out (measured
/// 28 s with a 30 s lifetime; odhcpd's default is 30 min). The new master says it for
/// the old one, so the client's default route moves at once to the router whose own
/// advertisements (its RA daemon starts with the MASTER plan) it hears next. The
/// address comes from the peer's VRRPv3 adverts, which carry its link-local address.
pub fn withdraw_peer_router(device: &str, peer: std::net::Ipv6Addr) -> std::io::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, SockaddrIn6};
    let index = nix::net::if_::if_nametoindex(device)?;
    let fd = socket::socket(AddressFamily::Inet6, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::IcmpV6)?;
    set_ipv6_freebind(&fd)?;
    // RFC 4861: a router advertisement travels with hop limit 255, or it is ignored.
    socket::setsockopt(&fd, sockopt::Ipv6MulticastHops, &255)?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(std::net::SocketAddrV6::new(peer, 0, 0, index)))?;
    // type 134, code 0, checksum (the kernel fills it in), cur hop limit, flags,
    // router lifetime 0, reachable time, retrans timer.
    let ra = [134u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let all_nodes = SockaddrIn6::from(std::net::SocketAddrV6::new(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), 0, 0, index));
    socket::sendto(fd.as_raw_fd(), &ra, &all_nodes, MsgFlags::empty())?;
    Ok(())
}
