//! `Permission::from_str` on arbitrary UTF-8: no panic; a permission
//! displays as exactly its text, parses back to itself and covers itself;
//! an error names the text. The checks are
//! `protocol/tests/codec_props/cases.rs`, which the property tests run too.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../protocol/tests/codec_props/cases.rs"]
mod cases;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(why) = cases::permission(text)
    {
        panic!("{why}");
    }
});
