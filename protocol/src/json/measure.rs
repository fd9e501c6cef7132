//! How big the JSON of a MessagePack value will be, known before it is
//! built: an upper bound of its text and the count of its values.

use crate::codec::{CodecError, Item, MAX_DEPTH, walk};

/// What [`json_size`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct JsonSize {
    /// At least as many bytes as the JSON text (compact form) takes.
    pub(super) text: u64,
    /// The JSON values [`super::to_json`] builds: those of the result, and
    /// those it builds on the way to turn a key that is not a string into
    /// text.
    pub(super) values: u64,
}

/// The longest text of a float in JSON: `-2.2250738585072014e-308`; a
/// non-finite one is a shorter string (`"-inf"`).
const FLOAT_TEXT: u64 = 24;

/// Measures the JSON of the one value in `bytes`, checking it as
/// [`check`](crate::codec::check) does.
///
/// A map key that is not a string becomes its JSON text, escaped as a
/// string: at most twice as long, plus quotes. Keys can hold maps whose keys
/// are maps, so each such level doubles again: a factor per depth, which
/// the depth limit keeps finite.
pub(super) fn json_size(bytes: &[u8]) -> Result<JsonSize, CodecError> {
    let mut size = JsonSize { text: 0, values: 0 };
    // The text factor of the items at each depth.
    let mut factor = [1u64; MAX_DEPTH + 2];
    walk(bytes, |item, at| {
        let mut f = factor[at.depth];
        if at.key && !matches!(item, Item::Str(_)) {
            size.text = size.text.saturating_add(f.saturating_mul(2));
            f = f.saturating_mul(2);
        }
        let (text, values) = measure(item);
        size.text = size.text.saturating_add(f.saturating_mul(text));
        // A string key is a key of the object, not a value.
        if !(at.key && matches!(item, Item::Str(_))) {
            size.values = size.values.saturating_add(values);
        }
        if matches!(item, Item::Array(_) | Item::Map(_)) {
            factor[at.depth + 1] = f;
        }
    })?;
    Ok(size)
}

/// One item's own text in JSON (without its children's) and the values it
/// becomes.
fn measure(item: Item<'_>) -> (u64, u64) {
    let separators = |n: u64| n.saturating_sub(1);
    match item {
        Item::Nil => (4, 1),
        Item::Bool => (5, 1),
        Item::UInt(n) => (digits(n), 1),
        Item::Int(n) => (digits(n.unsigned_abs()) + u64::from(n < 0), 1),
        Item::Float(_) => (FLOAT_TEXT, 1),
        Item::Str(s) => (string(s), 1),
        Item::Bin(b) => (bytes(b), 1 + b.len() as u64),
        Item::Ext(e) => match e.split_first() {
            // `{"ext":-128,"data":[...]}`: the object, its two values and the bytes.
            Some((_, data)) => (20 + bytes(data), 3 + data.len() as u64),
            None => (20 + 2, 3),
        },
        // `[` `]` and the commas.
        Item::Array(n) => (2 + separators(u64::from(n)), 1),
        // `{` `}`, a colon per entry and the commas.
        Item::Map(n) => (2 + u64::from(n) + separators(u64::from(n)), 1),
    }
}

fn digits(n: u64) -> u64 {
    n.checked_ilog10().map_or(1, |d| u64::from(d) + 1)
}

/// A string's JSON: quoted, with `"`, `\` and control characters escaped.
fn string(s: &[u8]) -> u64 {
    if core::str::from_utf8(s).is_err() {
        return "\"<invalid UTF-8>\"".len() as u64;
    }
    let escaped: u64 = s
        .iter()
        .map(|&b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum();
    2 + escaped
}

/// A binary's JSON: an array of byte values.
fn bytes(b: &[u8]) -> u64 {
    let numbers: u64 = b.iter().map(|&x| digits(u64::from(x))).sum();
    2 + numbers + (b.len() as u64).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn msgpack(value: &rmpv::Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).expect("encodes");
        bytes
    }

    /// The text and value count of what `to_json` builds.
    fn actual(bytes: &[u8]) -> (u64, u64) {
        fn count(v: &serde_json::Value) -> u64 {
            1 + match v {
                serde_json::Value::Array(items) => items.iter().map(count).sum(),
                serde_json::Value::Object(map) => map.values().map(count).sum(),
                _ => 0,
            }
        }
        let json = super::super::to_json(bytes).expect("converts");
        (json.to_string().len() as u64, count(&json))
    }

    #[test]
    fn the_bound_is_exact_for_text_numbers_and_bytes_and_never_short() {
        use rmpv::Value as V;
        let cases = [
            V::from("a \"quoted\"\\ line\n\u{1}é"),
            V::Binary(vec![0, 9, 10, 99, 100, 255]),
            V::Array(vec![V::Nil, V::from(false), V::from(u64::MAX), V::from(i64::MIN), V::from(-5)]),
            V::Map(vec![(V::from("k"), V::Array(vec![])), (V::from("l"), V::Map(vec![]))]),
            V::Ext(-128, vec![1, 2, 3]),
        ];
        for value in cases {
            let bytes = msgpack(&value);
            let size = json_size(&bytes).expect("well formed");
            assert_eq!((size.text, size.values), actual(&bytes), "{value}");
        }
        let floats = msgpack(&V::Array(vec![V::F64(-2.2250738585072014e-308), V::F32(0.1), V::F64(f64::NAN)]));
        let (text, values) = actual(&floats);
        let size = json_size(&floats).expect("well formed");
        assert!(size.text >= text && size.values == values, "{size:?}");
    }

    proptest::proptest! {
        /// The bound is never short, whatever the nesting, keys and escapes.
        #[test]
        fn the_bound_is_never_short(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![0x91u8, 0x92, 0x81, 0x82, 0xc0, 0xc3, 0xa1, b'"', b'\\', 0x01, 0xc4, 0xd0, 0xff]),
                1..300,
            ),
        ) {
            if let Ok(size) = json_size(&bytes) {
                let (text, values) = actual(&bytes);
                proptest::prop_assert!(size.text >= text, "{} < {text}", size.text);
                proptest::prop_assert!(size.values >= values, "{} < {values}", size.values);
            }
        }
    }

    #[test]
    fn keys_that_are_not_strings_are_bounded_through_every_level_of_quoting() {
        use rmpv::Value as V;
        // A map whose key is a map whose key is a map whose key is a string of quotes.
        let mut value = V::from("\"\"\\");
        for _ in 0..4 {
            value = V::Map(vec![(value, V::from(1))]);
            value = V::Map(vec![(value, V::Nil)]);
        }
        let bytes = msgpack(&value);
        let size = json_size(&bytes).expect("well formed");
        let (text, values) = actual(&bytes);
        assert!(size.text >= text, "{} < {text}: {}", size.text, super::super::to_json(&bytes).expect("converts"));
        // The keys' values are built on the way, then become text.
        assert!(size.values >= values, "{} < {values}", size.values);
        // The bound doubles per level at most, as escaping does.
        assert!(size.text <= 4 * text, "{} for {text}", size.text);
        assert_eq!(actual(&msgpack(&V::Map(vec![(V::from(5), V::from("five"))]))), (12, 2));
        assert_eq!(json!({"5": "five"}).to_string().len(), 12);
    }
}
