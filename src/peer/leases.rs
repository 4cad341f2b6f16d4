//! The DHCP lease file, pure part: where this node keeps it, and which lines received
//! from the peer may be written there.
//!
//! The peer is trusted with lease *facts*, never with file contents: dnsmasq reads this
//! file back at start and puts each hostname into DNS, so a line is written only when
//! every field has the exact shape dnsmasq itself writes (`dnsmasq/src/lease.c`):
//!
//! ```text
//! <expiry> <MAC> <IPv4> <hostname|*> <client-id|*>          one DHCPv4 lease
//! duid <server DUID>                                        before DHCPv6 leases
//! <expiry> [T]<IAID> <IPv6> <hostname|*> <client DUID|*>    one DHCPv6 lease
//! ```
//!
//! Anything else (a hostname with a dot, blank or newline, a sixth field, a path) is
//! dropped and counted, never repaired.

use std::net::{Ipv4Addr, Ipv6Addr};

/// dnsmasq's default, and where OpenWrt's init script puts it when `leasefile` is unset.
pub const DEFAULT_PATH: &str = "/tmp/dhcp.leases";

/// The lease file path from this node's own `leasefile` (None = unset): it must be a
/// plain file directly in `/tmp`, the tmpfs directory the link watches. Anything else
/// (another directory, `..`, a relative path) is refused with the reason.
pub fn checked_path(leasefile: Option<&str>) -> Result<&str, String> {
    let p = leasefile.unwrap_or(DEFAULT_PATH);
    let ok = p.strip_prefix("/tmp/").is_some_and(|name| !name.is_empty() && !name.contains('/') && name != "." && name != "..");
    if ok {
        Ok(p)
    } else {
        // This node's own config, not the peer's text. No escape_debug: its Unicode
        // tables cost kilobytes (see fsutil::open).
        Err(format!("dhcp leasefile '{}' is not a file directly in /tmp; leases from the peer are not written", p))
    }
}

/// The lines of `text` that are well-formed leases (each with its newline), and how
/// many lines were dropped.
pub fn filter(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut dropped = 0;
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        if valid_line(line) {
            out.push_str(line);
            out.push('\n');
        } else {
            dropped += 1;
        }
    }
    (out, dropped)
}

/// One line without its newline.
pub fn valid_line(line: &str) -> bool {
    let f: Vec<&str> = line.split(' ').collect();
    match f.as_slice() {
        ["duid", id] => hex_octets(id, 1, 130),
        [expiry, mac, ip, host, id] => {
            let base = decimal(expiry, 20) && hostname(host) && (*id == "*" || hex_octets(id, 1, 255));
            let v4 = hex_octets(mac, 6, 6) && ip.parse::<Ipv4Addr>().is_ok();
            let v6 = decimal(mac.strip_prefix('T').unwrap_or(mac), 10) && ip.contains(':') && ip.parse::<Ipv6Addr>().is_ok();
            base && (v4 || v6)
        }
        _ => false,
    }
}

fn decimal(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
}

/// `*` or one DNS label: letters, digits and `-`, at most 63.
fn hostname(s: &str) -> bool {
    s == "*" || (!s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `min..=max` two-digit hex octets separated by `:`.
fn hex_octets(s: &str, min: usize, max: usize) -> bool {
    let mut n = 0;
    for o in s.split(':') {
        if o.len() != 2 || !o.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        n += 1;
    }
    (min..=max).contains(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "1795700000 02:00:00:00:00:09 192.0.2.50 laptop 01:02:00:00:00:00:09";

    #[test]
    fn lines_as_dnsmasq_writes_them_pass() {
        for l in [
            GOOD,
            "0 aa:BB:cc:00:11:22 10.0.0.1 * *",
            "1795700000 02:00:00:00:00:09 192.0.2.51 printer-2 *",
            "duid 00:01:00:01:2c:5e:8f:1a:52:54:00:12:34:56",
            "1795700000 1234567 2001:db8::50 laptop 00:01:00:01:2c:5e:8f:1a:52:54:00:12:34:57",
            "1795700000 T42 fd00::7 * *",
        ] {
            assert!(valid_line(l), "{}", l);
        }
    }

    /// A forged hostname is the way into DNS and into dnsmasq's own file parser.
    #[test]
    fn forged_hostnames_and_fields_are_refused() {
        for l in [
            "1795700000 02:00:00:00:00:09 192.0.2.50 evil.example.com *",
            "1795700000 02:00:00:00:00:09 192.0.2.50 two words *",
            "1795700000 02:00:00:00:00:09 192.0.2.50 a\rb *",
            "1795700000 02:00:00:00:00:09 192.0.2.50 ../../etc *",
            "1795700000 02:00:00:00:00:09 192.0.2.50 name_underscore *",
            &format!("1795700000 02:00:00:00:00:09 192.0.2.50 {} *", "a".repeat(64)),
            "1795700000 02:00:00:00:00:09 192.0.2.50 laptop",
            "1795700000 02:00:00:00:00:09 192.0.2.50 laptop * extra",
            "1795700000  02:00:00:00:00:09 192.0.2.50 laptop *",
            "17957000x0 02:00:00:00:00:09 192.0.2.50 laptop *",
            "1795700000 02:00:00:00:00 192.0.2.50 laptop *",
            "1795700000 02:00:00:00:00:0g 192.0.2.50 laptop *",
            "1795700000 02:00:00:00:00:09 192.0.2.500 laptop *",
            "1795700000 02:00:00:00:00:09 192.0.02.50 laptop *",
            "1795700000 02:00:00:00:00:09 2001:db8::1 laptop *",
            "1795700000 02:00:00:00:00:09 192.0.2.50 laptop 1:2",
            "1795700000 12 192.0.2.50 laptop *",
            "duid /etc/passwd",
            "duid",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB root@evil",
            "",
        ] {
            assert!(!valid_line(l), "{:?}", l);
        }
    }

    #[test]
    fn filter_keeps_good_lines_and_counts_the_rest() {
        let text = format!("{GOOD}\n1795700000 02:00:00:00:00:0a 192.0.2.51 x.evil *\naddress=/bank/6.6.6.6\n\n0 aa:bb:cc:00:11:22 10.0.0.1 * *");
        let (out, dropped) = filter(&text);
        assert_eq!(out, format!("{GOOD}\n0 aa:bb:cc:00:11:22 10.0.0.1 * *\n"));
        assert_eq!(dropped, 2);
        assert_eq!(filter(""), (String::new(), 0));
    }

    #[test]
    fn only_a_plain_file_directly_in_tmp_is_a_lease_path() {
        assert_eq!(checked_path(None), Ok("/tmp/dhcp.leases"));
        assert_eq!(checked_path(Some("/tmp/odhcpd.leases")), Ok("/tmp/odhcpd.leases"));
        for bad in ["/etc/dropbear/authorized_keys", "/tmp/../etc/shadow", "/tmp/", "/tmp/..", "/tmp/sub/x", "tmp/x", "/tmpx/y", "/var/dhcp.leases"] {
            let e = checked_path(Some(bad)).unwrap_err();
            assert!(e.contains("not a file directly in /tmp"), "{}", e);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let s: String = (0..80)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [' ', ':', '\n', '.', '*', 'a', 'f', '0', '9', 'T', 'é', '\0'][(seed % 12) as usize]
                })
                .collect();
            let (out, _) = filter(&s);
            assert!(out.lines().all(valid_line));
        }
    }
}
