//! The host-import boundary: each input is the payload of a request to a WAT
//! plugin that makes one host call (any `wasp` import, or one of a few WASI
//! ones) with arguments read from it, on a real `wasp_actors::Host`. The
//! host must answer, report bad arguments as statuses, keep a second plugin
//! answering and never panic. The plugin, the input format and the checks
//! are `actors/tests/all/import_boundary/case.rs`, which the
//! `import_boundary` property tests run too.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../actors/tests/all/import_boundary/case.rs"]
mod case;

/// One runtime and one host for the whole run, as an application has.
struct Harness {
    rt: tokio::runtime::Runtime,
    boundary: case::Boundary,
    _data: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let rt = case::runtime();
    let data = tempfile::tempdir().expect("a temporary directory");
    let boundary = rt.block_on(case::Boundary::start(data.path()));
    Harness { rt, boundary, _data: data }
});

fuzz_target!(|data: &[u8]| {
    let h = &*HARNESS;
    if let Err(why) = h.rt.block_on(h.boundary.check(data)) {
        panic!("{why}");
    }
});
