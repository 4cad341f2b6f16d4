//! Codec tests: the golden frames captured from the real ubusd (ubus-protocol.md §10)
//! decode to what the capture says and re-encode byte for byte; blobmsg ⇄ JSON round
//! trips; and the decoders survive random bytes and mutated golden frames.

use muros_ha::ubus::blob::{Table, Value};
use muros_ha::ubus::json;
use muros_ha::ubus::msg::{self, decode_frame, Attr, FrameError, Message, MsgType};
use serde_json::json;
use std::time::{Duration, Instant};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decode a golden frame, check it re-encodes identically, return it.
fn golden(raw: &str) -> Message {
    let bytes = hex(raw);
    let m = Message::parse(&bytes).unwrap_or_else(|e| panic!("golden frame does not decode: {e}"));
    assert_eq!(m.encode(), bytes, "re-encoding differs for {m:?}");
    assert!(
        !m.attrs.iter().any(|a| matches!(a, Attr::Other { .. })),
        "unexpected raw attr in {m:?}"
    );
    m
}

const HELLO: &str = "00000000a5a86f3500000004";
const ADD_OBJECT: &str = "0006000100000000000000400200000a70726f6265000000060000308200002c000568656c6c6f008500001000046e616d65000000000003850000100005636f756e740000000005";
const ADD_REPLY_DATA: &str = "00020001000000000000001403000008503a6070050000088e496c3f";
const ADD_REPLY_STATUS: &str = "00010001000000000000000c0100000800000000";
const INVOKE_AT_OWNER: &str = "00050002faf0df710000005803000008503a60700400000a68656c6c6f0000000c000009726f6f74000000000d000009726f6f7400000000070000288300001200046e616d650000776f726c64000000850000100005636f756e740000000002";
const OWNER_DATA: &str = "00020002faf0df710000003403000008503a6070070000288300001500036d7367000000686920776f726c64000000008500000c00016e0000000002";
const OWNER_STATUS: &str = "00010002faf0df7100000014010000080000000003000008503a6070";
const CALLER_DATA: &str =
    "0002001e503a60700000001c03000008503a6070070000108500000c00016e0000000001";
const REGISTER: &str = "00050003000000010000004c03000008000000010400000d726567697374657200000000070000308500001400066f626a6563740000000091b360f68300001700077061747465726e000000746573742e2a0000";
const REGISTER_REPLY: &str = "00010003000000010000000c0100000800000000";
const EVENT_DELIVERED: &str = "00050001000000000000002c0300000891b360f60400000e746573742e70696e67000000070000108500000c0001610000000001";
const ARG_TYPES_DATA: &str =
    "8700000d 0004666c 61670000 01000000 88000010 00016400 3ff80000 00000000
    84000014 00036269 67000000 00000001 2a05f200 81000024 00036172 72000000
    8500000c 00000000 00000001 8300000a 00000000 78000000";

fn all_golden() -> Vec<Vec<u8>> {
    [
        HELLO,
        ADD_OBJECT,
        ADD_REPLY_DATA,
        ADD_REPLY_STATUS,
        INVOKE_AT_OWNER,
        OWNER_DATA,
        OWNER_STATUS,
        CALLER_DATA,
        REGISTER,
        REGISTER_REPLY,
        EVENT_DELIVERED,
    ]
    .iter()
    .map(|s| hex(s))
    .collect()
}

#[test]
fn hello_carries_the_client_id() {
    let m = golden(HELLO);
    assert_eq!(m.header.msg_type, MsgType::Hello);
    assert_eq!((m.header.seq, m.header.peer), (0, 0xa5a86f35));
    assert!(m.attrs.is_empty());
}

#[test]
fn add_object_request_matches_what_we_build() {
    let m = golden(ADD_OBJECT);
    assert_eq!(m.header.msg_type, MsgType::AddObject);
    assert_eq!(m.objpath(), Some("probe"));
    let sig = msg::parse_signature(m.signature().unwrap());
    assert_eq!(
        sig,
        vec![(
            "hello".to_string(),
            vec![("name".to_string(), 3), ("count".to_string(), 5)]
        )]
    );
    // Built independently from the owned representation, not from the capture.
    let ours = Message::new(
        MsgType::AddObject,
        1,
        0,
        vec![
            Attr::ObjPath("probe".into()),
            Attr::Signature(msg::signature([(
                "hello",
                &[("name", 3u8), ("count", 5u8)][..],
            )])),
        ],
    );
    assert_eq!(ours.encode(), hex(ADD_OBJECT));
}

#[test]
fn add_object_replies_give_id_type_and_status() {
    let d = golden(ADD_REPLY_DATA);
    assert_eq!(d.header.msg_type, MsgType::Data);
    assert_eq!(
        (d.objid(), d.objtype()),
        (Some(0x503a6070), Some(0x8e496c3f))
    );
    let s = golden(ADD_REPLY_STATUS);
    assert_eq!(
        (s.header.msg_type, s.header.seq, s.status()),
        (MsgType::Status, 1, Some(0))
    );
}

#[test]
fn invoke_at_owner_has_method_user_group_and_args() {
    let m = golden(INVOKE_AT_OWNER);
    assert_eq!(
        (m.header.msg_type, m.header.seq, m.header.peer),
        (MsgType::Invoke, 2, 0xfaf0df71)
    );
    assert_eq!(m.objid(), Some(0x503a6070));
    assert_eq!(m.method(), Some("hello"));
    assert_eq!((m.user(), m.group()), (Some("root"), Some("root")));
    assert_eq!(
        json::from_table(m.data().unwrap()),
        json!({"name": "world", "count": 2})
    );
}

#[test]
fn owner_reply_frames_are_what_we_send() {
    let data = golden(OWNER_DATA);
    assert_eq!(
        json::from_table(data.data().unwrap()),
        json!({"msg": "hi world", "n": 2})
    );
    let body = Table::new()
        .with("msg", Value::string("hi world"))
        .with("n", Value::Int32(2));
    let ours = Message::new(
        MsgType::Data,
        2,
        0xfaf0df71,
        vec![Attr::ObjId(0x503a6070), Attr::Data(body)],
    );
    assert_eq!(ours.encode(), hex(OWNER_DATA));
    let st = golden(OWNER_STATUS);
    assert_eq!((st.status(), st.objid()), (Some(0), Some(0x503a6070)));
    let ours = Message::new(
        MsgType::Status,
        2,
        0xfaf0df71,
        vec![Attr::Status(0), Attr::ObjId(0x503a6070)],
    );
    assert_eq!(ours.encode(), hex(OWNER_STATUS));
}

#[test]
fn forwarded_reply_has_the_object_as_peer() {
    let m = golden(CALLER_DATA);
    assert_eq!((m.header.seq, m.header.peer), (30, 0x503a6070));
    assert_eq!(json::from_table(m.data().unwrap()), json!({"n": 1}));
}

#[test]
fn event_register_reply_and_delivery() {
    let r = golden(REGISTER);
    assert_eq!(
        (r.header.peer, r.objid(), r.method()),
        (1, Some(1), Some("register"))
    );
    let d = r.data().unwrap();
    assert_eq!(d.get("object"), Some(&Value::Int32(0x91b360f6u32 as i32)));
    assert_eq!(d.get("pattern"), Some(&Value::string("test.*")));
    assert_eq!(golden(REGISTER_REPLY).status(), Some(0));
    let e = golden(EVENT_DELIVERED);
    assert_eq!(
        (e.header.seq, e.header.peer, e.objid()),
        (1, 0, Some(0x91b360f6))
    );
    assert_eq!(e.method(), Some("test.ping"));
    assert_eq!(json::from_table(e.data().unwrap()), json!({"a": 1}));
}

#[test]
fn sending_an_event_encodes_like_ubus_send() {
    let body = json::to_table(&json!({"id": "test.event", "data": {"a": 1}})).unwrap();
    // serde_json sorts keys; ubus send puts "id" first, so build in wire order.
    let body = Table::new()
        .with("id", body.get("id").unwrap().clone())
        .with("data", body.get("data").unwrap().clone());
    let m = Message::new(
        MsgType::Invoke,
        1,
        1,
        vec![
            Attr::ObjId(1),
            Attr::Method("send".into()),
            Attr::Data(body),
        ],
    );
    let tail = hex("0400000973656e6400000000 07000034 83000017 00026964 00000000 746573742e6576656e740000 82000018 00046461 74610000 8500000c 00016100 00000001");
    assert!(m.encode().ends_with(&tail));
}

#[test]
fn cli_argument_types_decode_to_the_json_sent() {
    let t = Table::decode(&hex(ARG_TYPES_DATA)).unwrap();
    assert_eq!(
        json::from_table(&t),
        json!({"flag": true, "d": 1.5, "big": 5000000000i64, "arr": [1, "x"]})
    );
    let mut out = Vec::new();
    t.encode_body(&mut out);
    assert_eq!(out, hex(ARG_TYPES_DATA));
}

#[test]
fn stream_decoder_tells_incomplete_from_malformed() {
    let frame = hex(INVOKE_AT_OWNER);
    for cut in 0..frame.len() {
        match decode_frame(&frame[..cut]) {
            Err(FrameError::Incomplete { needed }) => assert!(needed > cut),
            other => panic!("prefix of {cut} bytes: {other:?}"),
        }
    }
    // Two frames back to back decode one after the other.
    let mut two = hex(ADD_REPLY_DATA);
    two.extend(hex(ADD_REPLY_STATUS));
    let (a, used) = decode_frame(&two).unwrap();
    assert_eq!(a.header.msg_type, MsgType::Data);
    let (b, _) = decode_frame(&two[used..]).unwrap();
    assert_eq!(b.header.msg_type, MsgType::Status);
    // A child attr longer than its container: malformed, but skippable.
    let mut bad = hex(ADD_REPLY_STATUS);
    bad[12..16].copy_from_slice(&0x0100_00f0u32.to_be_bytes());
    assert!(matches!(
        decode_frame(&bad),
        Err(FrameError::Malformed {
            frame_len: Some(20),
            ..
        })
    ));
    // A top-level length under 4 loses sync.
    let mut lost = hex(HELLO);
    lost[11] = 2;
    assert!(matches!(
        decode_frame(&lost),
        Err(FrameError::Malformed {
            frame_len: None,
            ..
        })
    ));
}

#[test]
fn size_limit_is_ubusds() {
    // 1 048 576 padded blob bytes are accepted (Incomplete: wants the body)...
    let mut hdr = vec![0, 2, 0, 1, 0, 0, 0, 0];
    hdr.extend_from_slice(&(msg::MAX_MSGLEN as u32).to_be_bytes());
    assert!(
        matches!(decode_frame(&hdr), Err(FrameError::Incomplete { needed }) if needed == 8 + msg::MAX_MSGLEN)
    );
    // ...1 048 584 are refused without waiting for them.
    hdr[8..12].copy_from_slice(&((msg::MAX_MSGLEN + 8) as u32).to_be_bytes());
    assert!(matches!(
        decode_frame(&hdr),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn a_status_of_wrong_size_is_kept_raw_and_treated_as_absent() {
    // STATUS with 2 bytes instead of 4.
    let frame = hex("00010001 00000000 0000000c 01000006 00000000");
    let m = Message::parse(&frame).unwrap();
    assert_eq!(m.status(), None);
    assert!(matches!(m.attrs[0], Attr::Other { id: 1, .. }));
    assert_eq!(m.encode(), frame);
    let errs = m.strict_errors();
    assert!(
        errs[0].to_string().contains("while parsing attr STATUS"),
        "{}",
        errs[0]
    );
}

// ---------------------------------------------------------------------------
// Property and fuzz tests with a small deterministic PRNG (no extra dependency).

/// Iterations per fuzz test: 50 000 by default (well under a second); raise with
/// `UBUS_FUZZ_ITERS=10000000` for a long run, vary `UBUS_FUZZ_SEED` between runs.
fn fuzz_iters() -> u64 {
    std::env::var("UBUS_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn seed() -> Rng {
        let s = std::env::var("UBUS_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_1234_abcd_ef01);
        Rng(s | 1)
    }
}

fn random_key(r: &mut Rng) -> String {
    let len = r.below(12) as usize;
    (0..len)
        .map(|_| char::from(b'a' + r.below(26) as u8))
        .collect::<String>()
        + &r.below(1000).to_string()
}

fn random_string(r: &mut Rng) -> String {
    let pool = [
        "",
        "x",
        "héllo",
        "ubus_rpc_session",
        "日本",
        "a b\tc",
        "\u{1f600}",
    ];
    let mut s = String::new();
    for _ in 0..r.below(4) {
        s.push_str(pool[r.below(pool.len() as u64) as usize]);
    }
    s
}

/// A JSON value of the shapes blobmsg_json can carry exactly.
fn random_json(r: &mut Rng, depth: u32) -> serde_json::Value {
    let pick = r.below(if depth > 3 { 6 } else { 8 });
    match pick {
        0 => serde_json::Value::Null,
        1 => json!(r.below(2) == 1),
        2 => json!(r.next() as i64 >> r.below(64)),
        3 => json!((r.next() as i32) >> r.below(32)),
        4 => {
            let f = (r.next() as i64 as f64) / 1024.0 + 0.5;
            json!(f)
        }
        5 => json!(random_string(r)),
        6 => serde_json::Value::Array((0..r.below(5)).map(|_| random_json(r, depth + 1)).collect()),
        _ => random_object(r, depth + 1),
    }
}

fn random_object(r: &mut Rng, depth: u32) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for _ in 0..r.below(5) {
        m.insert(random_key(r), random_json(r, depth + 1));
    }
    serde_json::Value::Object(m)
}

#[test]
fn json_to_blobmsg_to_bytes_and_back_is_identity() {
    let mut r = Rng::seed();
    for _ in 0..2000 {
        let j = random_object(&mut r, 0);
        let t = json::to_table(&j).unwrap();
        let mut bytes = Vec::new();
        t.encode_body(&mut bytes);
        let back = Table::decode(&bytes).unwrap();
        assert_eq!(json::from_table(&back), j);
        // And blobmsg → JSON → blobmsg gives the same bytes.
        let mut again = Vec::new();
        json::to_table(&json::from_table(&back))
            .unwrap()
            .encode_body(&mut again);
        assert_eq!(again, bytes);
    }
}

/// Decode must not panic, must take bounded time, and when it succeeds, encode∘decode
/// must be a fixed point.
fn check_decoders(input: &[u8]) {
    let started = Instant::now();
    decode_all(input);
    if started.elapsed() >= Duration::from_millis(200) {
        // One slow run can be the shared machine descheduling us; a slow decoder is
        // slow every time, so judge by the fastest of three more runs.
        let fastest = (0..3)
            .map(|_| {
                let t = Instant::now();
                decode_all(input);
                t.elapsed()
            })
            .min()
            .unwrap_or_default();
        assert!(
            fastest < Duration::from_millis(200),
            "decoding {} bytes took {fastest:?}",
            input.len()
        );
    }
}

fn decode_all(input: &[u8]) {
    if let Ok((m, used)) = decode_frame(input) {
        assert!(used <= input.len());
        let once = m.encode();
        let m2 = Message::parse(&once).expect("our own encoding must decode");
        assert_eq!(m2.encode(), once);
        let _ = m.strict_errors();
    }
    if let Ok(t) = Table::decode(input) {
        let mut once = Vec::new();
        t.encode_body(&mut once);
        let t2 = Table::decode(&once).expect("our own encoding must decode");
        let mut twice = Vec::new();
        t2.encode_body(&mut twice);
        assert_eq!(once, twice);
        let _ = json::from_table(&t);
    }
    let _ = msg::decode_blobmsg(input);
}

#[test]
fn decoders_survive_random_bytes() {
    let mut r = Rng::seed();
    for _ in 0..fuzz_iters() {
        let len = r.below(96) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        // Bias towards plausible headers so the fuzzing gets past the first check.
        if len >= 12 && r.below(2) == 0 {
            buf[0] = 0;
            buf[8] = (r.below(2) as u8) << 7 | r.below(16) as u8;
            buf[9] = 0;
            buf[10] = 0;
            buf[11] = (len - 8) as u8;
        }
        check_decoders(&buf);
    }
}

#[test]
fn decoders_survive_mutated_golden_frames() {
    let mut r = Rng::seed();
    let mut seeds = all_golden();
    seeds.push(hex(ARG_TYPES_DATA));
    for _ in 0..fuzz_iters() {
        let mut buf = seeds[r.below(seeds.len() as u64) as usize].clone();
        for _ in 0..=r.below(4) {
            if buf.is_empty() {
                break;
            }
            let at = r.below(buf.len() as u64) as usize;
            match r.below(6) {
                0 => buf[at] ^= 1 << r.below(8),
                1 => buf[at] = r.next() as u8,
                2 => buf.truncate(at),
                3 => buf.insert(at, r.next() as u8),
                // Lengths are where decoders break: poke a length byte.
                4 => {
                    let word = at & !3;
                    if word + 3 < buf.len() {
                        buf[word + 3] =
                            buf[word + 3].wrapping_add(r.below(9) as u8).wrapping_sub(4);
                    }
                }
                _ => {
                    buf.remove(at);
                }
            }
        }
        check_decoders(&buf);
        if buf.len() > 8 {
            check_decoders(&buf[8..]);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 1 MiB holds ~130k nested empty-named tables; the decoder must refuse, not crash.
    let mut bytes = Vec::new();
    let depth = 100_000;
    for _ in 0..depth {
        bytes.extend_from_slice(&[0x82, 0, 0, 0, 0, 0, 0, 0]);
    }
    // Fix up lengths from the innermost out: each table holds the next.
    for level in (0..depth).rev() {
        let len = (depth - level) * 8;
        let at = level * 8;
        bytes[at..at + 4].copy_from_slice(&(0x8200_0000u32 | len as u32).to_be_bytes());
    }
    let err = msg::decode_blobmsg(&bytes).unwrap_err().to_string();
    assert!(err.contains("nesting deeper than"), "{err}");
    // Within the limit, nesting round-trips.
    let mut v = Value::Table(Table::new());
    for _ in 0..(muros_ha::ubus::blob::MAX_DEPTH - 2) {
        v = Value::Table(Table::new().with("t", v));
    }
    let mut ok = Vec::new();
    v.encode_named("root", &mut ok);
    assert_eq!(msg::decode_blobmsg(&ok).unwrap(), ("root".to_string(), v));
}
