//! The Noise session: `Noise_KK_25519_ChaChaPoly_BLAKE2s`.
//!
//! KK because both routers already know each other's static key (pinned in UCI): the
//! first message authenticates the initiator to the responder (`es`, `ss`), the second
//! completes mutual authentication. A node with the wrong pinned key fails to decrypt
//! the first handshake payload, so a mis-paste is detected on the first connection.
//!
//! The primitives are vetted crates under our KK state machine ([`super::noise`]); the
//! tests below check it against `snow` on the wire bytes.
//!
//! Transport frames carry an explicit 64-bit nonce (as snow's `StatelessTransportState`) so a
//! replay (nonce not above the last accepted one) is told apart from tampering (AEAD
//! failure). Neither changes the session: the frame is dropped and counted.
//!
//! # Rekey
//!
//! Each direction's key is replaced by Noise's REKEY(k) when its nonce enters a new
//! epoch of 2^16 nonces ([`EPOCH_BITS`]). The sender also jumps to the next epoch when
//! its key is [`REKEY_AFTER`] old, so an idle link rekeys too. The receiver follows
//! the nonce on the wire, one epoch ahead at most; the new key replaces the old one
//! only once a frame under it authenticates. No message is added: the epoch is in the
//! nonce.
//!
//! Releases before this one do not rekey. Each handshake message carries a one-byte
//! payload of features ([`FEATURE_REKEY`]); the responder echoes the bit only when the
//! initiator sent it, and a session rekeys only when both did. Older peers send empty
//! payloads and ignore ours, so they keep one key per direction as before. The payload
//! is encrypted and bound into the handshake hash: a man in the middle cannot strip it.

use super::noise::{self, HandshakeState, Key, SecretKey};
use std::time::{Duration, Instant};

pub const PATTERN: &str = noise::PROTOCOL_NAME;
/// Binds the handshake to this protocol and version: a v2 peer cannot be mistaken for v1.
const PROLOGUE: &[u8] = b"muros-ha peer v1";
const TAG: usize = noise::TAGLEN;
/// Largest plaintext in one transport frame.
pub const MAX_PLAINTEXT: usize = 65535 - TAG;
/// Handshake payload bit: "I rekey by nonce epoch".
pub const FEATURE_REKEY: u8 = 0x01;
/// A key is used for at most 2^EPOCH_BITS nonces (18 h of 1 s heartbeats).
pub const EPOCH_BITS: u32 = 16;
/// …and for at most this long: the sender then moves to the next epoch.
pub const REKEY_AFTER: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Handshake message that does not authenticate with the pinned keys.
    Unauthenticated(String),
    /// Nonce not above the last accepted one.
    Replayed,
    /// AEAD check failed.
    Tampered,
    /// Shorter than nonce + tag.
    Short,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Unauthenticated(e) => write!(f, "handshake does not authenticate with the pinned key ({})", e),
            Reject::Replayed => f.write_str("replayed frame"),
            Reject::Tampered => f.write_str("frame fails authentication"),
            Reject::Short => f.write_str("frame too short"),
        }
    }
}

/// Generate a static key pair: (private, public).
pub fn generate_keypair() -> Result<(SecretKey, Key), String> {
    noise::generate_keypair().map_err(|e| format!("generating a key pair: {}", e))
}

/// Whether a handshake payload announces rekeying.
fn rekeys(payload: &[u8]) -> bool {
    payload.first().is_some_and(|f| f & FEATURE_REKEY != 0)
}

/// The dialling side, between its first message and the responder's answer.
pub struct Initiator(HandshakeState);

impl Initiator {
    /// Returns the state and the first handshake message (a frame body).
    pub fn start(local_private: &Key, remote_public: &Key) -> Result<(Initiator, Vec<u8>), String> {
        let mut hs = HandshakeState::new(true, PROLOGUE, local_private, remote_public);
        let msg = hs.write_message(&[FEATURE_REKEY]).map_err(|e| format!("handshake: {}", e))?;
        Ok((Initiator(hs), msg))
    }

    pub fn finish(mut self, message: &[u8]) -> Result<Transport, Reject> {
        let payload = self.0.read_message(message).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
        Transport::new(self.0, rekeys(&payload))
    }
}

/// The accepting side: reads message 1, answers with message 2, and is done.
pub fn respond(local_private: &Key, remote_public: &Key, message: &[u8]) -> Result<(Transport, Vec<u8>), Reject> {
    let mut hs = HandshakeState::new(false, PROLOGUE, local_private, remote_public);
    let payload = hs.read_message(message).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
    let rekey = rekeys(&payload);
    // An initiator of an older release gets the empty payload it always got.
    let answer: &[u8] = if rekey { &[FEATURE_REKEY] } else { &[] };
    let msg = hs.write_message(answer).map_err(Reject::Unauthenticated)?;
    Ok((Transport::new(hs, rekey)?, msg))
}

/// One direction's key and the nonce epoch it belongs to.
struct Direction {
    key: SecretKey,
    epoch: u64,
}

impl Direction {
    /// The key of epoch `epoch + 1`.
    fn next_key(&self) -> Result<SecretKey, String> {
        noise::rekey(&self.key).map_err(|e| format!("rekey: {}", e))
    }
}

/// An established session: one key per direction, nonces explicit on the wire.
pub struct Transport {
    send: Direction,
    recv: Direction,
    send_nonce: u64,
    /// Lowest nonce still acceptable.
    recv_next: u64,
    /// Both sides announced [`FEATURE_REKEY`].
    rekey: bool,
    /// When the current sending key came into use.
    send_since: Instant,
}

impl Transport {
    fn new(hs: HandshakeState, rekey: bool) -> Result<Transport, Reject> {
        let (send, recv) = hs.split().map_err(|e| Reject::Unauthenticated(e.to_string()))?;
        Ok(Transport {
            send: Direction { key: send, epoch: 0 },
            recv: Direction { key: recv, epoch: 0 },
            send_nonce: 0,
            recv_next: 0,
            rekey,
            send_since: Instant::now(),
        })
    }

    /// Whether this session rekeys (both ends support it).
    pub fn rekeys(&self) -> bool {
        self.rekey
    }

    /// Epoch of the current sending key (0 until the first rekey).
    pub fn send_epoch(&self) -> u64 {
        self.send.epoch
    }

    /// Encrypt `plaintext` (≤ [`MAX_PLAINTEXT`]) into a frame body: nonce ‖ ciphertext.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        self.seal_at(plaintext, Instant::now())
    }

    /// [`Self::seal`] at time `now`.
    pub fn seal_at(&mut self, plaintext: &[u8], now: Instant) -> Result<Vec<u8>, String> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(format!("{} bytes exceed one frame", plaintext.len()));
        }
        if self.rekey {
            if now.saturating_duration_since(self.send_since) >= REKEY_AFTER {
                // Skip the rest of this epoch's nonces: the receiver rekeys on the jump.
                self.send_nonce = self.send.epoch.checked_add(1).and_then(|e| e.checked_mul(1 << EPOCH_BITS)).ok_or("nonce space exhausted")?;
            }
            if self.send_nonce >> EPOCH_BITS != self.send.epoch {
                self.send.key = self.send.next_key()?;
                self.send.epoch += 1;
                self.send_since = now;
            }
        }
        let nonce = self.send_nonce;
        // Noise forbids nonce 2^64-1; a link would need centuries of 1 s heartbeats.
        self.send_nonce = nonce.checked_add(1).filter(|n| *n < u64::MAX).ok_or("nonce space exhausted")?;
        let mut out = nonce.to_be_bytes().to_vec();
        out.extend(noise::encrypt(&self.send.key, nonce, &[], plaintext).map_err(|e| e.to_string())?);
        Ok(out)
    }

    /// Decrypt a frame body; a rejected frame leaves the session unchanged.
    pub fn open(&mut self, body: &[u8]) -> Result<Vec<u8>, Reject> {
        if body.len() < 8 + TAG {
            return Err(Reject::Short);
        }
        let mut nb = [0u8; 8];
        nb.copy_from_slice(&body[..8]);
        let nonce = u64::from_be_bytes(nb);
        if nonce < self.recv_next {
            return Err(Reject::Replayed);
        }
        if body.len() - 8 > noise::MAX_MESSAGE {
            return Err(Reject::Tampered);
        }
        let epoch = if self.rekey { nonce >> EPOCH_BITS } else { 0 };
        // The sender moves one epoch at a time and TCP loses nothing: a nonce two epochs
        // ahead is forged (and would otherwise cost one REKEY per skipped epoch).
        let next = match epoch.checked_sub(self.recv.epoch) {
            Some(0) => None,
            Some(1) => Some(self.recv.next_key().map_err(|_| Reject::Tampered)?),
            Some(_) => return Err(Reject::Tampered),
            None => return Err(Reject::Replayed),
        };
        let key = next.as_ref().unwrap_or(&self.recv.key);
        let out = noise::decrypt(key, nonce, &[], &body[8..]).map_err(|_| Reject::Tampered)?;
        if let Some(k) = next {
            self.recv = Direction { key: k, epoch };
        }
        self.recv_next = nonce.saturating_add(1);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pair = (SecretKey, Key);

    fn pair() -> (Pair, Pair) {
        (generate_keypair().unwrap(), generate_keypair().unwrap())
    }

    fn connect() -> (Transport, Transport) {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let (ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
        let (resp, m2) = respond(&b_priv, &a_pub, &m1).unwrap();
        (ini.finish(&m2).unwrap(), resp)
    }

    #[test]
    fn pinned_keys_handshake_and_carry_data_both_ways() {
        let (mut a, mut b) = connect();
        let f = a.seal(b"heartbeat").unwrap();
        assert_eq!(b.open(&f).unwrap(), b"heartbeat");
        let g = b.seal(b"reply").unwrap();
        assert_eq!(a.open(&g).unwrap(), b"reply");
    }

    #[test]
    fn a_wrong_pinned_key_is_rejected_by_the_responder() {
        let ((a_priv, _a_pub), (b_priv, b_pub)) = pair();
        let (_, stranger) = generate_keypair().unwrap();
        let (_ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
        assert!(matches!(respond(&b_priv, &stranger, &m1), Err(Reject::Unauthenticated(_))));
        // …and the initiator pinning the wrong responder key is rejected too.
        let (_ini, m1) = Initiator::start(&a_priv, &stranger).unwrap();
        assert!(matches!(respond(&b_priv, &_a_pub, &m1), Err(Reject::Unauthenticated(_))));
    }

    #[test]
    fn replayed_and_flipped_frames_are_told_apart_and_leave_the_session_working() {
        let (mut a, mut b) = connect();
        let f1 = a.seal(b"one").unwrap();
        assert!(b.open(&f1).is_ok());
        assert_eq!(b.open(&f1), Err(Reject::Replayed));
        let mut f2 = a.seal(b"two").unwrap();
        let last = f2.len() - 1;
        f2[last] ^= 1;
        assert_eq!(b.open(&f2), Err(Reject::Tampered));
        f2[last] ^= 1;
        assert_eq!(b.open(&f2).unwrap(), b"two");
        // A nonce rewritten upward fails the AEAD rather than skipping the window ahead.
        let mut f3 = a.seal(b"three").unwrap();
        f3[0] = 0x7f;
        assert_eq!(b.open(&f3), Err(Reject::Tampered));
        f3[0] = 0;
        assert_eq!(b.open(&f3).unwrap(), b"three");
        assert_eq!(b.open(&[0u8; 10]), Err(Reject::Short));
    }

    #[test]
    fn a_responder_fed_random_bytes_rejects_without_panicking() {
        let ((_, a_pub), (b_priv, _)) = pair();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = if i % 3 == 0 { 48 } else { (seed % 300) as usize };
            let msg: Vec<u8> = (0..len).map(|j| (seed >> (j % 56)) as u8 ^ j as u8).collect();
            assert!(respond(&b_priv, &a_pub, &msg).is_err());
        }
        let (mut _a, mut b) = connect();
        for len in [0usize, 1, 23, 24, 25, 100, 1000] {
            let body: Vec<u8> = (0..len).map(|j| (j * 31) as u8).collect();
            assert!(b.open(&body).is_err());
        }
    }

    // ---- Rekey ----

    fn nonce_of(frame: &[u8]) -> u64 {
        u64::from_be_bytes(frame[..8].try_into().unwrap())
    }

    #[test]
    fn two_of_ours_agree_to_rekey_and_cross_an_epoch_by_count() {
        let (mut a, mut b) = connect();
        assert!(a.rekeys() && b.rekeys());
        let old_key = *a.send.key;
        // Fast-forward A's sending nonce to the end of epoch 0 (B accepts skipped nonces).
        a.send_nonce = (1 << EPOCH_BITS) - 1;
        let last = a.seal(b"last of epoch 0").unwrap();
        assert_eq!((nonce_of(&last), a.send_epoch()), ((1 << EPOCH_BITS) - 1, 0));
        assert_eq!(b.open(&last).unwrap(), b"last of epoch 0");
        let first = a.seal(b"first of epoch 1").unwrap();
        assert_eq!((nonce_of(&first), a.send_epoch()), (1 << EPOCH_BITS, 1));
        assert_eq!(*a.send.key, *noise::rekey(&old_key).unwrap());
        assert_eq!(b.open(&first).unwrap(), b"first of epoch 1");
        assert_eq!(b.recv.epoch, 1);
        assert_eq!(*b.recv.key, *a.send.key);
        // The old key is gone: the last frame of epoch 0 is a replay, and a frame sealed
        // under the old key at a new-epoch nonce fails authentication.
        assert_eq!(b.open(&last), Err(Reject::Replayed));
        let mut stale = ((1u64 << EPOCH_BITS) + 5).to_be_bytes().to_vec();
        stale.extend(noise::encrypt(&old_key, (1 << EPOCH_BITS) + 5, &[], b"x").unwrap());
        assert_eq!(b.open(&stale), Err(Reject::Tampered));
        // The other direction is untouched.
        let g = b.seal(b"reply").unwrap();
        assert_eq!((nonce_of(&g), b.send_epoch()), (0, 0));
        assert_eq!(a.open(&g).unwrap(), b"reply");
    }

    #[test]
    fn an_idle_sender_rekeys_after_rekey_after_and_the_receiver_follows() {
        let (mut a, mut b) = connect();
        let t0 = Instant::now();
        for i in 0..3u64 {
            let f = a.seal_at(b"hb", t0 + REKEY_AFTER * i as u32 + Duration::from_secs(1)).unwrap();
            assert_eq!(b.open(&f).unwrap(), b"hb");
        }
        // Two key ages passed: two epochs, one jump each, nonces left unused in between.
        assert_eq!(a.send_epoch(), 2);
        assert_eq!(b.recv.epoch, 2);
        assert_eq!(a.send_nonce, (2 << EPOCH_BITS) + 1);
        let f = a.seal_at(b"hb", t0 + REKEY_AFTER * 2 + Duration::from_secs(2)).unwrap();
        assert_eq!(nonce_of(&f), (2 << EPOCH_BITS) + 1, "no rekey before the key's age is up");
        assert_eq!(b.open(&f).unwrap(), b"hb");
    }

    #[test]
    fn a_nonce_two_epochs_ahead_is_refused_without_touching_the_session() {
        let (mut a, mut b) = connect();
        let mut far = a.seal(b"x").unwrap();
        far[..8].copy_from_slice(&(2u64 << EPOCH_BITS).to_be_bytes());
        assert_eq!(b.open(&far), Err(Reject::Tampered));
        far[..8].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(b.open(&far), Err(Reject::Tampered));
        assert_eq!(b.recv.epoch, 0);
        let f = a.seal(b"still fine").unwrap();
        assert_eq!(b.open(&f).unwrap(), b"still fine");
    }

    // ---- Interoperability with `snow`, what the previous release runs ----

    fn snow_builder<'a>(local_private: &'a [u8; 32], remote_public: &'a [u8; 32]) -> snow::Builder<'a> {
        let params: snow::params::NoiseParams = PATTERN.parse().unwrap();
        snow::Builder::new(params).prologue(PROLOGUE).unwrap().local_private_key(local_private).unwrap().remote_public_key(remote_public).unwrap()
    }

    fn frame(nonce: u64, ciphertext: &[u8]) -> Vec<u8> {
        let mut f = nonce.to_be_bytes().to_vec();
        f.extend_from_slice(ciphertext);
        f
    }

    /// Both directions of `t` against snow's stateless transport `st` (explicit nonces,
    /// some skipped), and the ciphertexts byte for byte.
    fn exchange(t: &mut Transport, st: &snow::StatelessTransportState) {
        let mut buf = vec![0u8; 70000];
        for (i, len) in [0usize, 1, 15, 16, 17, 64, 65, 1000, MAX_PLAINTEXT].into_iter().enumerate() {
            let msg: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
            // ours → snow: snow decrypts our frame at the nonce it carries
            let f = t.seal(&msg).unwrap();
            let nonce = u64::from_be_bytes(f[..8].try_into().unwrap());
            assert_eq!(nonce, i as u64);
            let n = st.read_message(nonce, &f[8..], &mut buf).expect("snow opens our frame");
            assert_eq!(&buf[..n], &msg[..]);
            // snow → ours, at a nonce that skips ahead
            let nonce = 3 * i as u64 + 2;
            let n = st.write_message(nonce, &msg, &mut buf).unwrap();
            let theirs = buf[..n].to_vec();
            assert_eq!(t.open(&frame(nonce, &theirs)).expect("we open snow's frame"), msg);
            // … and the same plaintext sealed by us at that nonce is the same bytes
            assert_eq!(noise::encrypt(&t.recv.key, nonce, &[], &msg).unwrap(), theirs);
            assert_eq!(t.open(&frame(nonce, &theirs)), Err(Reject::Replayed));
        }
    }

    #[test]
    fn our_initiator_and_a_snow_responder_interoperate() {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let (ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
        assert_eq!(m1.len(), 48 + 1, "e, the features byte, the tag");
        let mut hs = snow_builder(&b_priv, &a_pub).build_responder().unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(hs.read_message(&m1, &mut buf).expect("snow accepts our message 1"), 1);
        let n = hs.write_message(&[], &mut buf).unwrap();
        let mut t = ini.finish(&buf[..n]).expect("we accept snow's message 2");
        exchange(&mut t, &hs.into_stateless_transport_mode().unwrap());
    }

    #[test]
    fn a_snow_initiator_and_our_responder_interoperate() {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let mut hs = snow_builder(&a_priv, &b_pub).build_initiator().unwrap();
        let mut buf = [0u8; 256];
        let n = hs.write_message(&[], &mut buf).unwrap();
        let (mut t, m2) = respond(&b_priv, &a_pub, &buf[..n]).expect("we accept snow's message 1");
        assert_eq!(m2.len(), 48);
        assert_eq!(hs.read_message(&m2, &mut buf).expect("snow accepts our message 2"), 0);
        exchange(&mut t, &hs.into_stateless_transport_mode().unwrap());
    }

    /// A snow initiator sends no payload, as the previous release does: we answer with
    /// the same empty payload (a 48-byte message 2) and never rekey; we still open its
    /// frames past nonce 2^16 under the handshake's key.
    #[test]
    fn a_peer_that_does_not_announce_rekey_keeps_one_key_per_direction() {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let mut hs = snow_builder(&a_priv, &b_pub).build_initiator().unwrap();
        let mut buf = vec![0u8; 1024];
        let n = hs.write_message(&[], &mut buf).unwrap();
        let (mut t, m2) = respond(&b_priv, &a_pub, &buf[..n]).unwrap();
        assert_eq!(m2.len(), 48);
        assert_eq!(hs.read_message(&m2, &mut buf).unwrap(), 0, "no payload for an old peer");
        assert!(!t.rekeys());
        let st = hs.into_stateless_transport_mode().unwrap();
        let nonce = (1 << EPOCH_BITS) + 7;
        let n = st.write_message(nonce, b"late", &mut buf).unwrap();
        assert_eq!(t.open(&frame(nonce, &buf[..n])).unwrap(), b"late");
        t.send_nonce = nonce;
        let f = t.seal_at(b"late too", Instant::now() + REKEY_AFTER * 3).unwrap();
        assert_eq!(nonce_of(&f), nonce);
        let n = st.read_message(nonce, &f[8..], &mut buf).expect("snow opens it without rekeying");
        assert_eq!(&buf[..n], b"late too");
    }

    /// Our rekey is Noise's REKEY as snow implements it: after snow's `rekey_*`, both
    /// sides' frames in the new epoch open on the other side.
    #[test]
    fn our_rekey_matches_snows_in_both_directions() {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let (ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
        let mut hs = snow_builder(&b_priv, &a_pub).build_responder().unwrap();
        let mut buf = vec![0u8; 1024];
        let n = hs.read_message(&m1, &mut buf).unwrap();
        assert_eq!(&buf[..n], &[FEATURE_REKEY], "message 1 announces rekey");
        let n = hs.write_message(&[FEATURE_REKEY], &mut buf).unwrap();
        let mut t = ini.finish(&buf[..n]).unwrap();
        assert!(t.rekeys());
        let mut st = hs.into_stateless_transport_mode().unwrap();
        st.rekey_incoming();
        st.rekey_outgoing();
        t.send_nonce = 1 << EPOCH_BITS;
        let f = t.seal(b"epoch 1").unwrap();
        let n = st.read_message(1 << EPOCH_BITS, &f[8..], &mut buf).expect("snow opens our epoch-1 frame");
        assert_eq!(&buf[..n], b"epoch 1");
        let nonce = (1 << EPOCH_BITS) + 3;
        let n = st.write_message(nonce, b"epoch 1 back", &mut buf).unwrap();
        assert_eq!(t.open(&frame(nonce, &buf[..n])).unwrap(), b"epoch 1 back");
    }

    /// Many fresh key pairs and ephemerals, each way: the first transport frame opens.
    #[test]
    fn twenty_handshakes_each_way_with_snow_agree() {
        let mut buf = [0u8; 256];
        for _ in 0..20 {
            let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
            let (ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
            let mut hs = snow_builder(&b_priv, &a_pub).build_responder().unwrap();
            hs.read_message(&m1, &mut buf).unwrap();
            let n = hs.write_message(&[], &mut buf).unwrap();
            let mut t = ini.finish(&buf[..n]).unwrap();
            let n = hs.into_stateless_transport_mode().unwrap().write_message(0, b"hb", &mut buf).unwrap();
            assert_eq!(t.open(&frame(0, &buf[..n])).unwrap(), b"hb");

            let mut hs = snow_builder(&a_priv, &b_pub).build_initiator().unwrap();
            let n = hs.write_message(&[], &mut buf).unwrap();
            let (mut t, m2) = respond(&b_priv, &a_pub, &buf[..n]).unwrap();
            hs.read_message(&m2, &mut buf).unwrap();
            let f = t.seal(b"hb").unwrap();
            let n = hs.into_stateless_transport_mode().unwrap().read_message(0, &f[8..], &mut buf).unwrap();
            assert_eq!(&buf[..n], b"hb");
        }
    }

    /// Handshake payloads (none in this protocol, but Noise allows them) and wrong pinned
    /// keys behave as in snow, both ways.
    #[test]
    fn snow_and_we_agree_on_payloads_and_on_refusing_a_wrong_pinned_key() {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let (_, stranger) = generate_keypair().unwrap();
        let mut buf = [0u8; 256];
        let mut hs = snow_builder(&a_priv, &b_pub).build_initiator().unwrap();
        let n = hs.write_message(b"payload", &mut buf).unwrap();
        assert!(respond(&b_priv, &a_pub, &buf[..n]).is_ok());
        assert!(matches!(respond(&b_priv, &stranger, &buf[..n]), Err(Reject::Unauthenticated(_))));
        let (_ini, m1) = Initiator::start(&a_priv, &stranger).unwrap();
        let mut hs = snow_builder(&b_priv, &a_pub).build_responder().unwrap();
        assert!(hs.read_message(&m1, &mut buf).is_err());
        let (_ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
        let mut hs = snow_builder(&b_priv, &stranger).build_responder().unwrap();
        assert!(hs.read_message(&m1, &mut buf).is_err());
    }
}
