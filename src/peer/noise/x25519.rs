//! X25519 (RFC 7748 §5): the Montgomery ladder on Curve25519's u-coordinate.
//!
//! # Field representation
//!
//! An element of GF(2^255 − 19) is eight 32-bit limbs, little-endian, holding any value
//! below 2^256 (not necessarily reduced below p until `encode`). Products are schoolbook
//! 32×32→64-bit multiplies with 64-bit accumulators that provably cannot overflow; the
//! upper 256 bits fold back times 38 (2^256 ≡ 38 mod p). Chosen for code size and for
//! 32-bit routers: every multiply is one `multu` on MIPS32 (no `u128`, no 64×64 libcall),
//! the same code serves aarch64, and every routine is a short loop rather than the
//! unrolled radix-2^25.5 or radix-2^51 formulas that fast implementations use.
//!
//! # Constant time
//!
//! The ladder runs all 255 steps for every scalar, swaps with an xor under a mask derived
//! arithmetically from the key bit (never a branch or an index), and the arithmetic has
//! no data-dependent branches: carries are propagated by shifts, the last reductions
//! select with masks, and inversion is a fixed chain of squarings and multiplies (Fermat,
//! x^(p−2)) whose shape depends only on the public exponent.

type Fe = [u32; 8];

const ONE: Fe = [1, 0, 0, 0, 0, 0, 0, 0];
/// (A − 2) / 4 for A = 486662.
const A24: Fe = [121_665, 0, 0, 0, 0, 0, 0, 0];
const P: Fe = [0xffff_ffed, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0x7fff_ffff];

// The loops below that run per field operation are `while` loops: the same machine code
// as `for i in 0..8` once optimised, but unoptimised (debug builds, whose tests run
// thousands of handshakes) the range iterator's calls would cost more than the
// arithmetic.

/// Fold a signed carry out of the top limb back in: r + c·2^256 ≡ r + 38c. The second
/// pass absorbs the carry the first can produce; after it none is left.
fn fold(r: &mut Fe, mut c: i64) {
    let mut pass = 0;
    while pass < 2 {
        c *= 38;
        let mut i = 0;
        while i < 8 {
            c += r[i] as i64;
            r[i] = c as u32;
            c >>= 32;
            i += 1;
        }
        pass += 1;
    }
}

/// a + b, or a − b when `sub` (a public flag).
fn add(a: &Fe, b: &Fe, sub: bool) -> Fe {
    let mut r = [0u32; 8];
    let mut c = 0i64;
    let mut i = 0;
    while i < 8 {
        c += a[i] as i64;
        if sub {
            c -= b[i] as i64;
        } else {
            c += b[i] as i64;
        }
        r[i] = c as u32;
        c >>= 32;
        i += 1;
    }
    fold(&mut r, c);
    r
}

fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 8 {
        let ai = a[i] as u64;
        let mut c = 0u64;
        let mut j = 0;
        while j < 8 {
            // ≤ (2^32−1)² + 2·(2^32−1) = 2^64 − 1: cannot overflow.
            c += ai * b[j] as u64 + t[i + j] as u64;
            t[i + j] = c as u32;
            c >>= 32;
            j += 1;
        }
        t[i + 8] = c as u32;
        i += 1;
    }
    let mut r = [0u32; 8];
    let mut c = 0u64;
    let mut i = 0;
    while i < 8 {
        c += t[i] as u64 + 38 * t[i + 8] as u64;
        r[i] = c as u32;
        c >>= 32;
        i += 1;
    }
    fold(&mut r, c as i64);
    r
}

/// Swap `a` and `b` when `bit` is 1, without branching on it.
fn cswap(a: &mut Fe, b: &mut Fe, bit: u32) {
    let mask = core::hint::black_box(0u32.wrapping_sub(bit));
    let mut i = 0;
    while i < 8 {
        let t = mask & (a[i] ^ b[i]);
        a[i] ^= t;
        b[i] ^= t;
        i += 1;
    }
}

/// z^(p−2) = 1/z; p − 2 = 2^255 − 21 has every bit from 254 down set except 4 and 2.
fn invert(z: &Fe) -> Fe {
    let mut r = *z;
    for i in (0..254).rev() {
        r = mul(&r, &r);
        if i != 4 && i != 2 {
            r = mul(&r, z);
        }
    }
    r
}

/// Decode a u-coordinate, ignoring the top bit (§5); values ≥ p are used as they are.
fn decode(u: &[u8; 32]) -> Fe {
    let mut r = [0u32; 8];
    for (x, b) in r.iter_mut().zip(u.chunks_exact(4)) {
        *x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    r[7] &= 0x7fff_ffff;
    r
}

/// Reduce below p (a < 2^256 = 2p + 38, so at most two subtractions) and encode.
fn encode(mut a: Fe) -> [u8; 32] {
    for _ in 0..2 {
        let mut d = [0u32; 8];
        let mut c = 0i64;
        for i in 0..8 {
            c += a[i] as i64 - P[i] as i64;
            d[i] = c as u32;
            c >>= 32;
        }
        // c is −1 when a < p (keep a), 0 otherwise (take a − p).
        let keep = core::hint::black_box(c as u32);
        for i in 0..8 {
            a[i] = (a[i] & keep) | (d[i] & !keep);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(a) {
        o.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// X25519(k, u): the scalar is clamped here (§5), so any 32 random bytes are a key.
pub fn x25519(scalar: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
    let mut k = *scalar;
    k[0] &= 248;
    k[31] = (k[31] & 127) | 64;
    let x1 = decode(u);
    let (mut x2, mut z2, mut x3, mut z3) = (ONE, [0u32; 8], x1, ONE);
    let mut swap = 0u32;
    for t in (0..255).rev() {
        let bit = ((k[t / 8] >> (t % 8)) & 1) as u32;
        swap ^= bit;
        cswap(&mut x2, &mut x3, swap);
        cswap(&mut z2, &mut z3, swap);
        swap = bit;
        let a = add(&x2, &z2, false);
        let aa = mul(&a, &a);
        let b = add(&x2, &z2, true);
        let bb = mul(&b, &b);
        let e = add(&aa, &bb, true);
        let c = add(&x3, &z3, false);
        let d = add(&x3, &z3, true);
        let da = mul(&d, &a);
        let cb = mul(&c, &b);
        let s = add(&da, &cb, false);
        x3 = mul(&s, &s);
        let s = add(&da, &cb, true);
        z3 = mul(&x1, &mul(&s, &s));
        x2 = mul(&aa, &bb);
        z2 = mul(&e, &add(&aa, &mul(&A24, &e), false));
    }
    cswap(&mut x2, &mut x3, swap);
    cswap(&mut z2, &mut z3, swap);
    encode(mul(&x2, &invert(&z2)))
}

/// The public key of `scalar`: X25519(k, 9).
pub fn public_key(scalar: &[u8; 32]) -> [u8; 32] {
    let mut nine = [0u8; 32];
    nine[0] = 9;
    x25519(scalar, &nine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(x: u32) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&x.to_le_bytes());
        b
    }

    /// The field arithmetic at the edges of the relaxed representation: all-ones limbs
    /// are 2^256 − 1 ≡ 37, which needs both final subtractions of p.
    #[test]
    fn field_arithmetic_at_the_edges() {
        let max = [u32::MAX; 8];
        assert_eq!(encode(max), small(37));
        assert_eq!(encode(P), small(0));
        assert_eq!(encode(mul(&max, &max)), small(37 * 37));
        assert_eq!(encode(add(&max, &max, false)), small(74));
        assert_eq!(encode(add(&max, &ONE, false)), small(38));
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        assert_eq!(encode(add(&[0; 8], &ONE, true)), encode(p_minus_1));
        assert_eq!(encode(add(&ONE, &max, true)), encode(add(&P, &[36, 0, 0, 0, 0, 0, 0, 0], true)));
        assert_eq!(encode(mul(&invert(&A24), &A24)), small(1));
    }
}
