//! The JSON conversion (feature `json`): bounded in depth both ways, and in
//! size towards JSON, with errors that name the limit.

use proptest::prelude::*;
use serde_json::Value as Json;
use wasp_protocol::ErrorCode;
use wasp_protocol::codec::MAX_DEPTH;
use wasp_protocol::json::{JSON_SIZE_FLOOR, MAX_JSON_SIZE, MAX_JSON_VALUES, from_json, json_size_limit, to_json};

use super::json_cases;
use super::structure::{deep_unknown_field, on_small_stack};

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_conversion(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        json_cases::json(&bytes).map_err(TestCaseError::fail)?;
    }

    /// Nested arrays and maps, maps as keys of maps, strings of quotes and
    /// control characters, small binaries: the shapes the size bound is about.
    #[test]
    fn nested_keys_and_escapes_never_panic_the_conversion(
        bytes in proptest::collection::vec(
            prop::sample::select(vec![0x91u8, 0x92, 0x81, 0x82, 0xc0, 0xa1, b'"', 0x01, 0xc4, 0xcb, 0x7f]),
            0..300,
        ),
    ) {
        json_cases::json(&bytes).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn messagepack_nested_ten_thousand_deep_is_an_invalid_message_on_a_small_stack() {
    let err = on_small_stack(|| to_json(&deep_unknown_field(10_000))).expect_err("refused");
    assert_eq!(err.code, ErrorCode::InvalidMessage);
    assert!(err.message.contains("deeper than the limit of 32 levels"), "{err}");
    assert!(to_json(&deep_unknown_field(MAX_DEPTH - 1)).is_ok());
}

#[test]
fn json_nested_past_the_limit_is_refused_before_it_reaches_a_plugin() {
    let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    let within: Json = serde_json::from_str(&nested(MAX_DEPTH)).unwrap();
    assert!(from_json(&within).is_ok());
    let deeper: Json = serde_json::from_str(&nested(MAX_DEPTH + 1)).unwrap();
    let err = from_json(&deeper).expect_err("refused");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.contains("deeper than the limit of 32 levels"), "{err}");
    // Parsing stops at serde_json's own limit (128 levels), well inside a
    // small stack, so JSON text nested 10,000 deep never becomes a value.
    let parsed = on_small_stack(move || serde_json::from_str::<Json>(&nested(10_000)).map(|_| ()));
    assert!(parsed.is_err_and(|e| e.to_string().contains("recursion limit")));
}

#[test]
fn keys_inside_keys_cannot_make_megabytes_of_json_from_a_few_bytes() {
    // Found by the json_convert fuzzer: 91 bytes of maps whose keys are
    // maps took 350 ms to convert, into megabytes of escaped text.
    let found: &[u8] = &[
        0x82, 0x82, 0x82, 0xfb, 0xfb, 0x80, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
        0x82, 0x82, 0x82, 0x79, 0x82, 0x82, 0xff, 0x82, 0xff, 0xff, 0x82, 0x1a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xc2, 0xff, 0xfe, 0xff, 0xff, 0xff, 0x5d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xf7, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3d, 0xff, 0xff, 0x64, 0x61, 0x74, 0xff,
        0xff, 0xff, 0x36, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x81, 0x00,
        0xc0,
    ];
    assert_eq!(found.len(), 91);
    let err = to_json(found).expect_err("refused");
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert!(err.message.contains(&format!("over the limit of {JSON_SIZE_FLOOR}")), "{err}");
    // Built on purpose: each map's key the map before it, twenty levels deep.
    let mut value = rmpv::Value::from("x\"");
    for _ in 0..20 {
        value = rmpv::Value::Map(vec![(value, rmpv::Value::Nil)]);
    }
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &value).unwrap();
    let err = to_json(&bytes).expect_err("refused");
    assert_eq!(err.code, ErrorCode::TooLarge, "{} bytes", bytes.len());
    // Ordinary data is far inside the ratio: half a million small numbers.
    let numbers = rmp_serde::to_vec(&vec![7u8; 1 << 19]).unwrap();
    assert_eq!(to_json(&numbers).unwrap().as_array().map(Vec::len), Some(1 << 19));
    assert_eq!(json_size_limit(numbers.len()), 8 * numbers.len());
}

#[test]
fn binary_that_would_pass_the_json_bounds_is_too_large_naming_the_limit() {
    // 15 MiB of bin would be about 60 MiB of JSON and tens of millions of values.
    let big = rmp_serde::to_vec(&serde_bytes::ByteBuf::from(vec![200u8; 15 << 20])).unwrap();
    let err = to_json(&big).expect_err("refused");
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert!(err.message.contains(&format!("over the limit of {MAX_JSON_SIZE}")), "{err}");
    // Half a million bytes convert; past a million values they do not.
    let half = rmp_serde::to_vec(&serde_bytes::ByteBuf::from(vec![7u8; MAX_JSON_VALUES / 2])).unwrap();
    assert_eq!(to_json(&half).unwrap().as_array().map(Vec::len), Some(MAX_JSON_VALUES / 2));
    let many = rmp_serde::to_vec(&serde_bytes::ByteBuf::from(vec![7u8; MAX_JSON_VALUES])).unwrap();
    let err = to_json(&many).expect_err("refused");
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert!(err.message.contains(&format!("over the limit of {MAX_JSON_VALUES}")), "{err}");
    // A string needs no values of its own: 12 MiB of text converts.
    let text = rmp_serde::to_vec(&"a".repeat(12 << 20)).unwrap();
    assert!(to_json(&text).is_ok());
    // Escaping counts: 4 MiB of control characters would be 24 MiB of JSON.
    let escaped = rmp_serde::to_vec(&"\u{1}".repeat(4 << 20)).unwrap();
    assert_eq!(to_json(&escaped).expect_err("refused").code, ErrorCode::TooLarge);
}

#[test]
fn bytes_after_the_value_are_refused_as_by_every_decoder() {
    for bytes in [&[0xc0, 0xc0][..], &[0x01, 0x02], &[0x90, 0x90]] {
        let err = to_json(bytes).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidMessage);
        assert!(err.message.contains("trailing bytes"), "{err}");
    }
}
