//! The Noise session: `Noise_KK_25519_ChaChaPoly_BLAKE2s`.
//!
//! KK because both routers already know each other's static key (pinned in UCI): the
//! first message authenticates the initiator to the responder (`es`, `ss`), the second
//! completes mutual authentication. A node with the wrong pinned key fails to decrypt
//! the first handshake payload, so a mis-paste is detected on the first connection.
//!
//! The Noise implementation is our own ([`super::noise`]); the tests below check it
//! against `snow`, which the previous release uses, on the wire bytes.
//!
//! Transport frames carry an explicit 64-bit nonce (as snow's `StatelessTransportState`) so a
//! replay (nonce not above the last accepted one) is told apart from tampering (AEAD
//! failure). Neither changes the session: the frame is dropped and counted.

use super::noise::{self, HandshakeState};

pub const PATTERN: &str = noise::PROTOCOL_NAME;
/// Binds the handshake to this protocol and version: a v2 peer cannot be mistaken for v1.
const PROLOGUE: &[u8] = b"muros-ha peer v1";
const TAG: usize = noise::TAGLEN;
/// Largest plaintext in one transport frame.
pub const MAX_PLAINTEXT: usize = 65535 - TAG;

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
pub fn generate_keypair() -> Result<([u8; 32], [u8; 32]), String> {
    noise::generate_keypair().map_err(|e| format!("generating a key pair: {}", e))
}

/// The dialling side, between its first message and the responder's answer.
pub struct Initiator(HandshakeState);

impl Initiator {
    /// Returns the state and the first handshake message (a frame body).
    pub fn start(local_private: &[u8; 32], remote_public: &[u8; 32]) -> Result<(Initiator, Vec<u8>), String> {
        let mut hs = HandshakeState::new(true, PROLOGUE, local_private, remote_public);
        let msg = hs.write_message(&[]).map_err(|e| format!("handshake: {}", e))?;
        Ok((Initiator(hs), msg))
    }

    pub fn finish(mut self, message: &[u8]) -> Result<Transport, Reject> {
        self.0.read_message(message).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
        Transport::new(self.0)
    }
}

/// The accepting side: reads message 1, answers with message 2, and is done.
pub fn respond(local_private: &[u8; 32], remote_public: &[u8; 32], message: &[u8]) -> Result<(Transport, Vec<u8>), Reject> {
    let mut hs = HandshakeState::new(false, PROLOGUE, local_private, remote_public);
    hs.read_message(message).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
    let msg = hs.write_message(&[]).map_err(Reject::Unauthenticated)?;
    Ok((Transport::new(hs)?, msg))
}

/// An established session: one key per direction, nonces explicit on the wire.
pub struct Transport {
    send: [u8; 32],
    recv: [u8; 32],
    send_nonce: u64,
    /// Lowest nonce still acceptable.
    recv_next: u64,
}

impl Transport {
    fn new(hs: HandshakeState) -> Result<Transport, Reject> {
        let (send, recv) = hs.split().map_err(|e| Reject::Unauthenticated(e.to_string()))?;
        Ok(Transport { send, recv, send_nonce: 0, recv_next: 0 })
    }

    /// Encrypt `plaintext` (≤ [`MAX_PLAINTEXT`]) into a frame body: nonce ‖ ciphertext.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(format!("{} bytes exceed one frame", plaintext.len()));
        }
        let nonce = self.send_nonce;
        // Noise forbids nonce 2^64-1; a link would need centuries of 1 s heartbeats.
        self.send_nonce = nonce.checked_add(1).filter(|n| *n < u64::MAX).ok_or("nonce space exhausted")?;
        let mut out = nonce.to_be_bytes().to_vec();
        out.extend(noise::encrypt(&self.send, nonce, &[], plaintext));
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
        let out = noise::decrypt(&self.recv, nonce, &[], &body[8..]).map_err(|_| Reject::Tampered)?;
        self.recv_next = nonce.saturating_add(1);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pair = ([u8; 32], [u8; 32]);

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
            assert_eq!(noise::encrypt(&t.recv, nonce, &[], &msg), theirs);
            assert_eq!(t.open(&frame(nonce, &theirs)), Err(Reject::Replayed));
        }
    }

    #[test]
    fn our_initiator_and_a_snow_responder_interoperate() {
        let ((a_priv, a_pub), (b_priv, b_pub)) = pair();
        let (ini, m1) = Initiator::start(&a_priv, &b_pub).unwrap();
        assert_eq!(m1.len(), 48);
        let mut hs = snow_builder(&b_priv, &a_pub).build_responder().unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(hs.read_message(&m1, &mut buf).expect("snow accepts our message 1"), 0);
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
