//! The peer link's limits, against real daemons in network namespaces (real ubusd each):
//! how long an unfinished handshake or a silent session may hold a connection, how
//! often a flood from the peer's address may displace a pending handshake, that a
//! handover is decided only by the answer to the question asked, and that a slow
//! service reload on one router never makes the other declare it dead.
//! Root needed: fails under CI=true without it, skips otherwise.

mod peer_support;

use muros_ha::model::peer::{base64_encode, decode_key};
use muros_ha::peer::message::Message;
use muros_ha::peer::session::generate_keypair;
use peer_support::fake_peer::{FakePeer, PORT};
use peer_support::*;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn rejected(p: &Value, what: &str) -> u64 {
    p["rx_rejected"][what].as_u64().unwrap_or(0)
}

/// Router A's daemon alone, pinning a key pair the test holds as router B.
fn a_with_fake_b(tag: &str) -> Option<(Lab, [u8; 32], [u8; 32])> {
    let mut lab = Lab::new(tag)?;
    lab.a.start();
    let a_pub = decode_key(&lab.a.local_key()).unwrap();
    let (b_priv, b_pub) = generate_keypair().unwrap();
    lab.a.set_global("peer_key", &base64_encode(&b_pub));
    assert!(lab.a.wait(Duration::from_secs(3), |r| r.peer()["state"] == "unreachable"), "A picks up peer_key: {}", lab.a.peer());
    Some((lab, *b_priv, a_pub))
}

/// Read until A closes the connection (EOF or reset); how long that took, at most `limit`.
fn until_closed(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < limit {
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

#[test]
fn unfinished_handshakes_and_silent_sessions_are_dropped_in_time_and_a_connection_flood_is_throttled() {
    let Some((mut lab, b_priv, a_pub)) = a_with_fake_b("l") else { return };
    let a = &lab.a;
    in_netns(&lab.b.ns.clone(), || {
        // 1. Connected from the peer's address, silent: dropped after the 2 s bound.
        let mut s = TcpStream::connect((A_IP, PORT)).expect("A listens");
        let took = until_closed(&mut s, Duration::from_secs(6)).expect("A drops a silent connection");
        eprintln!("silent connection dropped after {:?}", took);
        assert!(took >= Duration::from_millis(1500) && took < Duration::from_millis(2800), "handshake bound: {:?}", took);

        // 2. A first message trickled one byte every 200 ms: the bound is for the whole
        //    handshake, not per read.
        let (_ini, m1) = fake_peer::msg1(&b_priv, &a_pub);
        let wire = muros_ha::peer::frame::encode(&m1);
        let mut s = TcpStream::connect((A_IP, PORT)).unwrap();
        let t0 = Instant::now();
        let mut closed = None;
        for byte in wire.iter().take(40) {
            let _ = s.write_all(&[*byte]);
            if let Some(d) = until_closed(&mut s, Duration::from_millis(200)) {
                closed = Some(t0.elapsed() - Duration::from_millis(200) + d);
                break;
            }
        }
        let took = closed.expect("A drops a trickling handshake");
        eprintln!("trickled handshake dropped after {:?}", took);
        assert!(took < Duration::from_millis(2800), "{:?}", took);

        // 3. A flood of 40 connections from the peer's address within a few ms: at most
        //    four displace the pending handshake, the rest are refused and counted.
        let before = rejected(&a.peer(), "throttled");
        let flood: Vec<TcpStream> = (0..40).filter_map(|_| TcpStream::connect((A_IP, PORT)).ok()).collect();
        assert_eq!(flood.len(), 40);
        assert!(a.wait(Duration::from_secs(3), |r| rejected(&r.peer(), "throttled") >= before + 30), "flood throttled: {}", a.peer());
        eprintln!("40 connections at once: {} throttled", rejected(&a.peer(), "throttled") - before);
        drop(flood);

        // 4. The real peer, a second later, gets in; then falls silent: A ends the
        //    session after the 3 s dead-peer timeout, not later.
        std::thread::sleep(Duration::from_millis(1100));
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("the real peer connects after the flood");
        p.heartbeat().unwrap();
        assert!(a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true), "{}", a.peer());
        let took = until_closed(&mut p.stream, Duration::from_secs(8)).expect("A ends a silent session");
        eprintln!("silent authenticated session ended after {:?}", took);
        assert!(took >= Duration::from_millis(2500) && took < Duration::from_millis(4500), "{:?}", took);
        assert!(a.wait(Duration::from_secs(1), |r| r.peer()["state"] == "unreachable"), "{}", a.peer());
    });
    assert!(lab.a.daemon_alive(), "log:\n{}", lab.a.log());
}

/// Read A's messages (answering with heartbeats) until a handover question comes.
fn next_query(p: &mut FakePeer) -> u64 {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) {
        p.heartbeat().unwrap();
        if let Some(Message::HandoverQuery { id, .. }) = p.recv(Duration::from_millis(500)) {
            return id;
        }
    }
    panic!("A never asked");
}

fn reply(p: &mut FakePeer, id: u64, ready: bool, reason: &str) {
    p.send(&Message::HandoverReply { id, ready, reason: reason.into() }).unwrap();
}

#[test]
fn a_handover_is_decided_only_by_the_answer_to_the_random_id_asked() {
    let Some((lab, b_priv, a_pub)) = a_with_fake_b("h") else { return };
    let a = &lab.a;
    in_netns(&lab.b.ns.clone(), || {
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("handshake");
        p.heartbeat().unwrap();
        assert!(a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true), "{}", a.peer());

        // "Ready" answers planted before any question, under the ids a counter would use.
        for id in 0..=8 {
            reply(&mut p, id, true, "planted");
        }
        std::thread::sleep(Duration::from_millis(300));

        // First handover: the planted answers decide nothing, nor does a wrong id; the
        // answer to the id asked does (here: no).
        let id1 = std::thread::scope(|sc| {
            let call = sc.spawn(|| a.ubus(&["call", "muros_ha", "handover"]));
            let id = next_query(&mut p);
            std::thread::sleep(Duration::from_millis(300));
            assert!(!call.is_finished(), "a planted answer decided the handover: {:?}", call.join().unwrap());
            assert_eq!(rejected(&a.peer(), "unsolicited"), 9, "planted replies dropped: {}", a.peer());
            reply(&mut p, id ^ 1, true, "wrong id");
            reply(&mut p, id, false, "fake B is not ready");
            let (code, out, err) = call.join().unwrap();
            assert_ne!(code, 0, "refused: {} {}", out, err);
            assert!(out.contains("fake B is not ready") || err.contains("fake B is not ready"), "the peer's reason: {} {}", out, err);
            id
        });
        assert_eq!(rejected(&a.peer(), "unsolicited"), 10);
        assert_eq!(a.status()["maintenance"], false);

        // Second handover: a yes to the new id hands over; the same answer again is stale.
        let id2 = std::thread::scope(|sc| {
            let call = sc.spawn(|| a.ubus(&["call", "muros_ha", "handover"]));
            let id = next_query(&mut p);
            reply(&mut p, id, true, "in sync");
            let (code, out, err) = call.join().unwrap();
            assert_eq!(code, 0, "{} {}", out, err);
            assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["handover"], true);
            id
        });
        eprintln!("handover ids: {:#018x}, {:#018x}", id1, id2);
        assert!(id1 > 8 && id2 != id1 && id2 != id1.wrapping_add(1), "ids are not a counter: {} {}", id1, id2);
        assert_eq!(a.status()["maintenance"], true);
        reply(&mut p, id2, true, "again");
        assert!(a.wait(Duration::from_secs(2), |r| rejected(&r.peer(), "unsolicited") == 11), "{}", a.peer());
    });
}

/// Issue 16: asked to take over a planned handover, a ready router lifts itself to
/// priority 254 (the boost file keepalived tracks) before it says yes, and lowers it
/// again once it is MASTER.
#[test]
fn a_router_that_takes_over_a_handover_is_boosted_until_it_is_master() {
    let Some((lab, b_priv, a_pub)) = a_with_fake_b("b") else { return };
    let a = &lab.a;
    let boost = a.root.join("var/run/muros-ha/boost");
    let prio = a.status()["priority"].as_u64().unwrap();
    let digest = a.peer()["local_digest"].as_str().unwrap().to_string();
    in_netns(&lab.b.ns.clone(), || {
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("handshake");
        p.heartbeat().unwrap();
        assert!(a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true), "{}", a.peer());
        p.send(&Message::HandoverQuery { id: 77, config_digest: digest.clone() }).unwrap();
        let reply = (0..20).find_map(|_| match p.recv(Duration::from_millis(500)) {
            Some(Message::HandoverReply { id: 77, ready, reason }) => Some((ready, reason)),
            _ => None,
        });
        let (ready, reason) = reply.expect("A answers the handover question");
        assert!(ready, "A is ready: {reason}");
        assert!(reason.contains("no WAN lease cached"), "{reason}");
        // written before the answer left
        assert_eq!(fs::read_to_string(&boost).unwrap().trim(), (254 - prio).to_string(), "boost to 254 from {prio}");
        a.set_vrrp_state("MASTER");
        std::fs::write(a.root.join("var/run/muros-ha/desired"), r#"{"seq":2,"state":"MASTER","pid":1,"time":0}"#).unwrap();
        assert!(a.wait(Duration::from_secs(3), |r| fs::read_to_string(r.root.join("var/run/muros-ha/boost")).unwrap_or_default().trim() == "0"), "boost lowered once MASTER");

        // Handed back while in maintenance (priority 1): boosted from 1, and maintenance
        // is left only once MASTER (a keepalived reload before would restart the timers).
        std::fs::write(a.root.join("var/run/muros-ha/desired"), r#"{"seq":3,"state":"BACKUP","pid":1,"time":0}"#).unwrap();
        a.set_vrrp_state("BACKUP");
        a.set_global("maintenance", "1");
        assert!(a.wait(Duration::from_secs(5), |r| r.peer()["local_digest"].as_str() != Some(digest.as_str()) || r.status()["maintenance"] == true), "{}", a.status());
        std::thread::sleep(Duration::from_millis(500));
        let digest = a.peer()["local_digest"].as_str().unwrap().to_string();
        p.send(&Message::HandoverQuery { id: 78, config_digest: digest }).unwrap();
        let reply = (0..20).find_map(|_| match p.recv(Duration::from_millis(500)) {
            Some(Message::HandoverReply { id: 78, ready, reason }) => Some((ready, reason)),
            _ => None,
        });
        assert!(reply.as_ref().is_some_and(|r| r.0), "{reply:?}");
        assert_eq!(fs::read_to_string(&boost).unwrap().trim(), "253", "from maintenance's priority 1 to 254");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(a.status()["maintenance"], true, "not left before the takeover");
        std::fs::write(a.root.join("var/run/muros-ha/desired"), r#"{"seq":4,"state":"MASTER","pid":1,"time":0}"#).unwrap();
        assert!(a.wait(Duration::from_secs(5), |r| r.status()["maintenance"] == false), "left once MASTER: {}", a.status());
        assert!(a.wait(Duration::from_secs(3), |r| fs::read_to_string(r.root.join("var/run/muros-ha/boost")).unwrap_or_default().trim() == "0"), "boost lowered");
    });
}

/// Issue 16: a MASTER peer's WAN lease becomes this backup's cache, in its own clock;
/// a garbled one, or one from a peer that is not MASTER, changes nothing, and while this
/// router is MASTER itself its own lease is the one kept.
#[test]
fn the_masters_wan_lease_is_cached_by_the_backup_and_garbage_is_not() {
    let Some((lab, b_priv, a_pub)) = a_with_fake_b("w") else { return };
    let a = &lab.a;
    let cache = a.root.join("var/run/muros-ha/wan-lease");
    let hb = |p: &mut FakePeer, state: &str, lease: &str| {
        let mut m = p.heartbeat_msg(state);
        if let Message::Heartbeat(h) = &mut m {
            h.wan_lease = Some(lease.to_string());
        }
        p.send(&m).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    };
    in_netns(&lab.b.ns.clone(), || {
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("handshake");
        p.heartbeat().unwrap();
        assert!(a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true), "{}", a.peer());
        hb(&mut p, "BACKUP", "198.51.100.23/24 198.51.100.1 600");
        assert!(!cache.exists(), "a backup's lease is not believed");
        for bad in ["198.51.100.23/24 203.0.113.1 600", "../../etc/passwd", "198.51.100.23/24 198.51.100.1 600 x"] {
            hb(&mut p, "MASTER", bad);
            assert!(!cache.exists(), "{bad:?} was cached");
        }
        assert!(a.status()["peer"]["connected"] == true, "garbage ends no session");
        assert_eq!(rejected(&a.peer(), "malformed"), 3, "each refused lease is counted: {}", a.peer());
        assert!(a.peer()["last_error"].as_str().is_some_and(|e| e.contains("WAN lease is refused")), "{}", a.peer());
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        hb(&mut p, "MASTER", "198.51.100.23/24 198.51.100.1 600 198.51.100.1");
        // bounded wait, no timing assumption: a slow (qemu) daemon just takes longer
        assert!(a.wait(Duration::from_secs(10), |_| cache.exists()), "the master's lease cached");
        let t_after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let line = fs::read_to_string(&cache).unwrap();
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((w[0], w[1], w[3]), ("198.51.100.23/24", "198.51.100.1", "198.51.100.1"), "{line}");
        let until: u64 = w[2].parse().unwrap();
        // 600 s from when the daemon received it, in its (here: our) clock
        assert!(until >= t + 600 && until <= t_after + 600, "600 s from receipt: {line} (sent at {t}, read at {t_after})");
        let events = a.ubus(&["call", "muros_ha", "history", "{\"limit\":64}"]).1;
        assert!(events.contains("the peer's WAN lease 198.51.100.23/24 via 198.51.100.1 is cached"), "{events}");
        // MASTER here too (a split brain): our own lease counts, the peer's is ignored.
        a.set_vrrp_state("MASTER");
        hb(&mut p, "MASTER", "198.51.100.77/24 198.51.100.1 600");
        assert_eq!(fs::read_to_string(&cache).unwrap(), line, "a MASTER keeps its own lease");
    });
}

const FIREWALL: &str = "config defaults\n\toption input 'ACCEPT'\n\nconfig zone 'lan'\n\toption name 'lan'\n\toption input 'ACCEPT'\n";

#[test]
fn a_slow_firewall_reload_on_the_backup_keeps_the_link_up_and_reloads_run_one_at_a_time() {
    let Some(mut lab) = Lab::new("r") else { return };
    let log = lab.b.root.join("tmp/reloads");
    // B's firewall "reload" takes 4 s, longer than the 3 s dead-peer timeout.
    let script = lab.b.root.join("etc/init.d/firewall");
    fs::create_dir_all(script.parent().unwrap()).unwrap();
    fs::write(&script, format!("#!/bin/sh\n[ \"$1\" = reload ] || exit 0\necho \"start $(date +%s%N)\" >> {0}\nsleep 4\necho \"end $(date +%s%N)\" >> {0}\n", log.display())).unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for r in [&lab.a, &lab.b] {
        fs::write(r.config("firewall"), FIREWALL).unwrap();
    }
    lab.start_paired();
    let (a, b) = (&lab.a, &lab.b);
    assert!(b.wait(Duration::from_secs(8), |r| r.peer()["state"] == "in_sync"), "paired: {}\nB log:\n{}", b.peer(), b.log());
    assert!(a.wait(Duration::from_secs(3), |r| r.peer()["connected"] == true));
    let handshakes = |r: &Router| r.peer()["handshakes"].as_u64().unwrap_or(0);
    let (hs_a, hs_b) = (handshakes(a), handshakes(b));

    // Two changes half a second apart: the second arrives while the first reload runs.
    let t0 = Instant::now();
    for port in ["22", "23"] {
        let text = format!("{}\nconfig rule 'ssh'\n\toption dest_port '{}'\n", FIREWALL, port);
        write_atomic(&a.config("firewall"), &text);
        let want = format!("option dest_port '{}'", port);
        assert!(b.wait(Duration::from_secs(2), |_| fs::read_to_string(b.config("firewall")).unwrap_or_default().contains(&want)), "{} replicated while a reload runs: {}\nB log:\n{}", port, b.peer(), b.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    // Through both reloads (~8 s) the link stays up on both sides, on the same session.
    let mut samples = 0;
    while t0.elapsed() < Duration::from_secs(10) {
        for r in [a, b] {
            let p = r.peer();
            assert!(p["connected"] == true && handshakes(r) == if r.ns == a.ns { hs_a } else { hs_b }, "{} lost the link during a reload after {:?}: {}\nA log:\n{}\nB log:\n{}", r.ns, t0.elapsed(), p, a.log(), b.log());
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("link checked up {} times during the reloads", samples);

    // The reloads ran one after the other, and their results reached the peer thread.
    let text = fs::read_to_string(&log).unwrap_or_default();
    let times: Vec<(String, u128)> = text.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect();
    let kinds: Vec<&str> = times.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["start", "end", "start", "end"], "{}", text);
    assert!(times[2].1 >= times[1].1, "the second reload started after the first ended: {}", text);
    assert!(b.log().contains("firewall reloaded ("), "reported: {}", b.log());
}

/// Issue 18 §2: a file from the peer is data. Only a path in this router's own
/// `replicate_file` list is written; any other path (outside the VPN directories, or
/// inside them but not listed), set-id bits and broken base64 change nothing, and the
/// session lives on.
#[test]
fn a_file_from_the_peer_lands_only_where_our_own_list_says() {
    use std::os::unix::fs::PermissionsExt;
    let Some((lab, b_priv, a_pub)) = a_with_fake_b("r") else { return };
    let a = &lab.a;
    a.add_global_line("list replicate_file '/etc/openvpn/ta.key'");
    a.set_vrrp_state("BACKUP");
    std::thread::sleep(Duration::from_millis(500));
    let file = |path: &str, mode: u32, data: &str| Message::File { path: path.into(), mode, uid: 0, gid: 0, data: data.into() };
    in_netns(&lab.b.ns.clone(), || {
        let mut p = FakePeer::connect(&b_priv, &a_pub).expect("handshake");
        p.heartbeat().unwrap();
        assert!(a.wait(Duration::from_secs(2), |r| r.peer()["connected"] == true), "{}", a.peer());
        for (path, data) in [("/etc/dropbear/authorized_keys", "c3NoLXJzYSBldmls"), ("/etc/openvpn/other.key", "a2V5"), ("/etc/openvpn/../shadow", "a2V5")] {
            p.send(&file(path, 0o644, data)).unwrap();
        }
        p.send(&file("/etc/openvpn/ta.key", 0o4755, "not base64!")).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        for path in ["etc/dropbear/authorized_keys", "etc/openvpn/other.key", "etc/shadow", "etc/openvpn/ta.key"] {
            assert!(!a.root.join(path).exists(), "{path} was written");
        }
        let peer = a.peer();
        assert!(peer["refused"].to_string().contains("file /etc/dropbear/authorized_keys"), "{peer}");
        assert_eq!(rejected(&peer, "malformed"), 1, "{peer}");
        // The listed one is written, without the set-uid bit.
        p.send(&file("/etc/openvpn/ta.key", 0o4755, "a2V5")).unwrap();
        let ta = a.root.join("etc/openvpn/ta.key");
        assert!(a.wait(Duration::from_secs(5), |_| fs::read(&ta).ok().as_deref() == Some(b"key")), "listed file not written:\n{}", a.log());
        assert_eq!(fs::metadata(&ta).unwrap().permissions().mode() & 0o7777, 0o755);
        assert!(a.peer()["connected"] == true, "garbage ends no session");
    });
}
