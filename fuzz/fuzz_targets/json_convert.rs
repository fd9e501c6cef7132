//! `json::to_json` (what the Tauri plugin and `cargo wasp run` show a plugin's
//! reply as) and `codec::check` on arbitrary bytes: no panic, no stack
//! overflow however deep the nesting, errors are `invalid_message` or
//! `too_large`, the JSON stays within its bound and converts back. The
//! checks are `protocol/tests/codec_props/json_cases.rs` and `cases.rs`,
//! which the codec property tests run too.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../protocol/tests/codec_props/cases.rs"]
mod cases;
#[path = "../../protocol/tests/codec_props/json_cases.rs"]
mod json_cases;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = cases::check(data) {
        panic!("{why}");
    }
    if let Err(why) = json_cases::json(data) {
        panic!("{why}");
    }
});
