//! Known-answer tests from the RFCs, cross-checks against independent implementations
//! (Python's hashlib/hmac and `cryptography` for the values written out here, the
//! `blake2` crate live), and Noise-level checks. Interoperability with `snow` is tested
//! at the session level (`session.rs`), on the bytes that go over the wire.

use super::chacha20poly1305::{self as aead, Poly1305};
use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn h32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

// ---- BLAKE2s (RFC 7693) ----

#[test]
fn blake2s_rfc7693_vectors() {
    // RFC 7693 Appendix B ("abc") and the empty message.
    assert_eq!(blake2s::hash(&[b"abc"]), h32("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"));
    assert_eq!(blake2s::hash(&[]), h32("69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9"));
}

/// Inputs around and across block boundaries; expected values from Python's hashlib.
#[test]
fn blake2s_long_inputs_cross_block_boundaries() {
    let m: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    for (len, want) in [
        (63, "e57cb79487dd57902432b250733813bd96a84efce59f650fac26e6696aefafc3"),
        (64, "56f34e8b96557e90c1f24b52d0c89d51086acf1b00f634cf1dde9233b8eaaa3e"),
        (65, "1b53ee94aaf34e4b159d48de352c7f0661d0a40edff95a0b1639b4090e974472"),
        (128, "1fa877de67259d19863a2a34bcc6962a2b25fcbf5cbecd7ede8f1fa36688a796"),
        (129, "5bd169e67c82c2c2e98ef7008bdf261f2ddf30b1c00f9e7f275bb3e8a28dc9a2"),
        (1000, "1c067a5e746fb0f6734efac9a8cdb0e11061f0077f255184365c690115392501"),
    ] {
        assert_eq!(blake2s::hash(&[&m[..len]]), h32(want), "length {}", len);
    }
}

/// Against the `blake2` crate, every length up to three blocks and beyond, fed whole and
/// in uneven pieces.
#[test]
fn blake2s_matches_the_blake2_crate_however_the_input_is_split() {
    use blake2::Digest;
    let m: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
    for len in (0..=200).chain([255, 256, 257, 511, 512, 513, 700]) {
        let want: [u8; 32] = blake2::Blake2s256::digest(&m[..len]).into();
        assert_eq!(blake2s::hash(&[&m[..len]]), want, "length {}", len);
        for step in [1, 13, 64, 65] {
            let mut h = blake2s::Blake2s::new();
            for piece in m[..len].chunks(step) {
                h.update(piece);
            }
            assert_eq!(h.finalize(), want, "length {} in pieces of {}", len, step);
        }
    }
}

// ---- HMAC-BLAKE2s and Noise's HKDF (values from Python's hmac + hashlib.blake2s) ----

#[test]
fn hmac_blake2s_and_hkdf_match_python() {
    let ck: [u8; 32] = core::array::from_fn(|i| i as u8);
    assert_eq!(hmac(&ck, &[b"input key ", b"material"]), h32("644c615ad0d79808dc8990996135cac4c004afb89d2633a94436bfb1c0ab9a85"));
    let (a, b) = hkdf(&ck, b"input key material");
    assert_eq!(a, h32("93e2a65883e34ac95485f5d0aa4b09163a4e944dab8cf9406d3a138e362851c6"));
    assert_eq!(b, h32("dd6fae42afdb2a41170f44dc5b885ec4cfd17c8dd324d38b390c548630dd0a83"));
    let (a, b) = hkdf(&ck, &[]);
    assert_eq!(a, h32("7a38c34bf2b8738d7374ca77c44ecb309a11d2b2528304fa86052c365e722624"));
    assert_eq!(b, h32("1a17621f346abdc520746a9fb64d8eb03231d674fc15687537b0780fd9c060fd"));
}

// ---- ChaCha20-Poly1305 (RFC 8439) ----

#[test]
fn chacha20_block_rfc8439_2_3_2() {
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let nonce: [u8; 12] = unhex("000000090000004a00000000").try_into().unwrap();
    let want = unhex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
         d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
    );
    assert_eq!(aead::block(&key, 1, &nonce).to_vec(), want);
}

#[test]
fn poly1305_rfc8439_2_5_2() {
    let key = unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    let mut mac = Poly1305::new(&key);
    mac.update(b"Cryptographic Forum Research Group", false);
    assert_eq!(mac.finish().to_vec(), unhex("a8061dc1305136c6c22b8baf0c0127a9"));
}

/// A key whose r and s are all ones and a message of all ones: exercises the limb
/// carries and the final reduction's "h ≥ p" branch-free select (value from Python's
/// `cryptography`).
#[test]
fn poly1305_final_reduction_with_extreme_values() {
    let mut key = [0xffu8; 32];
    let mut mac = Poly1305::new(&key);
    mac.update(&[0xff; 64], false);
    let t = mac.finish();
    key[0] ^= 1;
    let mut mac2 = Poly1305::new(&key);
    mac2.update(&[0xff; 64], false);
    assert_ne!(t, mac2.finish());
    assert_eq!(t.to_vec(), unhex(POLY_ONES));
}
/// r = 1, s = 0 and two full blocks of 0xff: h = 2·(2^129 − 1) = 2^130 − 2 lies in
/// [p, 2^130), so only the final subtraction of p gives the right tag, 3.
#[test]
fn poly1305_final_subtraction_of_p() {
    let mut key = [0u8; 32];
    key[0] = 1;
    let mut mac = Poly1305::new(&key);
    mac.update(&[0xff; 32], false);
    let mut want = [0u8; 16];
    want[0] = 3;
    assert_eq!(mac.finish(), want);
}

const POLY_ONES: &str = "900fe32bc15fa8d7bca8efe4c7e37eb1";

const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

#[test]
fn aead_rfc8439_2_8_2_seals_opens_and_refuses_any_flipped_bit() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let nonce: [u8; 12] = unhex("070000004041424344454647").try_into().unwrap();
    let ad = unhex("50515253c0c1c2c3c4c5c6c7");
    let want = unhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
         3ff4def08e4b7a9de576d26586cec64b6116",
    );
    let want_tag = unhex("1ae10b594f09e26a7e902ecbd0600691");
    let mut data = SUNSCREEN.to_vec();
    let tag = aead::seal(&key, &nonce, &ad, &mut data);
    assert_eq!(data, want);
    assert_eq!(tag.to_vec(), want_tag);

    let mut opened = data.clone();
    assert!(aead::open(&key, &nonce, &ad, &mut opened, &tag));
    assert_eq!(opened, SUNSCREEN);

    for bit in [0, 7, 77, 127] {
        let mut bad_tag = tag;
        bad_tag[bit / 8] ^= 1 << (bit % 8);
        let mut d = data.clone();
        assert!(!aead::open(&key, &nonce, &ad, &mut d, &bad_tag), "tag bit {}", bit);
        assert_eq!(d, data, "a refused message is not decrypted");
    }
    let mut d = data.clone();
    d[100] ^= 0x20;
    assert!(!aead::open(&key, &nonce, &ad, &mut d, &tag));
    let mut d = data.clone();
    assert!(!aead::open(&key, &nonce, &ad[1..], &mut d, &tag));
    let mut other_nonce = nonce;
    other_nonce[0] ^= 1;
    assert!(!aead::open(&key, &other_nonce, &ad, &mut d, &tag));
}

/// Noise's nonce: four zero bytes, then the counter little-endian (the 12-byte nonce is
/// 00000000 0102030405060708 here); value from Python's `cryptography`.
#[test]
fn noise_nonce_encoding_and_reserved_nonce() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let n = 0x0807_0605_0403_0201;
    let c = encrypt(&key, n, b"ad", b"hello noise");
    assert_eq!(c, unhex("89dc789478c5199736ea06be7a785f42684ac1a2a1cd29ba6f80e0"));
    assert_eq!(decrypt(&key, n, b"ad", &c).unwrap(), b"hello noise");
    assert_eq!(decrypt(&key, n + 1, b"ad", &c), Err(Error::Decrypt));
    assert_eq!(decrypt(&key, n, b"ad", &c[..15]), Err(Error::Decrypt));
    let c = encrypt(&key, u64::MAX, &[], b"x");
    assert_eq!(decrypt(&key, u64::MAX, &[], &c), Err(Error::Decrypt), "2^64-1 is reserved");
}

// ---- X25519 (RFC 7748) ----

#[test]
fn x25519_rfc7748_5_2_vectors() {
    let k = h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    let u = h32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    assert_eq!(x25519::x25519(&k, &u), h32("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
    // The u-coordinate has its top bit set, which must be ignored.
    let k = h32("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
    let u = h32("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
    assert_eq!(x25519::x25519(&k, &u), h32("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"));
}

#[test]
fn x25519_rfc7748_5_2_iterated_1_and_1000_times() {
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for i in 1..=1000 {
        let r = x25519::x25519(&k, &u);
        u = k;
        k = r;
        if i == 1 {
            assert_eq!(k, h32("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"));
        }
    }
    assert_eq!(k, h32("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"));
}

#[test]
fn x25519_rfc7748_6_1_diffie_hellman() {
    let a = h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let b = h32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let a_pub = x25519::public_key(&a);
    let b_pub = x25519::public_key(&b);
    assert_eq!(a_pub, h32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
    assert_eq!(b_pub, h32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
    let shared = h32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(x25519::x25519(&a, &b_pub), shared);
    assert_eq!(x25519::x25519(&b, &a_pub), shared);
}

/// u-coordinates at and above p (non-canonical) and small values go through the same
/// arithmetic; expected values from Python's `cryptography` (OpenSSL).
#[test]
fn x25519_edge_u_coordinates() {
    let k = h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    for (u, want) in X25519_EDGES {
        assert_eq!(x25519::x25519(&k, &h32(u)), h32(want), "u = {}", u);
    }
}
const X25519_EDGES: &[(&str, &str)] = &[
    // p + 9 ≡ 9
    ("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "1c9fd88f45606d932a80c71824ae151d15d73e77de38e8e000852e614fae7019"),
    // 2^255 − 1 ≡ 18
    ("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "76b00406ce7e87774c0038dd8d89b188047977f8828ca1dcb8f98bb5d5d0cf48"),
    // p ≡ 0, p + 1 ≡ 1, 0 and 1: points of small order, the result is all zeros
    ("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "0000000000000000000000000000000000000000000000000000000000000000"),
    ("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "0000000000000000000000000000000000000000000000000000000000000000"),
    ("0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000000"),
    ("0100000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000000"),
];

// ---- Noise ----

#[test]
fn a_kk_handshake_between_two_of_ours_agrees_on_keys_and_refuses_out_of_turn_use() {
    let (a_priv, a_pub) = generate_keypair().unwrap();
    let (b_priv, b_pub) = generate_keypair().unwrap();
    let mut i = HandshakeState::new(true, b"p", &a_priv, &b_pub);
    let mut r = HandshakeState::new(false, b"p", &b_priv, &a_pub);
    assert_eq!(r.read_message(&[0; 48]), Err(Error::Decrypt));
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
    assert_eq!((i_send, i_recv), (r_recv, r_send));
    assert_ne!(i_send, i_recv);
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
    assert_eq!(x25519::public_key(&private), public);
}
