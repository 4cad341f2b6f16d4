//! The Noise session: `Noise_KK_25519_ChaChaPoly_BLAKE2s`.
//!
//! KK because both routers already know each other's static key (pinned in UCI): the
//! first message authenticates the initiator to the responder (`es`, `ss`), the second
//! completes mutual authentication. A node with the wrong pinned key fails to decrypt
//! the first handshake payload, so a mis-paste is detected on the first connection.
//!
//! Transport frames carry an explicit 64-bit nonce (`StatelessTransportState`) so a
//! replay (nonce not above the last accepted one) is told apart from tampering (AEAD
//! failure). Neither changes the session: the frame is dropped and counted.

use snow::{HandshakeState, StatelessTransportState};

pub const PATTERN: &str = "Noise_KK_25519_ChaChaPoly_BLAKE2s";
/// Binds the handshake to this protocol and version: a v2 peer cannot be mistaken for v1.
const PROLOGUE: &[u8] = b"muros-ha peer v1";
const TAG: usize = 16;
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

fn params() -> Result<snow::params::NoiseParams, String> {
    PATTERN.parse().map_err(|e| format!("noise params: {:?}", e))
}

/// Generate a static key pair: (private, public).
pub fn generate_keypair() -> Result<([u8; 32], [u8; 32]), String> {
    let kp = snow::Builder::new(params()?).generate_keypair().map_err(|e| format!("generating a key pair: {}", e))?;
    let private: [u8; 32] = kp.private.as_slice().try_into().map_err(|_| "private key is not 32 bytes".to_string())?;
    let public: [u8; 32] = kp.public.as_slice().try_into().map_err(|_| "public key is not 32 bytes".to_string())?;
    Ok((private, public))
}

fn builder_state(local_private: &[u8; 32], remote_public: &[u8; 32], initiator: bool) -> Result<HandshakeState, String> {
    let b = snow::Builder::new(params()?)
        .prologue(PROLOGUE)
        .and_then(|b| b.local_private_key(local_private))
        .and_then(|b| b.remote_public_key(remote_public))
        .map_err(|e| format!("noise builder: {}", e))?;
    if initiator { b.build_initiator() } else { b.build_responder() }.map_err(|e| format!("noise builder: {}", e))
}

/// The dialling side, between its first message and the responder's answer.
pub struct Initiator(HandshakeState);

impl Initiator {
    /// Returns the state and the first handshake message (a frame body).
    pub fn start(local_private: &[u8; 32], remote_public: &[u8; 32]) -> Result<(Initiator, Vec<u8>), String> {
        let mut hs = builder_state(local_private, remote_public, true)?;
        let mut buf = vec![0u8; 256];
        let n = hs.write_message(&[], &mut buf).map_err(|e| format!("handshake: {}", e))?;
        buf.truncate(n);
        Ok((Initiator(hs), buf))
    }

    pub fn finish(mut self, message: &[u8]) -> Result<Transport, Reject> {
        let mut payload = vec![0u8; message.len()];
        self.0.read_message(message, &mut payload).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
        Transport::new(self.0)
    }
}

/// The accepting side: reads message 1, answers with message 2, and is done.
pub fn respond(local_private: &[u8; 32], remote_public: &[u8; 32], message: &[u8]) -> Result<(Transport, Vec<u8>), Reject> {
    let mut hs = builder_state(local_private, remote_public, false).map_err(Reject::Unauthenticated)?;
    let mut payload = vec![0u8; message.len()];
    hs.read_message(message, &mut payload).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
    let mut buf = vec![0u8; 256];
    let n = hs.write_message(&[], &mut buf).map_err(|e| Reject::Unauthenticated(e.to_string()))?;
    buf.truncate(n);
    Ok((Transport::new(hs)?, buf))
}

/// An established session.
pub struct Transport {
    state: StatelessTransportState,
    send_nonce: u64,
    /// Lowest nonce still acceptable.
    recv_next: u64,
}

impl Transport {
    fn new(hs: HandshakeState) -> Result<Transport, Reject> {
        let state = hs.into_stateless_transport_mode().map_err(|e| Reject::Unauthenticated(e.to_string()))?;
        Ok(Transport { state, send_nonce: 0, recv_next: 0 })
    }

    /// Encrypt `plaintext` (≤ [`MAX_PLAINTEXT`]) into a frame body: nonce ‖ ciphertext.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(format!("{} bytes exceed one frame", plaintext.len()));
        }
        let nonce = self.send_nonce;
        // Noise forbids nonce 2^64-1; a link would need centuries of 1 s heartbeats.
        self.send_nonce = nonce.checked_add(1).filter(|n| *n < u64::MAX).ok_or("nonce space exhausted")?;
        let mut out = vec![0u8; 8 + plaintext.len() + TAG];
        out[..8].copy_from_slice(&nonce.to_be_bytes());
        let n = self.state.write_message(nonce, plaintext, &mut out[8..]).map_err(|e| format!("encrypt: {}", e))?;
        out.truncate(8 + n);
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
        let mut out = vec![0u8; body.len() - 8];
        let n = self.state.read_message(nonce, &body[8..], &mut out).map_err(|_| Reject::Tampered)?;
        out.truncate(n);
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
}
