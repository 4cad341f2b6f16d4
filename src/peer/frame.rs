//! Wire framing of the peer channel: `u32` big-endian body length, then the body.
//! Pure codec, no I/O. A length of 0 or above [`MAX_BODY`] is malformed: the stream
//! cannot be resynchronised after it, so the caller drops the connection.

/// A Noise message is at most 65535 bytes; a transport body adds an 8-byte nonce.
pub const MAX_BODY: usize = 8 + 65535;
pub const HEADER: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Empty,
    Oversized(u32),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Empty => f.write_str("empty frame"),
            Malformed::Oversized(n) => write!(f, "frame of {} bytes exceeds the {} byte limit", n, MAX_BODY),
        }
    }
}

/// Prefix `body` with its length. `body` must not exceed [`MAX_BODY`] (callers build it).
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reassembles frames from a byte stream; holds at most one frame's bytes.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// How many bytes the reader wants next (never more than one frame's remainder), so
    /// the caller's read can never make the buffer grow past `HEADER + MAX_BODY`.
    pub fn want(&self) -> usize {
        match self.body_len() {
            None => HEADER - self.buf.len(),
            Some(n) => (HEADER + n).saturating_sub(self.buf.len()).max(1),
        }
    }

    fn body_len(&self) -> Option<usize> {
        let h: [u8; 4] = self.buf.get(..HEADER)?.try_into().ok()?;
        Some(u32::from_be_bytes(h) as usize)
    }

    /// Feed bytes; returns the complete frames' bodies (in order) or the first
    /// malformation. Bytes after a malformed header are not looked at.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, Malformed> {
        let mut frames = Vec::new();
        while !data.is_empty() {
            let take = self.want().min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Some(n) = self.body_len() {
                if n == 0 {
                    return Err(Malformed::Empty);
                }
                if n > MAX_BODY {
                    return Err(Malformed::Oversized(n as u32));
                }
                if self.buf.len() == HEADER + n {
                    frames.push(self.buf.split_off(HEADER));
                    self.buf.clear();
                }
            }
        }
        Ok(frames)
    }

    /// Bytes of a frame still incomplete.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_any_byte_come_out_whole() {
        let a = encode(b"hello");
        let b = encode(&[7u8; 300]);
        let stream: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        for cut in 0..stream.len() {
            let mut r = FrameReader::default();
            let mut got = r.push(&stream[..cut]).unwrap();
            got.extend(r.push(&stream[cut..]).unwrap());
            assert_eq!(got, vec![b"hello".to_vec(), vec![7u8; 300]], "cut {}", cut);
            assert_eq!(r.pending(), 0);
        }
    }

    #[test]
    fn an_oversized_or_empty_length_is_malformed_before_any_body_is_buffered() {
        let mut r = FrameReader::default();
        assert_eq!(r.push(&((MAX_BODY as u32) + 1).to_be_bytes()), Err(Malformed::Oversized(MAX_BODY as u32 + 1)));
        let mut r = FrameReader::default();
        assert_eq!(r.push(&[0, 0, 0, 0, 1]), Err(Malformed::Empty));
    }

    #[test]
    fn random_bytes_never_panic_and_never_buffer_more_than_one_frame() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut r = FrameReader::default();
            let len = (next() % 600) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut pos = 0;
            while pos < data.len() {
                let step = 1 + (next() % 64) as usize;
                let end = (pos + step).min(data.len());
                match r.push(&data[pos..end]) {
                    Ok(frames) => assert!(frames.iter().all(|f| !f.is_empty() && f.len() <= MAX_BODY)),
                    Err(_) => break,
                }
                assert!(r.pending() <= HEADER + MAX_BODY);
                pos = end;
            }
        }
    }
}
