//! The crate root's unit tests, and the one test PRNG the library's unit tests share
//! (these).

/// Deterministic xorshift64*: varied inputs, the same every run.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn integers_parse_like_std_without_signs_or_blanks() {
    for s in ["0", "7", "00042", "18446744073709551615", "18446744073709551616", "", "+1", " 1", "1 ", "1a", "-1", "١"] {
        let std = if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
        assert_eq!(crate::parse_u64(s), std, "{s:?}");
    }
    for s in ["-9223372036854775808", "9223372036854775807", "-9223372036854775809", "9223372036854775808", "-0", "-", "--1", "-+1", "12"] {
        let std = if s.strip_prefix('-').unwrap_or(s).bytes().all(|b| b.is_ascii_digit()) { s.parse::<i64>().ok() } else { None };
        assert_eq!(crate::parse_i64(s), std, "{s:?}");
    }
}

#[test]
fn sort_small_is_a_stable_sort() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    for n in 0..200 {
        let v: Vec<(u8, usize)> = (0..n).map(|i| (r.below(7) as u8, i)).collect();
        let (mut ours, mut std) = (v.clone(), v);
        crate::sort_small(&mut ours, |a, b| a.0 < b.0);
        std.sort_by_key(|x| x.0);
        assert_eq!(ours, std, "n = {n}");
    }
}

#[test]
fn quoted_escapes_as_json_does() {
    assert_eq!(crate::quoted("MAS\"TER\n\u{1}é"), r#""MAS\"TER\n\u0001é""#);
}
