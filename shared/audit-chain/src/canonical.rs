//! The canonical bytes of values that are hashed or signed: each field length-prefixed
//! (u32, big endian), JSON with its object keys sorted and no whitespace, so the same
//! record always encodes alike, whatever stored or transported it.

use serde_json::Value;

pub(crate) fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// JSON with sorted keys and no insignificant whitespace.
pub(crate) fn json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_json(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"y":1,"x":2}],"c":"é"}}"#).expect("json");
        assert_eq!(json(&a), r#"{"a":{"c":"é","d":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn fields_are_length_prefixed_so_their_borders_cannot_move() {
        let mut ab = Vec::new();
        field(&mut ab, b"ab");
        field(&mut ab, b"c");
        let mut a_bc = Vec::new();
        field(&mut a_bc, b"a");
        field(&mut a_bc, b"bc");
        assert_ne!(ab, a_bc);
    }
}
