//! ChaCha20-Poly1305 AEAD (RFC 8439) with a 96-bit nonce; Noise builds its nonce as four
//! zero bytes and the 64-bit counter little-endian (`super::nonce`).
//!
//! ChaCha20 is additions, xors and fixed rotations: constant time by construction.
//! Poly1305 works on five 26-bit limbs so every product is a 32×32→64-bit multiply (one
//! `multu` on 32-bit MIPS, no 128-bit or libcall arithmetic) and a row of five sums stays
//! far below 2^64; the final reduction selects with a mask, and [`open`] compares tags by
//! folding the xor of all bytes before looking at the result, and verifies before it
//! decrypts.

use super::arx;

/// Quarter-round rotations, left, as RFC 8439 §2.1 has them.
const ROT: [u32; 4] = [16, 12, 8, 7];

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// One 64-byte ChaCha20 key-stream block (RFC 8439 §2.3).
pub fn block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
    let mut init = [0u32; 16];
    // "expand 32-byte k"
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for i in 0..8 {
        init[4 + i] = le32(&key[4 * i..]);
    }
    init[12] = counter;
    for i in 0..3 {
        init[13 + i] = le32(&nonce[4 * i..]);
    }
    let mut x = init;
    for _ in 0..10 {
        for i in 0..8 {
            arx(&mut x, i, 0, 0, ROT);
        }
    }
    let mut out = [0u8; 64];
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(init[i]).to_le_bytes());
    }
    out
}

/// XOR `data` with the key stream starting at block `counter` (encrypts and decrypts).
pub fn xor(key: &[u8; 32], counter: u32, nonce: &[u8; 12], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(64).enumerate() {
        let ks = block(key, counter.wrapping_add(i as u32), nonce);
        for (d, k) in chunk.iter_mut().zip(ks) {
            *d ^= k;
        }
    }
}

const MASK26: u32 = 0x03ff_ffff;

/// A little-endian number of up to 17 bytes as five 26-bit limbs.
fn limbs(b: &[u8; 17]) -> [u32; 5] {
    let mut l = [0u32; 5];
    for (i, x) in l.iter_mut().enumerate() {
        *x = (le32(&b[26 * i / 8..]) >> (26 * i % 8)) & MASK26;
    }
    l
}

/// Poly1305 (RFC 8439 §2.5), accumulator h and clamped key r in 26-bit limbs.
pub struct Poly1305 {
    r: [u32; 5],
    h: [u32; 5],
    s: [u8; 16],
}

impl Poly1305 {
    /// `key`: the 32-byte one-time key (r ‖ s); longer input is ignored past 32 bytes.
    pub fn new(key: &[u8]) -> Poly1305 {
        let mut r = [0u8; 17];
        r[..16].copy_from_slice(&key[..16]);
        for i in [3, 7, 11, 15] {
            r[i] &= 15;
        }
        for i in [4, 8, 12] {
            r[i] &= 252;
        }
        let mut s = [0u8; 16];
        s.copy_from_slice(&key[16..32]);
        Poly1305 { r: limbs(&r), h: [0; 5], s }
    }

    /// Feed `data` in 16-byte blocks. `pad`: the last partial block is zero-padded to a
    /// full one (the AEAD's pad16); otherwise it is a short block per §2.5.1 (only valid
    /// at the end of the message).
    pub fn update(&mut self, data: &[u8], pad: bool) {
        for chunk in data.chunks(16) {
            let mut b = [0u8; 17];
            b[..chunk.len()].copy_from_slice(chunk);
            b[if pad { 16 } else { chunk.len() }] = 1;
            self.block(&b);
        }
    }

    /// h = (h + m) · r mod 2^130 − 5, partially reduced.
    fn block(&mut self, b: &[u8; 17]) {
        let m = limbs(b);
        let (h, r) = (&mut self.h, &self.r);
        for i in 0..5 {
            h[i] += m[i];
        }
        // Limb products that land at or above 2^130 wrap around times 5.
        let mut d = [0u64; 5];
        for (i, di) in d.iter_mut().enumerate() {
            for j in 0..5 {
                let rr = if j <= i { r[i - j] } else { 5 * r[i + 5 - j] };
                *di += h[j] as u64 * rr as u64;
            }
        }
        let mut c = 0u64;
        for i in 0..5 {
            c += d[i];
            h[i] = c as u32 & MASK26;
            c >>= 26;
        }
        c = h[0] as u64 + c * 5;
        h[0] = c as u32 & MASK26;
        h[1] += (c >> 26) as u32;
    }

    pub fn finish(self) -> [u8; 16] {
        let mut h = self.h;
        // Carry fully (twice around: the wrap can carry once more) so h < 2^130 …
        for _ in 0..2 {
            let mut c = 0;
            for x in h.iter_mut() {
                *x += c;
                c = *x >> 26;
                *x &= MASK26;
            }
            h[0] += c * 5;
        }
        // … then h − p = h + 5 − 2^130: keep it when that does not go negative.
        let mut g = [0u32; 5];
        let mut c = 5;
        for (gi, hi) in g.iter_mut().zip(h) {
            *gi = hi + c;
            c = *gi >> 26;
            *gi &= MASK26;
        }
        let use_g = core::hint::black_box(0u32.wrapping_sub(c));
        for (hi, gi) in h.iter_mut().zip(g) {
            *hi = (*hi & !use_g) | (gi & use_g);
        }
        // tag = (h + s) mod 2^128
        let mut tag = [0u8; 16];
        let mut c = 0u64;
        for k in 0..4 {
            let w = (h[k] >> (6 * k)) | (h[k + 1] << (26 - 6 * k));
            c += w as u64 + le32(&self.s[4 * k..]) as u64;
            tag[4 * k..4 * k + 4].copy_from_slice(&(c as u32).to_le_bytes());
            c >>= 32;
        }
        tag
    }
}

/// The AEAD tag of `ad` and `ciphertext` (RFC 8439 §2.8).
fn tag(key: &[u8; 32], nonce: &[u8; 12], ad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let otk = block(key, 0, nonce);
    let mut mac = Poly1305::new(&otk);
    mac.update(ad, true);
    mac.update(ciphertext, true);
    let mut lens = [0u8; 16];
    lens[..8].copy_from_slice(&(ad.len() as u64).to_le_bytes());
    lens[8..].copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    mac.update(&lens, true);
    mac.finish()
}

/// Encrypt `data` in place; returns the tag.
pub fn seal(key: &[u8; 32], nonce: &[u8; 12], ad: &[u8], data: &mut [u8]) -> [u8; 16] {
    xor(key, 1, nonce, data);
    tag(key, nonce, ad, data)
}

/// Check `tag` over `ad` and `data` in constant time, then decrypt `data` in place.
/// False (and `data` untouched) when the tag does not match.
pub fn open(key: &[u8; 32], nonce: &[u8; 12], ad: &[u8], data: &mut [u8], tag_in: &[u8; 16]) -> bool {
    let expected = tag(key, nonce, ad, data);
    let diff = expected.iter().zip(tag_in).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if core::hint::black_box(diff) != 0 {
        return false;
    }
    xor(key, 1, nonce, data);
    true
}
