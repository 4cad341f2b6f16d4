//! The server's stream handling against a hostile peer. The real ubusd never sends
//! garbage, so this one test plays the broker itself on a private socket: it feeds
//! malformed, unknown and random frames, then a stream that lost sync, and checks the
//! server keeps answering, reconnects, re-registers and keeps its state.

use muros_ha::ubus::msg::{decode_frame, Attr, Message, MsgType};
use muros_ha::ubus::{reply_json, Deferred, Object, Server, Status, Waker};
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OBJ: u32 = 0x0500_0001;

struct FakeBroker {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl FakeBroker {
    /// Accept the server's connection (bounded wait), send HELLO, answer ADD_OBJECT.
    fn accept(listener: &UnixListener) -> FakeBroker {
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(3) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("server did not (re)connect: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut b = FakeBroker {
            stream,
            buf: Vec::new(),
        };
        b.send(&Message::new(MsgType::Hello, 0, 0x1234_5678, vec![]));
        let add = b.recv();
        assert_eq!(add.header.msg_type, MsgType::AddObject);
        assert_eq!(add.objpath(), Some("garbage.test"));
        let seq = add.header.seq;
        b.send(&Message::new(
            MsgType::Data,
            seq,
            0,
            vec![Attr::ObjId(OBJ), Attr::ObjType(0x0600_0001)],
        ));
        // A call racing the registration (ubusd forwards as soon as the object exists):
        // it is queued while the server waits for its STATUS and must still be answered
        // without any further traffic.
        b.send(&Message::new(
            MsgType::Invoke,
            4242,
            0x99,
            vec![
                Attr::ObjId(OBJ),
                Attr::Method("later".into()),
                Attr::Data(Default::default()),
            ],
        ));
        b.send(&Message::new(
            MsgType::Status,
            seq,
            0,
            vec![Attr::Status(0)],
        ));
        let early = b.recv();
        assert_eq!(
            (early.header.msg_type, early.header.seq, early.header.peer),
            (MsgType::Status, 4242, 0x99)
        );
        assert_eq!(early.status(), Some(0));
        b
    }

    fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.encode()).unwrap();
    }

    fn recv(&mut self) -> Message {
        loop {
            if let Ok((m, used)) = decode_frame(&self.buf) {
                self.buf.drain(..used);
                return m;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("server reply");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Invoke `count` and return the reply body, skipping replies to earlier garbage.
    fn count(&mut self, seq: u16) -> serde_json::Value {
        let peer = 0x77;
        self.send(&Message::new(
            MsgType::Invoke,
            seq,
            peer,
            vec![
                Attr::ObjId(OBJ),
                Attr::Method("count".into()),
                Attr::Data(Default::default()),
            ],
        ));
        let mut body = serde_json::Value::Null;
        for _ in 0..10_000 {
            let m = self.recv();
            if (m.header.seq, m.header.peer) != (seq, peer) {
                continue;
            }
            match m.header.msg_type {
                MsgType::Data => body = muros_ha::ubus::json::from_table(m.data().unwrap()),
                MsgType::Status => {
                    assert_eq!((m.status(), m.objid()), (Some(0), Some(OBJ)));
                    return body;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("no reply to count");
    }

    fn expect_eof(&mut self) {
        let mut chunk = [0u8; 4096];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
        panic!("server kept a stream that lost sync");
    }
}

fn frame(msg_type: u8, seq: u16, peer: u32, blob_payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, msg_type];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&peer.to_be_bytes());
    f.extend_from_slice(&((4 + blob_payload.len()) as u32).to_be_bytes());
    f.extend_from_slice(blob_payload);
    while f.len() % 4 != 0 {
        f.push(0);
    }
    f
}

#[test]
fn server_survives_garbage_and_a_desynced_stream_then_reregisters() {
    /// Removes the run's directory also when an assertion fails.
    struct DirGuard(std::path::PathBuf);
    impl Drop for DirGuard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("muros-ubus-garbage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = DirGuard(dir.clone());
    let sock = dir.join("fake.sock");
    let listener = UnixListener::bind(&sock).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let waker = Arc::new(Waker::new().unwrap());
    let (stop2, waker2, sock2) = (stop.clone(), waker.clone(), sock.clone());
    let server = std::thread::spawn(move || {
        // (count, deferred calls the loop must answer)
        let mut s = Server::new(sock2, (0u64, Vec::<Deferred>::new()));
        s.add_object(
            Object::new("garbage.test")
                .method("count", &[], |st: &mut (u64, Vec<Deferred>), _| {
                    st.0 += 1;
                    reply_json(json!({ "count": st.0 }))
                })
                .method("later", &[], |st: &mut (u64, Vec<Deferred>), req| {
                    st.1.push(req.defer());
                    Ok(None)
                }),
        )
        .unwrap();
        let start = Instant::now();
        while !stop2.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(60) {
            if s.poll(&[waker2.fd()], None).unwrap().is_ready(0) {
                waker2.drain();
            }
            for d in std::mem::take(&mut s.state.1) {
                s.reply_deferred(d, Ok(None)).unwrap();
            }
        }
        s.connections()
    });

    let mut b = FakeBroker::accept(&listener);
    assert_eq!(b.count(100), json!({"count": 1}));

    // Frames with a readable length but bad contents are skipped.
    let bad_child = frame(5, 1, 2, &[0x03, 0, 0, 0x40, 0, 0, 0, 0]);
    let unknown_type = frame(42, 2, 3, &[]);
    let stray_status = frame(1, 999, 0, &[0x01, 0, 0, 8, 0, 0, 0, 0]);
    let invoke_no_objid = frame(5, 4, 5, &[0x04, 0, 0, 6, b'x', 0, 0, 0]);
    let invoke_other_obj = Message::new(
        MsgType::Invoke,
        5,
        6,
        vec![Attr::ObjId(OBJ + 1), Attr::Method("count".into())],
    )
    .encode();
    for f in [
        &bad_child,
        &unknown_type,
        &stray_status,
        &invoke_no_objid,
        &invoke_other_obj,
    ] {
        b.stream.write_all(f).unwrap();
    }
    // The invoke to an object that is not ours gets NOT_FOUND.
    let nf = loop {
        let m = b.recv();
        if m.header.seq == 5 && m.header.msg_type == MsgType::Status {
            break m;
        }
    };
    assert_eq!(nf.status(), Some(Status::NotFound.code()));

    // Random frames with consistent lengths; some decode as invokes and get replies.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..300u16 {
        let len = (i as usize * 7) % 64;
        let payload: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        b.stream
            .write_all(&frame((x % 13) as u8, 1000 + i, (x >> 8) as u32, &payload))
            .unwrap();
    }
    assert_eq!(b.count(200), json!({"count": 2}));

    // A top-level length below 4: nothing says where the next frame starts.
    b.stream
        .write_all(&[0, 5, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2])
        .unwrap();
    b.expect_eof();
    let mut b = FakeBroker::accept(&listener);
    assert_eq!(
        b.count(300),
        json!({"count": 3}),
        "state kept across the reconnect"
    );

    // Over 1 MiB announced: ubusd would drop us for that, we drop the peer.
    b.stream
        .write_all(&[0, 2, 0, 1, 0, 0, 0, 0, 0, 0x20, 0, 0])
        .unwrap();
    b.expect_eof();
    let mut b = FakeBroker::accept(&listener);
    assert_eq!(b.count(400), json!({"count": 4}));

    stop.store(true, Ordering::SeqCst);
    waker.wake();
    assert_eq!(server.join().unwrap(), 3);
    drop(b);
}
