//! The bundle loader: each input is a plugin folder (a `plugin.toml` and
//! the files it may name) loaded into a real `wasp_actors::Host`. The load
//! must finish with a plugin that answers or an error with a message, and a
//! second plugin must keep answering. The input format and the checks are
//! `actors/tests/all/bundle_load/case.rs`, which the `bundle_load` property
//! tests run too.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../actors/tests/all/bundle_load/case.rs"]
mod case;

/// One runtime and one host for the whole run, as an application has.
struct Harness {
    rt: tokio::runtime::Runtime,
    bundles: case::Bundles,
    _root: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let rt = case::runtime();
    let root = tempfile::tempdir().expect("a temporary directory");
    let bundles = rt.block_on(case::Bundles::start(root.path()));
    Harness { rt, bundles, _root: root }
});

fuzz_target!(|data: &[u8]| {
    let h = &*HARNESS;
    if let Err(why) = h.rt.block_on(h.bundles.check(data)) {
        panic!("{why}");
    }
});
