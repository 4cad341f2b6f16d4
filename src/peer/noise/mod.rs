//! `Noise_KK_25519_ChaChaPoly_BLAKE2s` (Noise Protocol Framework, revision 34) and its
//! primitives, written for this crate.
//!
//! # Why our own
//!
//! Size. The router binary has a budget of a few hundred kilobytes, and the general
//! crates (`snow`, whose default resolver also drags in BLAKE2b, `curve25519-dalek`,
//! `chacha20`, `poly1305`, `blake2` and their trait crates) cost 86 KB of code on 32-bit
//! MIPS and 33 KB on aarch64 for one fixed protocol. This module implements exactly that
//! protocol: one handshake pattern, one cipher, one hash, one curve, in short loops, and
//! nothing else (no rekey, no PSK, no other pattern), in about 11.5 KB on MIPS and 7 KB
//! on aarch64. It is wire-compatible with `snow`, which the tests check handshake by
//! handshake and frame by frame, so it talks to peers of the previous release.
//!
//! The price is speed: an X25519 is several times slower than `curve25519-dalek`'s (by
//! instruction count some 6 M cycles, about 10 ms on a 600 MHz 32-bit MIPS router; six
//! per handshake side). The link does one
//! handshake per (re)connection and one AEAD per heartbeat, so that is acceptable.
//!
//! | module | what |
//! |---|---|
//! | [`x25519`] | RFC 7748 X25519: Montgomery ladder, 8×32-bit limbs |
//! | [`chacha20poly1305`] | RFC 8439 AEAD, Poly1305 in 5×26-bit limbs |
//! | [`blake2s`] | RFC 7693 BLAKE2s-256, unkeyed |
//! | this file | HMAC/HKDF, `CipherState`/`SymmetricState`/`HandshakeState` for KK, randomness |
//!
//! # Constant time
//!
//! Secrets (private keys, DH results, chaining and cipher keys) only flow through
//! arithmetic, xors, masks and fixed-shape loops: no branch and no table index depends on
//! them. The only secret-dependent decision is whether an AEAD tag matched, taken after a
//! constant-time comparison. Lengths, nonces and the handshake's progress are public.
//! Masks that select or swap secret data pass through `core::hint::black_box` so the
//! optimiser does not turn them back into branches. Like any portable implementation,
//! this assumes the CPU's 32×32→64-bit multiply takes the same time for all operands.
//! Secrets are not zeroized on drop; they are kept in as few copies as the code needs.
//!
//! # Randomness
//!
//! Ephemeral and static private keys come from the getrandom(2) system call, which
//! blocks until the kernel's pool is initialised; an error is returned, never a weaker
//! fallback.

pub mod blake2s;
pub mod chacha20poly1305;
pub mod x25519;

use blake2s::Blake2s;

pub const PROTOCOL_NAME: &str = "Noise_KK_25519_ChaChaPoly_BLAKE2s";
/// DHLEN, HASHLEN and the cipher key length: all 32 here.
pub const KEYLEN: usize = 32;
pub const TAGLEN: usize = 16;
/// Largest Noise message (§3).
pub const MAX_MESSAGE: usize = 65535;

type Key = [u8; KEYLEN];

/// The quarter-round shared by ChaCha20 and BLAKE2s's G on a 4×4 state of words: with
/// `x = y = 0` and left rotations 16/12/8/7 it is ChaCha20's; with message words and
/// right rotations 16/12/8/7 (left 16/20/24/25) it is G. `i` in 0..4 picks a column,
/// 4..8 a diagonal, in the order both specifications use.
fn arx(v: &mut [u32; 16], i: usize, x: u32, y: u32, rot: [u32; 4]) {
    let (j, k) = (i & 3, i >> 2);
    let (a, b, c, d) = (j, 4 + ((j + k) & 3), 8 + ((j + 2 * k) & 3), 12 + ((j + 3 * k) & 3));
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_left(rot[0]);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_left(rot[1]);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_left(rot[2]);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_left(rot[3]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Malformed message: too short or too long, or out of turn.
    Input,
    /// An AEAD tag did not verify.
    Decrypt,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Input => "input error",
            Error::Decrypt => "decrypt error",
        })
    }
}

/// Fill `buf` from getrandom(2), retrying on EINTR and short reads.
#[allow(unsafe_code)]
pub fn random(buf: &mut [u8]) -> Result<(), String> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`, which we own
        // mutably for the duration of the call.
        let n = unsafe { nix::libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("getrandom: {}", e));
            }
        } else {
            done += n as usize;
        }
    }
    Ok(())
}

/// A fresh key pair: (private, public).
pub fn generate_keypair() -> Result<(Key, Key), String> {
    let mut private = [0u8; KEYLEN];
    random(&mut private)?;
    let public = x25519::public_key(&private);
    Ok((private, public))
}

/// HMAC-BLAKE2s (RFC 2104, 64-byte block) of the concatenated `data`, 32-byte key.
pub fn hmac(key: &Key, data: &[&[u8]]) -> Key {
    let mut pad = [0x36u8; 64];
    for (p, k) in pad.iter_mut().zip(key) {
        *p ^= k;
    }
    let mut inner = Blake2s::new();
    inner.update(&pad);
    for d in data {
        inner.update(d);
    }
    let inner = inner.finalize();
    // 0x36 ^ 0x5c turns the inner pad into the outer one.
    for p in pad.iter_mut() {
        *p ^= 0x36 ^ 0x5c;
    }
    blake2s::hash(&[&pad, &inner])
}

/// Noise's HKDF with two outputs (§4.3).
pub fn hkdf(chaining_key: &Key, ikm: &[u8]) -> (Key, Key) {
    let temp = hmac(chaining_key, &[ikm]);
    let out1 = hmac(&temp, &[&[1]]);
    let out2 = hmac(&temp, &[&out1, &[2]]);
    (out1, out2)
}

/// The AEAD nonce for Noise's 64-bit counter: 32 zero bits, then the counter
/// little-endian (§12.3).
fn nonce(n: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[4..].copy_from_slice(&n.to_le_bytes());
    b
}

/// ENCRYPT(k, n, ad, plaintext) = ciphertext ‖ tag.
pub fn encrypt(key: &Key, n: u64, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + TAGLEN);
    out.extend_from_slice(plaintext);
    let tag = chacha20poly1305::seal(key, &nonce(n), ad, &mut out);
    out.extend_from_slice(&tag);
    out
}

/// DECRYPT(k, n, ad, ciphertext ‖ tag). Nonce 2^64 − 1 is reserved (§5.1) and refused.
pub fn decrypt(key: &Key, n: u64, ad: &[u8], message: &[u8]) -> Result<Vec<u8>, Error> {
    if message.len() < TAGLEN || n == u64::MAX {
        return Err(Error::Decrypt);
    }
    let (ct, tag) = message.split_at(message.len() - TAGLEN);
    let mut tag16 = [0u8; TAGLEN];
    tag16.copy_from_slice(tag);
    let mut out = ct.to_vec();
    if chacha20poly1305::open(key, &nonce(n), ad, &mut out, &tag16) {
        Ok(out)
    } else {
        Err(Error::Decrypt)
    }
}

/// SymmetricState (§5.2) with its CipherState (§5.1) inlined: `k` is `None` until the
/// first MixKey.
struct SymmetricState {
    ck: Key,
    h: Key,
    k: Option<Key>,
    n: u64,
}

impl SymmetricState {
    fn new() -> SymmetricState {
        // The name is longer than HASHLEN, so h = HASH(name).
        let h = blake2s::hash(&[PROTOCOL_NAME.as_bytes()]);
        SymmetricState { ck: h, h, k: None, n: 0 }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = blake2s::hash(&[&self.h, data]);
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, k) = hkdf(&self.ck, ikm);
        self.ck = ck;
        self.k = Some(k);
        self.n = 0;
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let out = match &self.k {
            Some(k) => encrypt(k, self.n, &self.h, plaintext),
            None => plaintext.to_vec(),
        };
        if self.k.is_some() {
            self.n += 1;
        }
        self.mix_hash(&out);
        out
    }

    fn decrypt_and_hash(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let out = match &self.k {
            Some(k) => decrypt(k, self.n, &self.h, data)?,
            None => data.to_vec(),
        };
        if self.k.is_some() {
            self.n += 1;
        }
        self.mix_hash(data);
        Ok(out)
    }
}

/// The KK pattern's messages after the pre-messages (`-> s`, `<- s`): each starts with
/// `e`, then two DH tokens, named (initiator's key, responder's key), `true` = ephemeral.
const KK: [[(bool, bool); 2]; 2] = [
    [(true, false), (false, false)], // -> e, es, ss
    [(true, true), (false, true)],   // <- e, ee, se
];

/// HandshakeState (§5.3) for KK, either side.
pub struct HandshakeState {
    sym: SymmetricState,
    initiator: bool,
    s: Key,
    e: Key,
    rs: Key,
    re: Key,
    /// Index of the next message in [`KK`]; 2 = done.
    next: usize,
}

impl HandshakeState {
    /// Initialize(KK, prologue, s, rs): both static keys are known before the first message.
    pub fn new(initiator: bool, prologue: &[u8], s: &Key, rs: &Key) -> HandshakeState {
        let mut sym = SymmetricState::new();
        sym.mix_hash(prologue);
        let own = x25519::public_key(s);
        let (i_pub, r_pub) = if initiator { (&own, rs) } else { (rs, &own) };
        sym.mix_hash(i_pub);
        sym.mix_hash(r_pub);
        HandshakeState { sym, initiator, s: *s, e: [0; KEYLEN], rs: *rs, re: [0; KEYLEN], next: 0 }
    }

    /// The DH tokens of message `next`, from this side's point of view.
    fn mix_dh(&mut self) {
        for (i_eph, r_eph) in KK[self.next] {
            let (mine, theirs) = if self.initiator { (i_eph, r_eph) } else { (r_eph, i_eph) };
            let local = if mine { &self.e } else { &self.s };
            let remote = if theirs { &self.re } else { &self.rs };
            let dh = x25519::x25519(local, remote);
            self.sym.mix_key(&dh);
        }
    }

    fn our_turn(&self) -> bool {
        self.next < KK.len() && (self.next == 0) == self.initiator
    }

    /// WriteMessage: a fresh ephemeral key, the DH tokens, and `payload` encrypted.
    pub fn write_message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if !self.our_turn() {
            return Err("handshake message out of turn".into());
        }
        if KEYLEN + payload.len() + TAGLEN > MAX_MESSAGE {
            return Err(format!("{} bytes exceed a handshake message", payload.len()));
        }
        random(&mut self.e)?;
        let mut out = x25519::public_key(&self.e).to_vec();
        self.sym.mix_hash(&out);
        self.mix_dh();
        out.extend(self.sym.encrypt_and_hash(payload));
        self.next += 1;
        Ok(out)
    }

    /// ReadMessage: the peer's ephemeral key, the DH tokens, and the payload decrypted.
    /// On error the state is spent: a handshake is not retried on the same state.
    pub fn read_message(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        if self.next >= KK.len() || self.our_turn() || message.len() > MAX_MESSAGE || message.len() < KEYLEN {
            return Err(Error::Input);
        }
        let (re, rest) = message.split_at(KEYLEN);
        self.re.copy_from_slice(re);
        self.sym.mix_hash(re);
        self.mix_dh();
        let payload = self.sym.decrypt_and_hash(rest)?;
        self.next += 1;
        Ok(payload)
    }

    /// Split (§5.2) once both messages are through: (sending key, receiving key) for
    /// this side, to be used with explicit nonces ([`encrypt`], [`decrypt`]).
    pub fn split(self) -> Result<(Key, Key), Error> {
        if self.next != KK.len() {
            return Err(Error::Input);
        }
        let (k1, k2) = hkdf(&self.sym.ck, &[]);
        Ok(if self.initiator { (k1, k2) } else { (k2, k1) })
    }
}

#[cfg(test)]
mod tests;
