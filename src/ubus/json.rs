//! blobmsg ⇄ JSON with the rules of libubox's `blobmsg_json.c`, so that what we send
//! looks to other OpenWrt programs exactly like what `ubus call`/`ubus send` sends.
//!
//! JSON → blobmsg: object → TABLE, array → ARRAY, string → STRING, bool → INT8,
//! integer → INT32 when it fits else INT64, any other number → DOUBLE, null → UNSPEC.
//! blobmsg → JSON: every integer width is accepted (signed, as libubox prints them),
//! INT8 becomes a bool, a DOUBLE that JSON cannot hold (NaN, ±inf) and unknown types
//! become `null`.

use super::blob::{Table, Value};
use serde_json::{Map, Number, Value as Json};

/// JSON value → blobmsg value.
pub fn to_blobmsg(j: &Json) -> Value {
    match j {
        Json::Null => Value::Unspec(Vec::new()),
        Json::Bool(b) => Value::bool(*b),
        Json::Number(n) => number_to_blobmsg(n),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_blobmsg).collect()),
        Json::Object(map) => Value::Table(object_to_table(map)),
    }
}

fn number_to_blobmsg(n: &Number) -> Value {
    if let Some(i) = n.as_i64() {
        match i32::try_from(i) {
            Ok(v) => Value::Int32(v),
            Err(_) => Value::Int64(i),
        }
    } else if n.as_u64().is_some() {
        // json-c's get_int64 saturates unsigned values above i64::MAX.
        Value::Int64(i64::MAX)
    } else {
        // Neither an i64 nor a u64: serde_json holds it as a finite f64.
        Value::Double(n.as_f64().unwrap_or_default())
    }
}

pub fn object_to_table(map: &Map<String, Json>) -> Table {
    map.iter()
        .map(|(k, v)| (k.clone(), to_blobmsg(v)))
        .collect()
}

/// A JSON value as a message body (the `DATA` of a call or event). Like `ubus call`,
/// only an object is accepted; `null` means an empty body.
pub fn to_table(j: &Json) -> Result<Table, String> {
    match j {
        Json::Object(map) => Ok(object_to_table(map)),
        Json::Null => Ok(Table::new()),
        other => Err(format!(
            "a message body must be a JSON object, got {}",
            kind(other)
        )),
    }
}

/// What kind of value `j` is, for messages: `a bool`, `an array`, …
fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// blobmsg value → JSON value.
pub fn from_blobmsg(v: &Value) -> Json {
    match v {
        Value::Unspec(_) | Value::Other { .. } => Json::Null,
        Value::Array(items) => Json::Array(items.iter().map(from_blobmsg).collect()),
        Value::Table(t) => from_table(t),
        Value::String(s) => Json::String(s.clone()),
        Value::Int64(i) => Json::from(*i),
        Value::Int32(i) => Json::from(*i),
        Value::Int16(i) => Json::from(i32::from(*i)),
        Value::Int8(b) => Json::Bool(*b != 0),
        Value::Double(d) => Number::from_f64(*d).map(Json::Number).unwrap_or(Json::Null),
    }
}

/// A table body → JSON object. Duplicate names: the last one wins (as json-c does
/// when libubox adds the same key twice).
pub fn from_table(t: &Table) -> Json {
    let mut map = Map::new();
    for (k, v) in t.iter() {
        map.insert(k.clone(), from_blobmsg(v));
    }
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ints_pick_the_width_blobmsg_json_picks() {
        let t = to_table(&json!({"small": 2147483647, "neg": -2147483648i64, "big": 5000000000i64, "huge": u64::MAX})).unwrap();
        assert_eq!(t.get("small"), Some(&Value::Int32(i32::MAX)));
        assert_eq!(t.get("neg"), Some(&Value::Int32(i32::MIN)));
        assert_eq!(t.get("big"), Some(&Value::Int64(5_000_000_000)));
        assert_eq!(t.get("huge"), Some(&Value::Int64(i64::MAX)));
    }

    #[test]
    fn bool_float_null_map_like_libubox() {
        let t = to_table(&json!({"b": true, "f": 1.5, "n": null})).unwrap();
        assert_eq!(t.get("b"), Some(&Value::Int8(1)));
        assert_eq!(t.get("f"), Some(&Value::Double(1.5)));
        assert_eq!(t.get("n"), Some(&Value::Unspec(vec![])));
        assert_eq!(from_table(&t), json!({"b": true, "f": 1.5, "n": null}));
    }

    #[test]
    fn decode_accepts_every_int_width() {
        let t = Table::new()
            .with("a", Value::Int16(-3))
            .with("b", Value::Int64(-4))
            .with("c", Value::Int32(-5))
            .with("nan", Value::Double(f64::NAN));
        assert_eq!(
            from_table(&t),
            json!({"a": -3, "b": -4, "c": -5, "nan": null})
        );
    }

    #[test]
    fn non_object_body_is_refused() {
        assert!(to_table(&json!([1])).unwrap_err().contains("an array"));
        assert!(to_table(&json!(null)).unwrap().is_empty());
    }
}
