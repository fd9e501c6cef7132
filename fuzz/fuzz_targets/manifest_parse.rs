//! `Manifest::parse` on arbitrary UTF-8: no panic; an error is placed on a
//! line of the text; what parses is written by `to_toml` as text that parses
//! back to an equal manifest. The same checks as `check_any` in
//! `runtime/tests/manifest_props.rs`, whose property tests run them in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasp_runtime::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Manifest::parse(text) {
        Ok(manifest) => {
            let written = manifest.to_toml();
            match Manifest::parse(&written) {
                Ok(back) => assert_eq!(back, manifest, "to_toml wrote:\n{written}"),
                Err(e) => panic!("to_toml wrote text that parse refuses: {e}\n{written}"),
            }
        }
        Err(e) => {
            let lines = text.lines().count().max(1) + 1;
            assert!(e.line.is_some_and(|l| (1..=lines).contains(&l)), "an error off the text's lines: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
});
