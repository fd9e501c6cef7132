//! The structure check every decoder runs first (`codec::check`): random
//! values within the depth limit pass and read back unchanged, deeper ones
//! are refused, truncated or extended input is refused, and no input makes
//! it (or a decoder behind it) panic or exhaust a small stack.

use proptest::prelude::*;
use rmpv::Value;
use serde::Deserialize;
use wasp_protocol::codec::{self, CodecError, MAX_DEPTH};
use wasp_protocol::{ErrorCode, WireError};

use super::cases;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f32>().prop_map(Value::F32),
        any::<f64>().prop_map(Value::F64),
        ".{0,12}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Binary),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(t, d)),
    ]
}

/// Values of every kind, nested up to 8 deep, wrapped in up to 40 more
/// arrays or maps: across the limit.
fn value() -> impl Strategy<Value = Value> {
    let nested = leaf().prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
        ]
    });
    (nested, proptest::collection::vec(any::<bool>(), 0..40)).prop_map(|(mut value, wraps)| {
        for map in wraps {
            value = if map { Value::Map(vec![(Value::from("k"), value)]) } else { Value::Array(vec![value]) };
        }
        value
    })
}

/// How many arrays and maps nest in `value` (a map key counts as nested).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => 1 + entries.iter().map(|(k, v)| depth(k).max(depth(v))).max().unwrap_or(0),
        _ => 0,
    }
}

fn encode(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, value).unwrap();
    bytes
}

proptest! {
    #[test]
    fn values_within_the_limit_pass_and_deeper_ones_are_refused(value in value()) {
        let bytes = encode(&value);
        let result = codec::check(&bytes);
        if depth(&value) <= MAX_DEPTH {
            prop_assert_eq!(result, Ok(()));
            cases::check(&bytes).map_err(TestCaseError::fail)?;
        } else {
            prop_assert_eq!(result, Err(CodecError::TooDeep { max: MAX_DEPTH }));
        }
    }

    #[test]
    fn truncated_or_extended_values_are_refused(value in value(), cut in any::<prop::sample::Index>(), extra in any::<u8>()) {
        let bytes = encode(&value);
        let prefix = &bytes[..cut.index(bytes.len())];
        prop_assert!(codec::check(prefix).is_err(), "{} of {} bytes passed", prefix.len(), bytes.len());
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert!(codec::check(&longer).is_err(), "a byte after the value passed");
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_check(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        cases::check(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn nested_arrays_and_maps_never_panic_the_check(
        markers in proptest::collection::vec(prop::sample::select(vec![0x91u8, 0x92, 0x81, 0xdc, 0xc0, 0xa1, 0x01]), 0..200),
    ) {
        cases::check(&markers).map_err(TestCaseError::fail)?;
    }
}

/// Runs `f` on a thread with a 2 MiB stack, the size of a tokio worker's
/// or a wasmtime fiber's: a decoder recursing once per level overflows it
/// long before 10,000 levels.
pub(crate) fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).expect("thread starts").join().expect("no overflow")
}

/// `{"x": [[[…nil…]]], "n": 1}` with `levels` nested arrays: a struct with a
/// field `n` skips `x`, recursing into it.
pub(crate) fn deep_unknown_field(levels: usize) -> Vec<u8> {
    [&[0x82, 0xa1, b'x'][..], &vec![0x91; levels], &[0xc0, 0xa1, b'n', 0x01]].concat()
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Small {
    n: u64,
}

#[test]
fn a_value_nested_ten_thousand_deep_is_refused_by_every_decoder_on_a_small_stack() {
    let results = on_small_stack(|| {
        let bytes = deep_unknown_field(10_000);
        (
            codec::decode::<Small>(&bytes, codec::DEFAULT_MAX_MESSAGE_SIZE).map(|_| ()),
            codec::from_payload::<Small>(&bytes).map(|_| ()),
            codec::from_slice::<serde::de::IgnoredAny>(&bytes).map(|_| ()),
        )
    });
    for result in [results.0, results.1, results.2] {
        let err = result.expect_err("refused");
        assert_eq!(err, CodecError::TooDeep { max: MAX_DEPTH });
        let wire = WireError::from(err);
        assert_eq!(wire.code, ErrorCode::InvalidMessage);
        assert!(wire.message.contains("deeper than the limit of 32 levels"), "{wire}");
    }
    // Within the limit the same shape decodes, skipping the field.
    assert_eq!(codec::from_payload::<Small>(&deep_unknown_field(MAX_DEPTH - 1)).expect("decodes").n, 1);
}

#[test]
fn bytes_after_the_value_are_refused_by_every_decoder() {
    let err = codec::from_payload::<()>(&[0xc0, 0xc0]).expect_err("refused");
    assert!(matches!(err, CodecError::Malformed(ref why) if why.contains("trailing bytes")), "{err}");
    assert_eq!(WireError::from(err).code, ErrorCode::InvalidMessage);
    assert!(codec::decode::<u8>(&[0x01, 0x02], 16).is_err());
}
