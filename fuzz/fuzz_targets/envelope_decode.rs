//! `codec::decode` of a routed-message document (`cases::Envelope`) and of a
//! `WireError` on arbitrary bytes:
//! no panic, input over the limit refused as `TooLarge`, and whatever decodes
//! re-encodes to itself. The checks are `protocol/tests/codec_props/cases.rs`,
//! which the codec property tests run too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasp_protocol::codec::DEFAULT_MAX_MESSAGE_SIZE;

#[allow(dead_code)]
#[path = "../../protocol/tests/codec_props/cases.rs"]
mod cases;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = cases::decode(data, DEFAULT_MAX_MESSAGE_SIZE) {
        panic!("{why}");
    }
    // The first byte picks a small limit for the rest, to reach the size check.
    if let Some((&first, rest)) = data.split_first()
        && let Err(why) = cases::decode(rest, usize::from(first) * 8)
    {
        panic!("{why}");
    }
});
