//! Property tests: the codec round-trips every envelope and never panics on
//! arbitrary bytes.

use proptest::prelude::*;
use wasp_protocol::codec::{self, DEFAULT_MAX_MESSAGE_SIZE};
use wasp_protocol::{Address, Envelope, ErrorCode, Kind, WireError};

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::Host),
        "[a-z0-9_.-]{1,64}".prop_filter("host is reserved", |s| s != "host").prop_map(Address::Plugin),
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

proptest! {
    #[test]
    fn envelopes_round_trip(env in envelope()) {
        let bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
        prop_assert_eq!(Envelope::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE).unwrap(), env);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Envelope::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE);
        let _ = codec::decode::<WireError>(&bytes, DEFAULT_MAX_MESSAGE_SIZE);
    }

    #[test]
    fn mutated_envelopes_never_panic(env in envelope(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = env.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Envelope::decode(&bytes, DEFAULT_MAX_MESSAGE_SIZE);
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
