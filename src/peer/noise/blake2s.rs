//! BLAKE2s-256 (RFC 7693): unkeyed, sequential, 32-byte digest; all the peer link needs
//! (Noise's HASH, and through HMAC its HKDF) and what the config digest is made of.
//!
//! Data is buffered a byte at a time and compressed a block at a time: the last block,
//! full or not, is only compressed by [`Blake2s::finalize`], which sets the final flag.
//! Nothing here depends on secret values except through additions, xors and fixed
//! rotations, so it is constant time by construction.

use super::arx;

const IV: [u32; 8] = [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// Message word order per round (RFC 7693 §2.7).
const SIGMA: [[u8; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/// G's rotations (right by 16, 12, 8, 7) written as left rotations for [`arx`].
const ROT: [u32; 4] = [16, 20, 24, 25];

/// Incremental BLAKE2s-256.
#[derive(Clone)]
pub struct Blake2s {
    h: [u32; 8],
    /// Bytes compressed so far plus those in `buf` (the counter `t`).
    t: u64,
    buf: [u8; 64],
    len: usize,
}

impl Default for Blake2s {
    fn default() -> Self {
        Self::new()
    }
}

impl Blake2s {
    pub fn new() -> Blake2s {
        let mut h = IV;
        // Parameter block: digest length 32, key length 0, fanout 1, depth 1.
        h[0] ^= 0x0101_0020;
        Blake2s { h, t: 0, buf: [0; 64], len: 0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            if self.len == 64 {
                self.compress(false);
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    pub fn finalize(mut self) -> [u8; 32] {
        self.buf[self.len..].fill(0);
        self.compress(true);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.h) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    fn compress(&mut self, last: bool) {
        self.t += self.len as u64;
        self.len = 0;
        let mut m = [0u32; 16];
        for (w, b) in m.iter_mut().zip(self.buf.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let mut v = [0u32; 16];
        v[..8].copy_from_slice(&self.h);
        v[8..].copy_from_slice(&IV);
        v[12] ^= self.t as u32;
        v[13] ^= (self.t >> 32) as u32;
        if last {
            v[14] = !v[14];
        }
        for s in &SIGMA {
            for i in 0..8 {
                arx(&mut v, i, m[s[2 * i] as usize], m[s[2 * i + 1] as usize], ROT);
            }
        }
        for i in 0..8 {
            self.h[i] ^= v[i] ^ v[i + 8];
        }
    }
}

/// BLAKE2s-256 of the concatenation of `parts`.
pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2s::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}
