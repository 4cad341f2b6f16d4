//! `Noise_KK_25519_ChaChaPoly_BLAKE2s` (Noise Protocol Framework, revision 34): our KK
//! state machine over vetted primitives.
//!
//! | primitive | crate |
//! |---|---|
//! | X25519 | `x25519-dalek` (`curve25519-dalek`'s Montgomery ladder) |
//! | ChaCha20-Poly1305 | `chacha20poly1305` (RustCrypto) |
//! | BLAKE2s-256 | `blake2` (RustCrypto) |
//! | HMAC | `hmac`'s `SimpleHmac` (RustCrypto); Noise's HKDF is three HMACs |
//!
//! What is ours is the part no crate offers at the right size: the KK pattern's two
//! messages (`CipherState`/`SymmetricState`/`HandshakeState` of §5, inlined for one
//! pattern), REKEY (§4.2), and randomness. `snow` would do the same job with its pattern
//! parser, resolver and dynamic dispatch on top of the same primitives; it stays a
//! dev-dependency that checks us on the wire bytes (`session.rs`, `tests.rs`).
//!
//! # Refused keys
//!
//! Every DH result of all zeros (the peer's static or ephemeral key has small order, so
//! the "shared" secret is known to anyone) aborts the handshake with
//! [`Error::LowOrder`]: Noise allows either choice (§12.1), and KK's security rests on
//! both static keys contributing. [`is_low_order`] is the same test for `check`.
//!
//! # Secrets in memory
//!
//! Private keys, DH results, the chaining key and cipher keys live in [`SecretKey`]
//! (`Zeroizing`) or in the crates' own zeroize-on-drop types (`StaticSecret`,
//! `SharedSecret`, `ChaCha20Poly1305`, Poly1305's state), so they are wiped when
//! dropped. Not covered: `SimpleHmac`'s internal BLAKE2s state (the `blake2` and `hmac`
//! 0.x crates offer no zeroize), and copies the compiler makes on the stack.
//!
//! # Randomness
//!
//! Ephemeral and static private keys come from the getrandom(2) system call, which
//! blocks until the kernel's pool is initialised; an error is returned, never a weaker
//! fallback.

use blake2::{Blake2s256, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hmac::{Mac, SimpleHmac};
use x25519_dalek::{PublicKey, StaticSecret, X25519_BASEPOINT_BYTES};
use zeroize::Zeroizing;

pub const PROTOCOL_NAME: &str = "Noise_KK_25519_ChaChaPoly_BLAKE2s";
/// DHLEN, HASHLEN and the cipher key length: all 32 here.
pub const KEYLEN: usize = 32;
pub const TAGLEN: usize = 16;
/// Largest Noise message (§3).
pub const MAX_MESSAGE: usize = 65535;

pub type Key = [u8; KEYLEN];
/// A private key, DH result or symmetric key: wiped when dropped.
pub type SecretKey = Zeroizing<Key>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Malformed message: too short or too long, or out of turn.
    Input,
    /// An AEAD tag did not verify.
    Decrypt,
    /// A DH result of all zeros: the other side's key has small order.
    LowOrder,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Input => "input error",
            Error::Decrypt => "decrypt error",
            Error::LowOrder => "key of small order (all-zero DH result)",
        })
    }
}

/// Fill `buf` from getrandom(2) (the `getrandom` crate: retries on EINTR and short
/// reads, blocks until the kernel pool is initialised, never a weaker fallback).
pub fn random(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| format!("getrandom: {}", e))
}

fn random_key() -> Result<SecretKey, String> {
    let mut k = Zeroizing::new([0u8; KEYLEN]);
    random(&mut *k)?;
    Ok(k)
}

/// The X25519 public key of `private`: the ladder on u = 9. (`PublicKey::from` would
/// take the Edwards basepoint route, a second curve implementation in the binary.)
pub fn public_key(private: &Key) -> Key {
    x25519_dalek::x25519(*private, X25519_BASEPOINT_BYTES)
}

/// A fresh key pair: (private, public).
pub fn generate_keypair() -> Result<(SecretKey, Key), String> {
    let private = random_key()?;
    let public = public_key(&private);
    Ok((private, public))
}

/// DH(private, public), refused when the result is all zeros.
pub fn dh(private: &Key, public: &Key) -> Result<SecretKey, Error> {
    let shared = StaticSecret::from(*private).diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(Error::LowOrder);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// Whether `public` is a point of small order (or an encoding of one, such as p or
/// p + 1): then every DH with it is all zeros, whatever the private key. The scalar is
/// arbitrary (clamping makes every scalar a multiple of the cofactor 8); it is public.
pub fn is_low_order(public: &Key) -> bool {
    dh(&[0x5a; KEYLEN], public).is_err()
}

/// BLAKE2s-256 of the concatenated `data`.
pub fn hash(data: &[&[u8]]) -> Key {
    let mut h = Blake2s256::new();
    for d in data {
        h.update(d);
    }
    h.finalize().into()
}

/// HMAC-BLAKE2s(key, data…).
fn hmac(key: &[u8], data: &[&[u8]]) -> Result<SecretKey, Error> {
    let mut mac = <SimpleHmac<Blake2s256> as KeyInit>::new_from_slice(key).map_err(|_| Error::Input)?;
    for d in data {
        mac.update(d);
    }
    Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
}

/// Noise's HKDF with two outputs (§4.3): RFC 5869 HKDF-BLAKE2s with the chaining key
/// as salt and empty info, written out as Noise states it.
pub fn hkdf(chaining_key: &Key, ikm: &[u8]) -> Result<(SecretKey, SecretKey), Error> {
    let temp = hmac(chaining_key, &[ikm])?;
    let out1 = hmac(&*temp, &[&[1]])?;
    let out2 = hmac(&*temp, &[&*out1, &[2]])?;
    Ok((out1, out2))
}

/// The AEAD nonce for Noise's 64-bit counter: 32 zero bits, then the counter
/// little-endian (§12.3).
fn nonce(n: u64) -> chacha20poly1305::Nonce {
    let mut b = [0u8; 12];
    b[4..].copy_from_slice(&n.to_le_bytes());
    b.into()
}

/// ENCRYPT(k, n, ad, plaintext) = ciphertext ‖ tag.
pub fn encrypt(key: &Key, n: u64, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(plaintext.len() + TAGLEN);
    out.extend_from_slice(plaintext);
    let tag = ChaCha20Poly1305::new(key.into()).encrypt_in_place_detached(&nonce(n), ad, &mut out).map_err(|_| Error::Input)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// DECRYPT(k, n, ad, ciphertext ‖ tag). Nonce 2^64 − 1 is reserved (§5.1) and refused.
pub fn decrypt(key: &Key, n: u64, ad: &[u8], message: &[u8]) -> Result<Vec<u8>, Error> {
    if message.len() < TAGLEN || n == u64::MAX {
        return Err(Error::Decrypt);
    }
    let (ct, tag) = message.split_at(message.len() - TAGLEN);
    let mut out = ct.to_vec();
    ChaCha20Poly1305::new(key.into()).decrypt_in_place_detached(&nonce(n), ad, &mut out, tag.into()).map_err(|_| Error::Decrypt)?;
    Ok(out)
}

/// REKEY(k) (§4.2): the first 32 bytes of ENCRYPT(k, 2^64 − 1, empty, 32 zero bytes).
pub fn rekey(key: &Key) -> Result<SecretKey, Error> {
    let mut k = Zeroizing::new([0u8; KEYLEN]);
    ChaCha20Poly1305::new(key.into()).encrypt_in_place_detached(&nonce(u64::MAX), &[], &mut *k).map_err(|_| Error::Input)?;
    Ok(k)
}

/// SymmetricState (§5.2) with its CipherState (§5.1) inlined: `k` is `None` until the
/// first MixKey.
struct SymmetricState {
    ck: SecretKey,
    h: Key,
    k: Option<SecretKey>,
    n: u64,
}

impl SymmetricState {
    fn new() -> SymmetricState {
        // The name is longer than HASHLEN, so h = HASH(name).
        let h = hash(&[PROTOCOL_NAME.as_bytes()]);
        SymmetricState { ck: Zeroizing::new(h), h, k: None, n: 0 }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = hash(&[&self.h, data]);
    }

    fn mix_key(&mut self, ikm: &[u8]) -> Result<(), Error> {
        let (ck, k) = hkdf(&self.ck, ikm)?;
        self.ck = ck;
        self.k = Some(k);
        self.n = 0;
        Ok(())
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let out = match &self.k {
            Some(k) => encrypt(k, self.n, &self.h, plaintext)?,
            None => plaintext.to_vec(),
        };
        if self.k.is_some() {
            self.n += 1;
        }
        self.mix_hash(&out);
        Ok(out)
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
    s: SecretKey,
    e: SecretKey,
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
        let own = public_key(s);
        let (i_pub, r_pub) = if initiator { (&own, rs) } else { (rs, &own) };
        sym.mix_hash(i_pub);
        sym.mix_hash(r_pub);
        HandshakeState { sym, initiator, s: Zeroizing::new(*s), e: Zeroizing::new([0; KEYLEN]), rs: *rs, re: [0; KEYLEN], next: 0 }
    }

    /// The DH tokens of message `next`, from this side's point of view.
    fn mix_dh(&mut self) -> Result<(), Error> {
        for (i_eph, r_eph) in KK[self.next] {
            let (mine, theirs) = if self.initiator { (i_eph, r_eph) } else { (r_eph, i_eph) };
            let local = if mine { &self.e } else { &self.s };
            let remote = if theirs { &self.re } else { &self.rs };
            let shared = dh(local, remote)?;
            self.sym.mix_key(&*shared)?;
        }
        Ok(())
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
        self.e = random_key()?;
        let mut out = public_key(&self.e).to_vec();
        self.sym.mix_hash(&out);
        self.mix_dh().map_err(|e| e.to_string())?;
        out.extend(self.sym.encrypt_and_hash(payload).map_err(|e| e.to_string())?);
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
        self.mix_dh()?;
        let payload = self.sym.decrypt_and_hash(rest)?;
        self.next += 1;
        Ok(payload)
    }

    /// Split (§5.2) once both messages are through: (sending key, receiving key) for
    /// this side, to be used with explicit nonces ([`encrypt`], [`decrypt`]).
    pub fn split(self) -> Result<(SecretKey, SecretKey), Error> {
        if self.next != KK.len() {
            return Err(Error::Input);
        }
        let (k1, k2) = hkdf(&self.sym.ck, &[])?;
        Ok(if self.initiator { (k1, k2) } else { (k2, k1) })
    }
}

#[cfg(test)]
mod tests;
