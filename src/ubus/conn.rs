//! One connection to ubusd: framing over a unix stream, HELLO, sequence numbers and
//! request/response matching. Frames that are not the awaited reply (invokes, events,
//! notifies) are queued for the caller's dispatcher, never dropped.

use super::msg::{self, decode_frame, Attr, FrameError, Message, MsgType};
use super::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a single write may block before ubusd is considered stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;
/// Frames kept for the dispatcher while a request waits; beyond this the peer is
/// flooding us and the oldest are dropped (logged) rather than growing without bound.
const MAX_QUEUED: usize = 4096;

pub(crate) struct Conn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    client_id: u32,
    seq: u16,
    queued: VecDeque<Message>,
}

/// Wait until `fd` is readable or the deadline passes. `Ok(false)` on timeout or when
/// a signal interrupted the wait (the caller re-checks its own state).
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let n = poll(&mut fds, poll_timeout(deadline)).or_else(|e| {
        if e == nix::errno::Errno::EINTR {
            Ok(0)
        } else {
            Err(Error::io("poll on the ubus socket", e.into()))
        }
    })?;
    Ok(n > 0)
}

/// Milliseconds until `deadline` as a poll timeout (capped; callers loop).
pub(crate) fn poll_timeout(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            // Round up so a 0.4 ms remainder does not become a zero-timeout spin.
            // In u64 (no u128 division libcall); seconds clamped before the cap so the
            // product cannot overflow.
            let us = left.as_secs().min(66) * 1_000_000 + u64::from(left.subsec_micros());
            let ms = us.div_ceil(1000).min(u64::from(u16::MAX)) as u16;
            PollTimeout::from(ms)
        }
    }
}

impl Conn {
    /// Connect and read the HELLO that carries our client id.
    pub(crate) fn connect(path: &Path, timeout: Duration) -> Result<Conn> {
        let stream = UnixStream::connect(path)
            .map_err(|e| Error::io(format!("connecting to ubusd at {}", path.display()), e))?;
        stream
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| Error::io("setting the ubus socket write timeout", e))?;
        let mut c = Conn {
            stream,
            rbuf: Vec::new(),
            client_id: 0,
            seq: 0,
            queued: VecDeque::new(),
        };
        let deadline = Instant::now() + timeout;
        let hello = loop {
            match c.recv_frame(Some(deadline))? {
                Some(m) => break m,
                None if Instant::now() < deadline => continue,
                None => {
                    return Err(Error::Timeout(format!(
                        "waiting for HELLO from ubusd at {}",
                        path.display()
                    )))
                }
            }
        };
        if hello.header.msg_type != MsgType::Hello || hello.header.peer <= 1 {
            return Err(Error::Protocol(format!(
                "expected HELLO with a client id, got message type {} peer {:#x}",
                u8::from(hello.header.msg_type),
                hello.header.peer
            )));
        }
        c.client_id = hello.header.peer;
        Ok(c)
    }

    pub(crate) fn client_id(&self) -> u32 {
        self.client_id
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// True when frames wait in user space (queued during a request, or already read
    /// into the buffer): polling the socket would not report them.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
            || !matches!(decode_frame(&self.rbuf), Err(FrameError::Incomplete { .. }))
    }

    /// libubus counts from 1 and wraps; 0 is skipped so it never looks like HELLO's seq.
    fn next_seq(&mut self) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    pub(crate) fn send(&mut self, m: &Message) -> Result<()> {
        let bytes = m.encode();
        if !Message::encoded_within_limit(&bytes) {
            return Err(Error::InvalidInput(format!(
                "message of {} bytes exceeds ubusd's {}-byte limit",
                bytes.len(),
                msg::MAX_MSGLEN
            )));
        }
        self.stream
            .write_all(&bytes)
            .map_err(|e| Error::io("writing to ubusd", e))
    }

    /// Read what the socket has (one `read`); `Err(Disconnected)` on EOF.
    fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading from ubusd", e)),
            }
        }
    }

    /// Take one complete frame out of the read buffer, skipping malformed frames whose
    /// length is known. A stream that lost sync is an error (reconnect).
    fn take_frame(&mut self) -> Result<Option<Message>> {
        loop {
            match decode_frame(&self.rbuf) {
                Ok((m, used)) => {
                    self.rbuf.drain(..used);
                    return Ok(Some(m));
                }
                Err(FrameError::Incomplete { .. }) => return Ok(None),
                Err(FrameError::Malformed {
                    frame_len: Some(n),
                    error,
                }) => {
                    log::warn!("ubus: dropping a malformed frame of {n} bytes: {error}");
                    self.rbuf.drain(..n.min(self.rbuf.len()));
                }
                Err(e) => return Err(Error::Protocol(format!("ubus stream out of sync: {e}"))),
            }
        }
    }

    /// Next frame from the socket (not the queue). `Ok(None)` on timeout/EINTR.
    pub(crate) fn recv_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Message>> {
        loop {
            if let Some(m) = self.take_frame()? {
                return Ok(Some(m));
            }
            if !wait_readable(self.stream.as_fd(), deadline)? {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Read whatever is available now without blocking and return the frames,
    /// queued ones first.
    pub(crate) fn drain_ready(&mut self) -> Result<Vec<Message>> {
        let mut out = Vec::from(std::mem::take(&mut self.queued));
        // Bounded: the socket is read at most a few times per wakeup so a flooding peer
        // cannot starve the caller's other fds.
        for _ in 0..8 {
            while let Some(m) = self.take_frame()? {
                out.push(m);
            }
            if !wait_readable(self.stream.as_fd(), Some(Instant::now()))? {
                break;
            }
            self.fill()?;
        }
        while let Some(m) = self.take_frame()? {
            out.push(m);
        }
        Ok(out)
    }

    /// Take one queued frame (frames that arrived while a request waited).
    pub(crate) fn pop_queued(&mut self) -> Option<Message> {
        self.queued.pop_front()
    }

    fn queue(&mut self, m: Message) {
        if self.queued.len() >= MAX_QUEUED {
            log::warn!("ubus: dispatch queue full, dropping the oldest frame");
            self.queued.pop_front();
        }
        self.queued.push_back(m);
    }

    /// Send a request and collect its DATA frames until the STATUS with the same
    /// (seq, peer). Other frames are queued. A non-zero status is an `Error::Status`
    /// carrying the DATA that came before it.
    pub(crate) fn request(
        &mut self,
        msg_type: MsgType,
        peer: u32,
        attrs: Vec<Attr>,
        timeout: Duration,
        what: &str,
    ) -> Result<Vec<Message>> {
        let seq = self.next_seq();
        self.send(&Message::new(msg_type, seq, peer, attrs))?;
        let deadline = Instant::now() + timeout;
        let mut data = Vec::new();
        loop {
            // `None` also comes from EINTR: only a passed deadline is a timeout.
            let m = match self.recv_frame(Some(deadline))? {
                Some(m) => m,
                None if Instant::now() < deadline => continue,
                None => return Err(Error::Timeout(what.to_string())),
            };
            let h = m.header;
            if h.seq == seq
                && h.peer == peer
                && matches!(h.msg_type, MsgType::Data | MsgType::Status)
            {
                if h.msg_type == MsgType::Status {
                    let code = m
                        .status()
                        .unwrap_or(super::msg::Status::InvalidArgument.code());
                    if code != 0 {
                        return Err(Error::Status {
                            status: super::msg::Status::from_code(code),
                            context: what.to_string(),
                            data: data
                                .iter()
                                .filter_map(|d: &Message| d.data().cloned())
                                .collect(),
                        });
                    }
                    return Ok(data);
                }
                data.push(m);
            } else {
                self.queue(m);
            }
        }
    }
}
