//! Property tests: the codec round-trips every envelope and never panics on
//! arbitrary, truncated or mutated bytes; its structure check refuses deep
//! nesting and broken input (`structure`); the JSON conversion is bounded
//! (`json`, feature `json`); permission text parses without panicking and
//! prints back as written. The any-input checks are in
//! `codec_props/cases.rs`, shared with the `envelope_decode` and
//! `permission_parse` fuzz targets.

#[path = "codec_props/cases.rs"]
mod cases;
#[cfg(feature = "json")]
#[path = "codec_props/json.rs"]
mod json;
#[cfg(feature = "json")]
#[path = "codec_props/json_cases.rs"]
mod json_cases;
#[path = "codec_props/structure.rs"]
mod structure;

use cases::{Envelope, Kind};
use proptest::prelude::*;
use wasp_protocol::codec::{self, DEFAULT_MAX_MESSAGE_SIZE};
use wasp_protocol::{Address, ErrorCode, PERMISSION_KINDS, WireError};

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::Host),
        // `.`-separated segments, each starting with a letter or a digit.
        "[a-z0-9][a-z0-9_-]{0,14}(\\.[a-z0-9][a-z0-9_-]{0,14}){0,3}"
            .prop_filter("a valid name (not `host`, no device name)", |s| Address::plugin(s).is_ok())
            .prop_map(Address::Plugin),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Request), Just(Kind::Reply), Just(Kind::Event), Just(Kind::Error)]
}

prop_compose! {
    fn envelope()(
        id in any::<u64>(),
        correlation in proptest::option::of(any::<u64>()),
        from in address(),
        to in address(),
        kind in kind(),
        topic in ".{0,40}",
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) -> Envelope {
        Envelope { id, correlation, from, to, kind, topic, payload }
    }
}

/// How a mutation changes one byte position.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Replace,
    Remove,
    Insert,
}

fn edit() -> impl Strategy<Value = (prop::sample::Index, u8, Edit)> {
    (
        any::<prop::sample::Index>(),
        any::<u8>(),
        prop_oneof![Just(Edit::Replace), Just(Edit::Remove), Just(Edit::Insert)],
    )
}

/// `kind` or `kind:target`: mostly a kind with a target in (or near) its
/// grammar, so that many parse; the rest any kind with any target.
fn permission_text() -> impl Strategy<Value = String> {
    let pattern = "[a-z0-9_.-]{0,12}\\*?";
    let dir = "(/|\\\\|C:|\\$DATA)[a-z0-9_./\\\\-]{0,16}";
    let host = "(\\*\\.)?[a-z0-9.-]{0,12}(:[0-9]{0,6})?|\\[[0-9a-f:]{0,10}\\](:[0-9]{1,5})?";
    let fitting = prop_oneof![
        (prop::sample::select(vec!["send", "request", "publish", "subscribe", "ui"]), pattern)
            .prop_map(|(kind, target)| format!("{kind}:{target}")),
        (prop::sample::select(vec!["publish", "subscribe", "ui"]), any::<String>())
            .prop_map(|(kind, target)| format!("{kind}:{target}")),
        (prop::sample::select(vec!["fs.read", "fs.write"]), dir).prop_map(|(kind, target)| format!("{kind}:{target}")),
        host.prop_map(|target| format!("net:{target}")),
        prop::sample::select(PERMISSION_KINDS.to_vec()).prop_map(str::to_owned),
    ];
    let kind = prop_oneof![
        4 => prop::sample::select(PERMISSION_KINDS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z.]{0,8}",
    ];
    let target = prop_oneof![pattern, dir, host, any::<String>()];
    let loose = (kind, prop::option::of(target)).prop_map(|(kind, target)| match target {
        Some(target) => format!("{kind}:{target}"),
        None => kind,
    });
    prop_oneof![3 => fitting, 2 => loose]
}

proptest! {
    #[test]
    fn envelopes_round_trip(env in envelope()) {
        let bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
        prop_assert_eq!(Envelope::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE).unwrap(), env);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), limit in 0..4096usize) {
        cases::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE).map_err(TestCaseError::fail)?;
        cases::decode(&bytes, limit).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_envelopes_never_panic(env in envelope(), edits in proptest::collection::vec(edit(), 1..8)) {
        let mut bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                Edit::Replace if i < bytes.len() => bytes[i] = byte,
                Edit::Remove if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, byte),
            }
        }
        cases::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn truncated_envelopes_are_errors(env in envelope(), cut in any::<prop::sample::Index>()) {
        let bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
        let prefix = &bytes[..cut.index(bytes.len())];
        prop_assert!(Envelope::decode(prefix, DEFAULT_MAX_MESSAGE_SIZE).is_err(), "{} of {} bytes decoded", prefix.len(), bytes.len());
        cases::decode(prefix, DEFAULT_MAX_MESSAGE_SIZE).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn the_limit_is_inclusive(env in envelope()) {
        let bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
        prop_assert_eq!(Envelope::decode(&bytes, bytes.len()).unwrap(), env.clone());
        prop_assert_eq!(env.encode(bytes.len()).unwrap(), bytes.clone());
        let refused = Envelope::decode(&bytes, bytes.len() - 1).unwrap_err();
        prop_assert!(matches!(refused, codec::CodecError::TooLarge { .. }), "{}", refused);
        let refused = env.encode(bytes.len() - 1).unwrap_err();
        prop_assert!(matches!(refused, codec::CodecError::TooLarge { .. }), "{}", refused);
    }

    #[test]
    fn mutated_errors_never_panic(
        code in proptest::sample::select(ErrorCode::ALL.to_vec()),
        message in ".{0,40}",
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let mut bytes = codec::to_payload(&WireError::new(code, message)).unwrap();
        for (at, byte, _) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        cases::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_permission_text_never_panics(text in any::<String>()) {
        cases::permission(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn permission_like_text_prints_back_as_written(text in permission_text()) {
        cases::permission(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn errors_round_trip(code in proptest::sample::select(ErrorCode::ALL.to_vec()), message in ".{0,80}", context in proptest::option::of(".{0,80}")) {
        let err = WireError { code, message, context };
        let bytes = codec::to_payload(&err).unwrap();
        prop_assert_eq!(codec::from_payload::<WireError>(&bytes).unwrap(), err);
    }
}

#[test]
fn oversized_messages_are_refused_both_ways() {
    let env = Envelope::event(1, Address::Host, Address::Host, "big", vec![0; 1000]);
    let err = env.encode(100).unwrap_err();
    assert!(matches!(err, codec::CodecError::TooLarge { max: 100, .. }), "{err}");
    let bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
    assert!(matches!(Envelope::decode(&bytes, 100), Err(codec::CodecError::TooLarge { .. })));
}

#[test]
fn a_claimed_huge_length_is_an_error_not_an_allocation() {
    // bin32 header claiming 4 GiB of payload, followed by nothing.
    let bytes = [0xc6, 0xff, 0xff, 0xff, 0xff];
    assert!(codec::decode::<serde_bytes::ByteBuf>(&bytes, DEFAULT_MAX_MESSAGE_SIZE).is_err());
    // array32 header claiming 4 billion elements.
    let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff];
    assert!(codec::decode::<Vec<u64>>(&bytes, DEFAULT_MAX_MESSAGE_SIZE).is_err());
}

#[test]
fn wire_error_is_a_named_map() {
    let err = WireError::new(ErrorCode::NotFound, "no plugin `x`");
    let bytes = codec::to_payload(&err).unwrap();
    // fixmap with 3 entries, first key "code"
    assert_eq!(bytes[0], 0x83);
    assert_eq!(&bytes[1..6], b"\xa4code");
    assert_eq!(bytes[6], 2);
}
