//! Router B played by the test: a key pair it holds, a TCP connection to A's peer port
//! from B's namespace, the KK handshake and messages through the crate's own codec.

use super::A_IP;
use muros_ha::peer::frame::{self, FrameReader};
use muros_ha::peer::message::{Assembler, Heartbeat, Message};
use muros_ha::peer::session::{Initiator, Transport};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const PORT: u16 = 3781;

pub struct FakePeer {
    pub stream: TcpStream,
    pub t: Transport,
    reader: FrameReader,
    asm: Assembler,
    /// The frames A sent us (bodies, encrypted), message 2 first.
    pub captured: Vec<Vec<u8>>,
    seq: u64,
}

/// Read one frame body within `limit`.
pub fn read_frame(s: &mut TcpStream, r: &mut FrameReader, limit: Duration) -> Option<Vec<u8>> {
    let until = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        s.set_read_timeout(Some(until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)))).ok()?;
        let want = r.want().min(buf.len());
        let n = s.read(&mut buf[..want]).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(f) = r.push(&buf[..n]).ok()?.into_iter().next() {
            return Some(f);
        }
    }
    None
}

/// A's first handshake message as B would send it, framed.
pub fn msg1(private: &[u8; 32], a_pub: &[u8; 32]) -> (Initiator, Vec<u8>) {
    Initiator::start(private, a_pub).unwrap()
}

impl FakePeer {
    /// Dial A and complete the handshake; `None` if A does not answer.
    pub fn connect(private: &[u8; 32], a_pub: &[u8; 32]) -> Option<FakePeer> {
        let mut stream = TcpStream::connect((A_IP, PORT)).ok()?;
        stream.set_nodelay(true).ok()?;
        let (ini, m1) = msg1(private, a_pub);
        stream.write_all(&frame::encode(&m1)).ok()?;
        let mut reader = FrameReader::default();
        let m2 = read_frame(&mut stream, &mut reader, Duration::from_secs(3))?;
        let t = ini.finish(&m2).ok()?;
        Some(FakePeer { stream, t, reader, asm: Assembler::default(), captured: vec![m2], seq: 0 })
    }

    /// The frames (length prefix included) carrying `m`.
    pub fn frames(&mut self, m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        for p in m.to_chunks().unwrap() {
            out.extend(frame::encode(&self.t.seal(&p).unwrap()));
        }
        out
    }

    pub fn send(&mut self, m: &Message) -> std::io::Result<()> {
        let w = self.frames(m);
        self.stream.write_all(&w)
    }

    pub fn heartbeat_msg(&mut self, state: &str) -> Message {
        self.seq += 1;
        Message::Heartbeat(Heartbeat { seq: self.seq, state: state.into(), role: "backup".into(), priority: 100, maintenance: false, config_digest: "x".into(), conntrack: None, upstream: None, ha: None, wan_lease: None })
    }

    pub fn heartbeat(&mut self) -> std::io::Result<()> {
        let m = self.heartbeat_msg("BACKUP");
        self.send(&m)
    }

    /// The next message from A within `limit` (frames kept in `captured`).
    pub fn recv(&mut self, limit: Duration) -> Option<Message> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            let body = read_frame(&mut self.stream, &mut self.reader, until.saturating_duration_since(Instant::now()))?;
            self.captured.push(body.clone());
            let plain = self.t.open(&body).ok()?;
            if let Ok(Some(m)) = self.asm.push(&plain) {
                return Some(m);
            }
        }
        None
    }
}
