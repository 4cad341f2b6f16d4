//! Known-answer tests through this module's wrappers (RFC vectors, and values from
//! Python's hashlib/hmac and `cryptography`), the refusal of small-order keys, and
//! Noise-level checks. Interoperability with `snow` is tested at the session level
//! (`session.rs`), on the bytes that go over the wire.

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn h32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

// ---- BLAKE2s (RFC 7693) and Noise's HKDF (values from Python's hmac + hashlib.blake2s) ----

#[test]
fn blake2s_rfc7693_vectors_and_concatenated_input() {
    assert_eq!(hash(&[b"abc"]), h32("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"));
    assert_eq!(hash(&[b"a", b"", b"bc"]), hash(&[b"abc"]));
    assert_eq!(hash(&[]), h32("69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9"));
}

#[test]
fn noise_hkdf_matches_python() {
    let ck: [u8; 32] = core::array::from_fn(|i| i as u8);
    let (a, b) = hkdf(&ck, b"input key material").unwrap();
    assert_eq!(*a, h32("93e2a65883e34ac95485f5d0aa4b09163a4e944dab8cf9406d3a138e362851c6"));
    assert_eq!(*b, h32("dd6fae42afdb2a41170f44dc5b885ec4cfd17c8dd324d38b390c548630dd0a83"));
    let (a, b) = hkdf(&ck, &[]).unwrap();
    assert_eq!(*a, h32("7a38c34bf2b8738d7374ca77c44ecb309a11d2b2528304fa86052c365e722624"));
    assert_eq!(*b, h32("1a17621f346abdc520746a9fb64d8eb03231d674fc15687537b0780fd9c060fd"));
}

// ---- ChaCha20-Poly1305 with Noise's nonce ----

/// Noise's nonce: four zero bytes, then the counter little-endian (the 12-byte nonce is
/// 00000000 0102030405060708 here); value from Python's `cryptography`.
#[test]
fn noise_nonce_encoding_and_reserved_nonce() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let n = 0x0807_0605_0403_0201;
    let c = encrypt(&key, n, b"ad", b"hello noise").unwrap();
    assert_eq!(c, unhex("89dc789478c5199736ea06be7a785f42684ac1a2a1cd29ba6f80e0"));
    assert_eq!(decrypt(&key, n, b"ad", &c).unwrap(), b"hello noise");
    assert_eq!(decrypt(&key, n + 1, b"ad", &c), Err(Error::Decrypt));
    assert_eq!(decrypt(&key, n, b"da", &c), Err(Error::Decrypt));
    assert_eq!(decrypt(&key, n, b"ad", &c[..15]), Err(Error::Decrypt));
    for bit in [0, 7, 77, 8 * c.len() - 1] {
        let mut bad = c.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(decrypt(&key, n, b"ad", &bad), Err(Error::Decrypt), "bit {}", bit);
    }
    let c = encrypt(&key, u64::MAX, &[], b"x").unwrap();
    assert_eq!(decrypt(&key, u64::MAX, &[], &c), Err(Error::Decrypt), "2^64-1 is reserved");
}

/// REKEY is ENCRYPT at nonce 2^64 − 1 of 32 zero bytes, truncated to the key: the
/// keystream there, which is also what encrypting zeros at that nonce shows.
#[test]
fn rekey_is_the_keystream_at_the_reserved_nonce_and_changes_the_key() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let k1 = rekey(&key).unwrap();
    assert_eq!(&k1[..], &encrypt(&key, u64::MAX, &[], &[0; 32]).unwrap()[..32]);
    assert_ne!(*k1, key);
    assert_ne!(*rekey(&k1).unwrap(), *k1);
}

// ---- X25519 (RFC 7748) ----

#[test]
fn x25519_rfc7748_5_2_vectors() {
    let k = h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    let u = h32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    assert_eq!(*dh(&k, &u).unwrap(), h32("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
    // The u-coordinate has its top bit set, which must be ignored.
    let k = h32("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
    let u = h32("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
    assert_eq!(*dh(&k, &u).unwrap(), h32("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"));
    // §5.2's iteration, once: k = u = 9.
    let mut nine = [0u8; 32];
    nine[0] = 9;
    assert_eq!(*dh(&nine, &nine).unwrap(), h32("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"));
}

#[test]
fn x25519_rfc7748_6_1_diffie_hellman() {
    let a = h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let b = h32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let a_pub = public_key(&a);
    let b_pub = public_key(&b);
    assert_eq!(a_pub, h32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
    assert_eq!(b_pub, h32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
    let shared = h32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(*dh(&a, &b_pub).unwrap(), shared);
    assert_eq!(*dh(&b, &a_pub).unwrap(), shared);
    assert!(!is_low_order(&a_pub) && !is_low_order(&b_pub));
}

/// Non-canonical u-coordinates (at and above p) that are not of small order are
/// ordinary inputs; expected values from Python's `cryptography` (OpenSSL).
#[test]
fn x25519_non_canonical_u_coordinates() {
    let k = h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    // p + 9 ≡ 9
    let u = h32("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_eq!(*dh(&k, &u).unwrap(), h32("1c9fd88f45606d932a80c71824ae151d15d73e77de38e8e000852e614fae7019"));
    // 2^255 − 1 ≡ 18
    let u = h32("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_eq!(*dh(&k, &u).unwrap(), h32("76b00406ce7e87774c0038dd8d89b188047977f8828ca1dcb8f98bb5d5d0cf48"));
}

/// The points of order 1, 2, 4 and 8 on Curve25519 (cr.yp.to/ecdh.html, "validate"),
/// their non-canonical encodings p and p + 1, and each with the ignored top bit set.
pub(crate) const LOW_ORDER: [&str; 7] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[test]
fn every_small_order_point_gives_an_all_zero_dh_that_is_refused() {
    let (private, public) = generate_keypair().unwrap();
    for hex in LOW_ORDER {
        for top in [0u8, 0x80] {
            let mut u = h32(hex);
            u[31] |= top;
            assert_eq!(dh(&private, &u).err(), Some(Error::LowOrder), "u = {} top {:x}", hex, top);
            assert!(is_low_order(&u), "u = {} top {:x}", hex, top);
        }
    }
    assert!(!is_low_order(&public));
}

#[test]
fn a_small_order_peer_key_aborts_the_handshake_on_both_sides() {
    let (a_priv, a_pub) = generate_keypair().unwrap();
    let (b_priv, b_pub) = generate_keypair().unwrap();
    for hex in LOW_ORDER {
        let bad = h32(hex);
        // Initiator pinning a small-order responder key: `es` is zero, nothing is sent.
        let err = HandshakeState::new(true, b"p", &a_priv, &bad).write_message(&[]).unwrap_err();
        assert!(err.contains("small order"), "{}", err);
        // Responder pinning one: `es` from the initiator's ephemeral is fine, `ss` is zero.
        let m1 = HandshakeState::new(true, b"p", &a_priv, &b_pub).write_message(&[]).unwrap();
        assert_eq!(HandshakeState::new(false, b"p", &b_priv, &bad).read_message(&m1), Err(Error::LowOrder));
        // A small-order ephemeral in message 1: `es` is zero.
        let mut forged = m1.clone();
        forged[..32].copy_from_slice(&bad);
        assert_eq!(HandshakeState::new(false, b"p", &b_priv, &a_pub).read_message(&forged), Err(Error::LowOrder));
    }
}

// ---- Noise ----

#[test]
fn a_kk_handshake_between_two_of_ours_agrees_on_keys_and_refuses_out_of_turn_use() {
    let (a_priv, a_pub) = generate_keypair().unwrap();
    let (b_priv, b_pub) = generate_keypair().unwrap();
    let mut i = HandshakeState::new(true, b"p", &a_priv, &b_pub);
    let mut r = HandshakeState::new(false, b"p", &b_priv, &a_pub);
    assert_eq!(r.read_message(&[0x42; 48]), Err(Error::Decrypt));
    let mut r = HandshakeState::new(false, b"p", &b_priv, &a_pub);
    assert_eq!(r.read_message(&[0; 48]), Err(Error::LowOrder), "an all-zero ephemeral");
    let mut r = HandshakeState::new(false, b"p", &b_priv, &a_pub);
    assert!(r.write_message(&[]).is_err(), "the responder does not speak first");
    let m1 = i.write_message(b"one").unwrap();
    assert_eq!(m1.len(), 32 + 3 + 16);
    assert!(i.write_message(&[]).is_err());
    assert_eq!(r.read_message(&m1).unwrap(), b"one");
    let m2 = r.write_message(b"").unwrap();
    assert_eq!(i.read_message(&m2).unwrap(), b"");
    assert_eq!(i.read_message(&m2), Err(Error::Input), "done");
    let (i_send, i_recv) = i.split().unwrap();
    let (r_send, r_recv) = r.split().unwrap();
    assert_eq!((*i_send, *i_recv), (*r_recv, *r_send));
    assert_ne!(*i_send, *i_recv);
}

#[test]
fn a_different_prologue_fails_the_first_message() {
    let (a_priv, a_pub) = generate_keypair().unwrap();
    let (b_priv, b_pub) = generate_keypair().unwrap();
    let m1 = HandshakeState::new(true, b"v1", &a_priv, &b_pub).write_message(&[]).unwrap();
    assert_eq!(HandshakeState::new(false, b"v2", &b_priv, &a_pub).read_message(&m1), Err(Error::Decrypt));
    assert_eq!(HandshakeState::new(false, b"v1", &b_priv, &a_pub).read_message(&m1[..47]), Err(Error::Decrypt));
    assert_eq!(HandshakeState::new(false, b"v1", &b_priv, &a_pub).read_message(&m1[..31]), Err(Error::Input));
    assert!(HandshakeState::new(false, b"v1", &b_priv, &a_pub).read_message(&m1).is_ok());
}

#[test]
fn random_bytes_differ_and_key_pairs_match_their_public_half() {
    let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
    random(&mut x).unwrap();
    random(&mut y).unwrap();
    assert_ne!(x, y);
    let (private, public) = generate_keypair().unwrap();
    assert_eq!(public_key(&private), public);
}
