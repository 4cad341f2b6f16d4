//! JSON of our own: a [`Value`] tree, a strict parser, compact and pretty writers, the
//! [`json!`](crate::json::json) builder, and the helpers our records use to read and
//! write themselves.
//!
//! # Why not serde
//!
//! Size. On a router CPU serde + serde_json cost ~40 KB (aarch64) to ~83 KB (mipsel) of
//! the stripped binary: the generic deserializer is monomorphised for every type, plus
//! derives, float formatting tables and parsing tables. What we exchange is small and
//! fixed (history lines, state files, peer messages, ubus replies), so every record
//! writes and reads itself by hand through the non-generic code here.
//!
//! # What it guarantees
//!
//! - **Output is byte-identical to `serde_json::to_string` / `to_string_pretty`** for
//!   everything we emit: objects of a [`Value`] keep their keys sorted (a [`Map`], in
//!   the byte-wise order of serde_json's default `Map`, a `BTreeMap`); records written
//!   through [`ObjectWriter`] keep the order of their fields (what serde does for a
//!   struct); strings escape `"` `\` `\n` `\r` `\t` `\b` `\f` and other control
//!   characters as `\u00xx`, keep everything else (non-ASCII, `/`, DEL) as is; pretty
//!   output indents by two spaces and writes `": "`, `[]` and `{}`. Integers print
//!   exactly.
//! - **Floats** are only ever passed through (ubus DOUBLEs): we never make one, and
//!   nothing here computes with one — on the MIPS routers each float operation is a
//!   soft-float call and their conversions cost ~7 KB. A double prints in serde_json's
//!   layout (`1.0`, `0.00001`, `1e-6`, `1e+16`, non-finite as `null`) with its exact value
//!   rounded to 17 significant digits by integer arithmetic ([`f64_text`]): serde_json's
//!   very text whenever that exact value has at most 15 digits (1.5, 0.25, 1e16), else
//!   17 digits that read back to the same double (0.1 prints `0.10000000000000001`).
//! - **The parser is strict RFC 8259**, like serde_json's: one value, surrounded by
//!   optional whitespace, nothing after it; no trailing commas, no leading zeros, no
//!   `+`, no NaN; strings must be valid UTF-8 without raw control characters; every
//!   escape (`\uXXXX` included) is checked and surrogates must come in pairs. Nesting
//!   is limited to [`MAX_DEPTH`] (serde_json's 128) so hostile input cannot exhaust the
//!   stack. Integers become `u64` (non-negative) or `i64` (negative); any other number
//!   (`1.5`, `1e3`, `-0`, 2^64) keeps its text and is written back byte for byte, so no
//!   digit is lost and no range applies (serde_json makes a float of it and refuses
//!   beyond 1e308). Such a text equals a double with the same decimal digits. Duplicate
//!   keys: the last one wins. Errors say what and where
//!   (`expected `:` at line 1 column 6`); no input makes it panic.
//! - Records ([`Fields`]) follow serde's derive rules: unknown fields are ignored
//!   (forward compatibility), a missing field is an error unless it is an `Option`
//!   (then `None`, as is `null`), a value of the wrong type is an error.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// An object: its members sorted by key (byte-wise, the order of serde_json's default
/// `Map`, a `BTreeMap`) in one `Vec`, found by binary search. Far less code than a
/// `BTreeMap` (its insert, search, iteration, clone and drop: 2.5 KB on aarch64, 3.6 KB
/// on mipsel). A member inserted out of order moves the ones after it, which is nothing
/// for the few dozen members our code builds; parsed objects (from the peer, ubus, our
/// files) are sorted once instead, so no input order makes parsing quadratic.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Map(Vec<(String, Value)>);

impl Map {
    pub fn new() -> Self {
        Map(Vec::new())
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Where `key` is (`Ok`) or would go (`Err`).
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }
    /// Sets the member `key`; returns the value it had.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }
    /// The member `key`, added as `null` when missing (what `v["key"] = …` assigns to).
    pub fn get_or_insert_null(&mut self, key: &str) -> &mut Value {
        let i = self.find(key).unwrap_or_else(|i| {
            self.0.insert(i, (key.to_string(), Value::Null));
            i
        });
        &mut self.0[i].1
    }
    /// The members in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.0.iter())
    }
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }
}

/// Printed as a map, `{"key": value, …}`, as `BTreeMap` is.
impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The members of a [`Map`] in key order, as `(&key, &value)`.
#[derive(Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (String, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The members in key order, by value.
impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Members in any order; of duplicate keys the last one wins.
impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(members: I) -> Self {
        Map::from_members(members.into_iter().collect())
    }
}

impl Map {
    /// Members in any order, sorted once: n log n whatever the order. (Inserting them one
    /// by one is quadratic when keys arrive in reverse order, and the parser takes objects
    /// from the peer and from ubus.) Of duplicate keys the last one wins.
    fn from_members(mut members: Vec<(String, Value)>) -> Map {
        // Stable: equal keys keep their order, so the last of a run is the last given.
        members.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, Value)> = Vec::with_capacity(members.len());
        for m in members {
            match out.last_mut() {
                Some(last) if last.0 == m.0 => *last = m,
                _ => out.push(m),
            }
        }
        Map(out)
    }
}

/// Nesting limit of the parser, serde_json's: 127 levels of arrays and objects parse,
/// 128 do not.
pub const MAX_DEPTH: u32 = 128;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON number: an unsigned or a negative integer, a finite double (from a ubus
/// DOUBLE or built in Rust), or — parsed from text and not an integer — its text,
/// verbatim. As in serde_json, `1` and `1.0` are different numbers.
///
/// Nothing here computes with floats: on the MIPS routers every float operation is a
/// soft-float library call, and the conversions cost about 7 KB. Doubles are compared
/// by their bits and written by [`f64_text`] with integer arithmetic; parsed text is
/// never converted to a double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(N);

#[derive(Debug, Clone)]
enum N {
    PosInt(u64),
    /// Always < 0.
    NegInt(i64),
    /// Always finite.
    Float(f64),
    /// A number read from text that is no i64/u64 integer (`1.5`, `1e3`, `-0`,
    /// `18446744073709551616`): its text, written back as it came.
    Text(Box<str>),
}

impl PartialEq for N {
    /// Integers by value; a double and a text by their decimal digits, so `1.5`, `1.50`
    /// and `15e-1` equal the double 1.5 (a double prints its exact value to 17 digits:
    /// `0.1` is not the double nearest to 0.1, whose digits are 0.10000000000000001).
    fn eq(&self, other: &N) -> bool {
        match (self, other) {
            (N::PosInt(a), N::PosInt(b)) => a == b,
            (N::NegInt(a), N::NegInt(b)) => a == b,
            (N::Float(a), N::Float(b)) => a.to_bits() == b.to_bits(),
            (N::Float(_) | N::Text(_), N::Float(_) | N::Text(_)) => decimal(&self.text()) == decimal(&other.text()),
            _ => false,
        }
    }
}

impl Eq for N {}

impl N {
    /// A float's text as it is written.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            N::Text(t) => std::borrow::Cow::Borrowed(t),
            N::Float(f) => std::borrow::Cow::Owned(f64_text(*f)),
            _ => std::borrow::Cow::Borrowed(""),
        }
    }
}

/// A decimal number's text → (negative, significant digits, exponent of the last one),
/// for comparing: `-1.50e1` → (true, "15", 0).
fn decimal(t: &str) -> (bool, String, i64) {
    let (negative, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
    let (mantissa, exp) = t.split_once(['e', 'E']).unwrap_or((t, "0"));
    let exp = crate::parse_i64(exp.strip_prefix('+').unwrap_or(exp)).unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    let kept = digits.trim_start_matches('0');
    let trimmed = kept.trim_end_matches('0');
    let exp = exp - frac.len() as i64 + (kept.len() - trimmed.len()) as i64;
    if trimmed.is_empty() {
        (negative, String::new(), 0)
    } else {
        (negative, trimmed.to_string(), exp)
    }
}

impl Number {
    /// A double; `None` for NaN and infinities (JSON has no such numbers).
    pub fn from_f64(f: f64) -> Option<Number> {
        // The exponent bits, not `is_finite`, which is a float comparison.
        (f.to_bits() >> 52 & 0x7ff != 0x7ff).then_some(Number(N::Float(f)))
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::PosInt(u) => Some(u),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::PosInt(u) => i64::try_from(u).ok(),
            N::NegInt(i) => Some(i),
            _ => None,
        }
    }
    /// The double of a ubus DOUBLE or of a float built in Rust (not of parsed text).
    pub fn as_double(&self) -> Option<f64> {
        match self.0 {
            N::Float(f) => Some(f),
            _ => None,
        }
    }
    /// Parsed text that is no integer (`1.5`), as it came.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            N::Text(t) => Some(t),
            _ => None,
        }
    }
    /// Any number as a float (integers may round), as in serde_json. Links float code
    /// (conversions, core's decimal parser); the router binary does not call it.
    pub fn as_f64(&self) -> Option<f64> {
        match &self.0 {
            N::PosInt(u) => Some(*u as f64),
            N::NegInt(i) => Some(*i as f64),
            N::Float(f) => Some(*f),
            N::Text(t) => t.parse().ok(),
        }
    }
    pub fn is_f64(&self) -> bool {
        matches!(self.0, N::Float(_) | N::Text(_))
    }
}

impl From<u64> for Number {
    fn from(u: u64) -> Self {
        Number(N::PosInt(u))
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number(if i < 0 { N::NegInt(i) } else { N::PosInt(i as u64) })
    }
}

static NULL: Value = Value::Null;

impl Value {
    /// The member `key` of an object (`None` for a missing key or a non-object).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// What kind of value this is, for messages: `null`, `a bool`, `a number`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
    /// Compact text, as `serde_json::to_string`.
    pub fn write(&self, out: &mut String) {
        write_value(out, self, None);
    }
}

/// Pretty text, as `serde_json::to_string_pretty` (also `format!("{:#}", v)`).
pub fn to_string_pretty(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v, Some(0));
    s
}

/// `{}` is the compact form, `{:#}` the pretty one (as serde_json's `Display`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_value(&mut s, self, f.alternate().then_some(0));
        f.write_str(&s)
    }
}

/// `v["key"]`: the member, or `null` when missing or not an object.
impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `v[i]`: the element, or `null` when out of range or not an array.
impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

/// `v["key"] = …`: inserts into an object; any other value (`null`, as in serde_json,
/// but also a scalar or an array, where serde_json panics) is first replaced by `{}`.
impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, key: &str) -> &mut Value {
        if !matches!(self, Value::Object(_)) {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(m) => m.get_or_insert_null(key),
            _ => self,
        }
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}
impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}
impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}
impl PartialEq<i64> for Value {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}
impl PartialEq<i32> for Value {
    fn eq(&self, other: &i32) -> bool {
        self.as_i64() == Some(i64::from(*other))
    }
}
impl PartialEq<u64> for Value {
    fn eq(&self, other: &u64) -> bool {
        self.as_u64() == Some(*other)
    }
}

// ---------------------------------------------------------------------------------------
// Building values

/// Turns a Rust value into JSON: what [`json!`](crate::json::json) calls on each
/// embedded expression (by reference, like serde_json's `to_value(&expr)`).
pub trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for Value {
    fn to_json(&self) -> Value {
        self.clone()
    }
}
impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}
impl ToJson for str {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
}
impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}
impl ToJson for u64 {
    fn to_json(&self) -> Value {
        Value::Number(Number::from(*self))
    }
}
impl ToJson for i64 {
    fn to_json(&self) -> Value {
        Value::Number(Number::from(*self))
    }
}
macro_rules! to_json_via {
    ($via:ty: $($t:ty)*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                (*self as $via).to_json()
            }
        }
    )*};
}
to_json_via!(u64: u8 u16 u32 usize);
to_json_via!(i64: i8 i16 i32 isize);
/// Non-finite floats become `null`, as in serde_json.
impl ToJson for f64 {
    fn to_json(&self) -> Value {
        Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}
/// Addresses as text (`192.0.2.1`, `2001:db8::1`), as serde writes them.
impl ToJson for IpAddr {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
}
impl ToJson for Ipv4Addr {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
}
impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
}
/// `None` is `null`.
impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
}
impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(T::to_json).collect())
    }
}
impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        self.as_slice().to_json()
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Value::Number(u.into())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(i.into())
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Number(i64::from(i).into())
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

/// An object from `(key, value)` pairs (a later duplicate wins). The values are taken
/// out of the slice; [`json!`](crate::json::json) objects expand to one call of this.
pub fn object(members: &mut [(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in members {
        m.insert((*k).to_string(), std::mem::take(v));
    }
    Value::Object(m)
}

/// Builds a [`Value`] with JSON syntax, like serde_json's `json!`: `null`, arrays,
/// objects with string-literal keys, and any expression whose type implements
/// [`ToJson`] (taken by reference).
///
/// ```
/// use muros_ha::json::json;
/// let n = 3;
/// let v = json!({ "a": [1, null, "x"], "n": n * 2, "o": { "t": true } });
/// assert_eq!(v.to_string(), r#"{"a":[1,null,"x"],"n":6,"o":{"t":true}}"#);
/// ```
#[doc(inline)]
pub use crate::__json as json;

#[macro_export]
#[doc(hidden)]
macro_rules! __json {
    (null) => {
        $crate::json::Value::Null
    };
    ([ $($tt:tt)* ]) => {
        $crate::json::Value::Array($crate::__json_array!([] $($tt)*))
    };
    ({ $($tt:tt)* }) => {
        $crate::json::object(&mut $crate::__json_object!([] $($tt)*))
    };
    ($e:expr) => {
        $crate::json::ToJson::to_json(&$e)
    };
}

/// Munches array elements, one per step, into `vec![…]`.
#[macro_export]
#[doc(hidden)]
macro_rules! __json_array {
    ([ $($done:expr,)* ]) => {
        ::std::vec![$($done,)*]
    };
    ([ $($done:expr,)* ] null $(, $($rest:tt)*)?) => {
        $crate::__json_array!([ $($done,)* $crate::json::Value::Null, ] $($($rest)*)?)
    };
    ([ $($done:expr,)* ] [ $($a:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::__json_array!([ $($done,)* $crate::__json!([ $($a)* ]), ] $($($rest)*)?)
    };
    ([ $($done:expr,)* ] { $($o:tt)* } $(, $($rest:tt)*)?) => {
        $crate::__json_array!([ $($done,)* $crate::__json!({ $($o)* }), ] $($($rest)*)?)
    };
    ([ $($done:expr,)* ] $e:expr $(, $($rest:tt)*)?) => {
        $crate::__json_array!([ $($done,)* $crate::__json!($e), ] $($($rest)*)?)
    };
}

/// Munches object members, one per step, into `[(key, value), …]`.
#[macro_export]
#[doc(hidden)]
macro_rules! __json_object {
    ([ $($done:expr,)* ]) => {
        [$($done,)*]
    };
    ([ $($done:expr,)* ] $k:literal : null $(, $($rest:tt)*)?) => {
        $crate::__json_object!([ $($done,)* ($k, $crate::json::Value::Null), ] $($($rest)*)?)
    };
    ([ $($done:expr,)* ] $k:literal : [ $($a:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::__json_object!([ $($done,)* ($k, $crate::__json!([ $($a)* ])), ] $($($rest)*)?)
    };
    ([ $($done:expr,)* ] $k:literal : { $($o:tt)* } $(, $($rest:tt)*)?) => {
        $crate::__json_object!([ $($done,)* ($k, $crate::__json!({ $($o)* })), ] $($($rest)*)?)
    };
    ([ $($done:expr,)* ] $k:literal : $e:expr $(, $($rest:tt)*)?) => {
        $crate::__json_object!([ $($done,)* ($k, $crate::__json!($e)), ] $($($rest)*)?)
    };
}

// ---------------------------------------------------------------------------------------
// Writing

fn write_value(out: &mut String, v: &Value, pretty: Option<usize>) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                separator(out, i, pretty);
                write_value(out, x, pretty.map(|l| l + 1));
            }
            close(out, a.is_empty(), pretty, ']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                separator(out, i, pretty);
                write_str(out, k);
                out.push_str(if pretty.is_some() { ": " } else { ":" });
                write_value(out, x, pretty.map(|l| l + 1));
            }
            close(out, m.is_empty(), pretty, '}');
        }
    }
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn separator(out: &mut String, i: usize, pretty: Option<usize>) {
    if i > 0 {
        out.push(',');
    }
    if let Some(l) = pretty {
        newline(out, l + 1);
    }
}

fn close(out: &mut String, empty: bool, pretty: Option<usize>, c: char) {
    if let (Some(l), false) = (pretty, empty) {
        newline(out, l);
    }
    out.push(c);
}

/// A string literal with serde_json's escapes.
/// `s` as a JSON string literal: how messages quote a value they got (for ordinary
/// text the same as `{:?}`, which the release binary does not format: `-Zfmt-debug=none`).
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str(&mut out, s);
    out
}

pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Decimal digits of `n`.
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[i..] {
        out.push(d as char);
    }
}

fn write_number(out: &mut String, n: &Number) {
    match &n.0 {
        N::PosInt(u) => write_u64(out, *u),
        N::NegInt(i) => {
            out.push('-');
            write_u64(out, i.unsigned_abs());
        }
        N::Float(f) => out.push_str(&f64_text(*f)),
        N::Text(t) => out.push_str(t),
    }
}

/// A finite double as JSON text, with integer arithmetic only: its exact binary value
/// (m × 2^e, expanded in base 10^9) rounded half-to-even to 17 significant digits —
/// always enough to read back the same double — trailing zeros dropped, in serde_json's
/// layout: decimal for 1e-5 ≤ |f| < 1e16 (`1.0`, `0.00001`, `1.5`), exponent otherwise
/// (`1e+16`, `1.5e-7`). Not always the shortest text: the double nearest to 0.1 prints
/// as `0.10000000000000001`. NaN and infinities print as `null`.
pub fn f64_text(f: f64) -> String {
    const LIMB: u64 = 1_000_000_000;
    let bits = f.to_bits();
    let (biased, frac) = (bits >> 52 & 0x7ff, bits & ((1 << 52) - 1));
    if biased == 0x7ff {
        return "null".into();
    }
    let mut out = String::new();
    if bits >> 63 != 0 {
        out.push('-');
    }
    let (m, e) = if biased == 0 { (frac, -1074) } else { (frac | 1 << 52, biased as i32 - 1075) };
    if m == 0 {
        out.push_str("0.0");
        return out;
    }
    // m × 2^e = big × 10^exp with big = m × 2^e (e ≥ 0) or m × 5^-e (e < 0).
    let mut big: Vec<u64> = vec![m % LIMB, m / LIMB];
    let mut rest = e.unsigned_abs();
    while rest > 0 {
        let step = rest.min(13);
        let factor = if e > 0 { 1u64 << step } else { 5u64.pow(step) };
        let mut carry = 0;
        for limb in big.iter_mut() {
            let v = *limb * factor + carry;
            *limb = v % LIMB;
            carry = v / LIMB;
        }
        while carry > 0 {
            big.push(carry % LIMB);
            carry /= LIMB;
        }
        rest -= step;
    }
    let mut exp = e.min(0);
    let mut digits = String::new();
    for (i, limb) in big.iter().rev().enumerate() {
        let start = digits.len();
        write_u64(&mut digits, *limb);
        if i > 0 {
            (0..9 - (digits.len() - start)).for_each(|_| digits.insert(start, '0'));
        }
    }
    let mut digits = digits.trim_start_matches('0').as_bytes().to_vec();
    if digits.len() > 17 {
        let cut = digits.split_off(17);
        exp += cut.len() as i32;
        let up = cut[0] > b'5' || cut[0] == b'5' && (cut[1..].iter().any(|&d| d != b'0') || digits[16] % 2 == 1);
        if up {
            let mut i = digits.len();
            loop {
                i -= 1;
                if digits[i] == b'9' {
                    digits[i] = b'0';
                    if i == 0 {
                        digits.insert(0, b'1');
                        break;
                    }
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp += 1;
    }
    let s: String = digits.iter().map(|&d| d as char).collect();
    let n = s.len() as i32;
    let point = n + exp; // digits × 10^exp = 0.digits × 10^point
    if (-4..=16).contains(&point) {
        if exp >= 0 {
            out.push_str(&s);
            (0..exp).for_each(|_| out.push('0'));
            out.push_str(".0");
        } else if point > 0 {
            out.push_str(&s[..point as usize]);
            out.push('.');
            out.push_str(&s[point as usize..]);
        } else {
            out.push_str("0.");
            (0..-point).for_each(|_| out.push('0'));
            out.push_str(&s);
        }
    } else {
        out.push_str(&s[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&s[1..]);
        }
        out.push_str(if point > 0 { "e+" } else { "e-" });
        write_u64(&mut out, u64::from((point - 1).unsigned_abs()));
    }
    out
}

/// Writes an object member by member, in the order given: how a record (a Rust
/// struct) is written, keeping serde's field order on disk and on the wire.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, first: true }
    }
    /// Writes `"key":` and returns the buffer for the value.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        write_str(self.key(key), v);
        self
    }
    /// `null` for `None`.
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(s) => self.str(key, s),
            None => self.value(key, &Value::Null),
        }
    }
    pub fn u64(&mut self, key: &str, v: u64) -> &mut Self {
        write_u64(self.key(key), v);
        self
    }
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key).push_str(if v { "true" } else { "false" });
        self
    }
    pub fn value(&mut self, key: &str, v: &Value) -> &mut Self {
        v.write(self.key(key));
        self
    }
    /// An array whose elements `each` writes, in order.
    pub fn array<T>(&mut self, key: &str, items: &[T], each: impl Fn(&mut String, &T)) -> &mut Self {
        let out = self.key(key);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            each(out, item);
        }
        out.push(']');
        self
    }
    /// An array of strings.
    pub fn strs(&mut self, key: &str, v: &[String]) -> &mut Self {
        self.array(key, v, |out, s| write_str(out, s))
    }
    pub fn end(self) {
        self.out.push('}');
    }
}

// ---------------------------------------------------------------------------------------
// Reading records

/// The members of an object read as a record, with serde's derive rules: unknown
/// members are ignored, a missing member is an error (`Option`s: `None`), so is a value
/// of the wrong type.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(&'a Map);

impl<'a> Fields<'a> {
    pub fn of(v: &'a Value) -> Result<Self, String> {
        v.as_object().map(Fields).ok_or_else(|| format!("expected an object, got {}", v.kind()))
    }
    /// A required member.
    pub fn get(&self, key: &str) -> Result<&'a Value, String> {
        self.0.get(key).ok_or_else(|| format!("missing field `{}`", key))
    }
    /// An optional member: `None` when absent or `null`.
    pub fn opt(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }
    pub fn str(&self, key: &str) -> Result<String, String> {
        let v = self.get(key)?;
        v.as_str().map(str::to_string).ok_or_else(|| wrong_type(key, v, "a string"))
    }
    pub fn opt_str(&self, key: &str) -> Result<Option<String>, String> {
        match self.opt(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(|s| Some(s.to_string())).ok_or_else(|| wrong_type(key, v, "a string")),
        }
    }
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        let v = self.get(key)?;
        v.as_bool().ok_or_else(|| wrong_type(key, v, "a bool"))
    }
    /// An unsigned integer no larger than `max`.
    pub fn uint(&self, key: &str, max: u64) -> Result<u64, String> {
        let v = self.get(key)?;
        v.as_u64().filter(|n| *n <= max).ok_or_else(|| wrong_type(key, v, "an unsigned integer in range"))
    }
    pub fn u64(&self, key: &str) -> Result<u64, String> {
        self.uint(key, u64::MAX)
    }
    /// An array of strings.
    pub fn strs(&self, key: &str) -> Result<Vec<String>, String> {
        let v = self.get(key)?;
        self.each(key, |s| s.as_str().map(str::to_string).ok_or_else(|| wrong_type(key, v, "an array of strings")))
    }
    /// An array whose elements `read` turns into records; the first error is the answer.
    /// (A plain loop: `collect::<Result<Vec<_>, _>>()` costs ≈0.5 KB more per type.)
    pub fn each<T>(&self, key: &str, read: impl Fn(&Value) -> Result<T, String>) -> Result<Vec<T>, String> {
        let mut out = Vec::new();
        for v in self.array(key)? {
            out.push(read(v)?);
        }
        Ok(out)
    }
    /// An array (its elements are the caller's to read).
    pub fn array(&self, key: &str) -> Result<&'a [Value], String> {
        let v = self.get(key)?;
        v.as_array().map(Vec::as_slice).ok_or_else(|| wrong_type(key, v, "an array"))
    }
}

/// `field `key`: expected …, got …` (what was found: the kind only, no echo of content).
pub fn wrong_type(key: &str, got: &Value, expected: &str) -> String {
    format!("field `{}`: expected {}, got {}", key, expected, got.kind())
}

// ---------------------------------------------------------------------------------------
// Parsing

/// A parse error: what and where (1-based line and column, in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: &'static str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for Error {}

/// Parse one JSON text.
pub fn from_str(s: &str) -> Result<Value, Error> {
    from_slice(s.as_bytes())
}

/// Parse one JSON text from bytes (strings must be UTF-8).
pub fn from_slice(b: &[u8]) -> Result<Value, Error> {
    let mut p = Parser { b, i: 0, depth: MAX_DEPTH };
    let v = p.value()?;
    p.ws();
    if p.i < b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// Levels of nesting left.
    depth: u32,
}

const EOF_VALUE: &str = "EOF while parsing a value";
const EOF_STRING: &str = "EOF while parsing a string";

impl Parser<'_> {
    /// An error at the current position (the byte not read yet).
    fn err(&self, message: &'static str) -> Error {
        self.err_at(self.i, message)
    }
    /// An error at the byte just read.
    fn bad(&self, message: &'static str) -> Error {
        self.err_at(self.i.saturating_sub(1), message)
    }
    fn err_at(&self, i: usize, message: &'static str) -> Error {
        let before = &self.b[..i.min(self.b.len())];
        let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
        let column = before.iter().rev().take_while(|&&c| c != b'\n').count() + 1;
        Error { message, line, column }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn digit(&self) -> Option<u64> {
        self.peek().filter(u8::is_ascii_digit).map(|c| u64::from(c - b'0'))
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.ws();
        match self.peek() {
            None => Err(self.err(EOF_VALUE)),
            Some(b'n') => self.ident("null", Value::Null),
            Some(b't') => self.ident("true", Value::Bool(true)),
            Some(b'f') => self.ident("false", Value::Bool(false)),
            Some(b'"') => {
                self.i += 1;
                self.string().map(Value::String)
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(open @ (b'[' | b'{')) => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Err(self.err("recursion limit exceeded"));
                }
                self.i += 1;
                let v = if open == b'[' { self.array() } else { self.object() };
                self.depth += 1;
                v
            }
            Some(_) => Err(self.err("expected value")),
        }
    }

    fn ident(&mut self, word: &str, v: Value) -> Result<Value, Error> {
        for &c in word.as_bytes() {
            match self.next() {
                None => return Err(self.err(EOF_VALUE)),
                Some(x) if x != c => return Err(self.bad("expected ident")),
                Some(_) => {}
            }
        }
        Ok(v)
    }

    /// After `[`.
    fn array(&mut self) -> Result<Value, Error> {
        let mut a = Vec::new();
        self.ws();
        if self.eat(b']') {
            return Ok(Value::Array(a));
        }
        loop {
            a.push(self.value()?);
            self.ws();
            match self.next() {
                Some(b',') => {
                    self.ws();
                    if self.peek() == Some(b']') {
                        return Err(self.err("trailing comma"));
                    }
                }
                Some(b']') => return Ok(Value::Array(a)),
                None => return Err(self.err("EOF while parsing a list")),
                Some(_) => return Err(self.bad("expected `,` or `]`")),
            }
        }
    }

    /// After `{`.
    fn object(&mut self) -> Result<Value, Error> {
        let mut m = Vec::new();
        self.ws();
        if self.eat(b'}') {
            return Ok(Value::Object(Map::new()));
        }
        loop {
            match self.next() {
                Some(b'"') => {}
                Some(b'}') => return Err(self.bad("trailing comma")),
                None => return Err(self.err("EOF while parsing an object")),
                Some(_) => return Err(self.bad("key must be a string")),
            }
            let k = self.string()?;
            self.ws();
            match self.next() {
                Some(b':') => {}
                None => return Err(self.err("EOF while parsing an object")),
                Some(_) => return Err(self.bad("expected `:`")),
            }
            let v = self.value()?;
            m.push((k, v));
            self.ws();
            match self.next() {
                Some(b',') => self.ws(),
                Some(b'}') => return Ok(Value::Object(Map::from_members(m))),
                None => return Err(self.err("EOF while parsing an object")),
                Some(_) => return Err(self.bad("expected `,` or `}`")),
            }
        }
    }

    /// After the opening quote.
    fn string(&mut self) -> Result<String, Error> {
        let mut buf = Vec::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            buf.extend_from_slice(&self.b[start..self.i]);
            match self.next() {
                None => return Err(self.err(EOF_STRING)),
                Some(b'"') => break,
                Some(b'\\') => self.escape(&mut buf)?,
                Some(_) => return Err(self.bad("control character (\\u0000-\\u001F) found while parsing a string")),
            }
        }
        String::from_utf8(buf).map_err(|_| self.err("invalid unicode code point"))
    }

    /// After a backslash.
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), Error> {
        let c = match self.next().ok_or_else(|| self.err(EOF_STRING))? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = self.hex4()?;
                let code = match n {
                    0xDC00..=0xDFFF => return Err(self.err("lone leading surrogate in hex escape")),
                    0xD800..=0xDBFF => {
                        if !(self.eat(b'\\') && self.eat(b'u')) {
                            return Err(self.err("unexpected end of hex escape"));
                        }
                        let n2 = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&n2) {
                            return Err(self.err("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((n - 0xD800) << 10) + (n2 - 0xDC00)
                    }
                    _ => n,
                };
                char::from_u32(code).ok_or_else(|| self.err("invalid unicode code point"))?
            }
            _ => return Err(self.bad("invalid escape")),
        };
        buf.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0;
        for _ in 0..4 {
            let c = self.next().ok_or_else(|| self.err(EOF_STRING))?;
            let d = (c as char).to_digit(16).ok_or_else(|| self.bad("invalid escape"))?;
            n = n * 16 + d;
        }
        Ok(n)
    }

    /// serde_json's number grammar. An integer that fits `u64` (or `i64`, negative)
    /// becomes one; anything else keeps its text (see [`Number`]).
    fn number(&mut self) -> Result<Number, Error> {
        let start = self.i;
        let negative = self.eat(b'-');
        let mut int = match self.next() {
            None => return Err(self.err(EOF_VALUE)),
            Some(b'0') if self.digit().is_some() => return Err(self.err("invalid number")),
            Some(c @ b'0'..=b'9') => Some(u64::from(c - b'0')),
            Some(_) => return Err(self.bad("invalid number")),
        };
        while let Some(d) = self.digit() {
            self.i += 1;
            int = int.and_then(|n| n.checked_mul(10)?.checked_add(d));
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if self.digit().is_none() {
                return Err(self.err(if self.peek().is_some() { "invalid number" } else { EOF_VALUE }));
            }
            while self.digit().is_some() {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            float = true;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            match self.next() {
                None => return Err(self.err(EOF_VALUE)),
                Some(b'0'..=b'9') => {}
                Some(_) => return Err(self.bad("invalid number")),
            }
            while self.digit().is_some() {
                self.i += 1;
            }
        }
        Ok(Number(match int {
            Some(n) if !float && !negative => N::PosInt(n),
            // -0 stays text (it is no negative integer); -2^63 fits.
            Some(n) if !float && n != 0 && n <= 1 << 63 => N::NegInt((n as i64).wrapping_neg()),
            _ => N::Text(self.b[start..self.i].iter().map(|&b| b as char).collect()),
        }))
    }
}

#[cfg(test)]
mod tests;
