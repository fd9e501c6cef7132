//! The migration of `docs/migration.md`, proven: `legacy` (a native plugin
//! on `std::fs`, threads and C) and `ported` (the same plugin on host
//! services) answer one script alike, and the port behaves alike in every
//! form.

use wasp_actors::Manifest;
use wasp_example_ported::NewBookmark;
use wasp_testing::{Form, Parity, Script, Step, Subject};

fn new(title: &str, url: &str) -> NewBookmark {
    NewBookmark { title: title.into(), url: url.into() }
}

/// Everything but `fetch` (the network) and `open` (starts a browser).
fn script() -> Script {
    Script::new()
        .step(Step::request("count", &()))
        .step(Step::request("add", &new("wasp", "https://example.com/wasp")))
        .step(Step::request("add", &new("docs", "https://example.com/docs")))
        .step(Step::request("add", &new("abi", "https://example.com/abi")))
        .step(Step::request("remove", &2u64))
        .step(Step::request("remove", &2u64))
        .step(Step::request("get", &2u64))
        .step(Step::request("add", &new("", "https://example.com")))
        .step(Step::request("add", &new("bell\u{7}", "https://example.com")))
        .step(Step::request("add", &new("four", "https://example.com/4")))
        .step(Step::request("get", &3u64))
        .step(Step::request("list", &()))
        .step(Step::request("count", &()))
        .step(Step::request("backup", &()))
        .step(Step::request("nope", &()))
}

fn ported_manifest() -> Manifest {
    let path = wasp_fixtures::workspace_root().join("examples/migration/ported/plugin.toml");
    Manifest::from_file(&path).expect("ported's manifest parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_answers_like_the_legacy_plugin_did() {
    // The plugin before the migration, the legacy native library, against
    // the port as WASM and in process.
    let subject = Subject::new("bookmarks")
        .native(wasp_fixtures::migration_bundle("legacy"))
        .wasm(wasp_fixtures::migration_bundle("ported-wasm"))
        .in_process(ported_manifest(), || wasp_example_ported::Bookmarks);
    let report = Parity::new(subject)
        .forms(&[Form::Native, Form::Wasm, Form::InProcess])
        .run(&script())
        .await
        .expect("the parity run completes");
    println!("{report}");
    report.assert_same();
    let kinds: Vec<&str> = report.transcripts().iter().map(|t| t.kind()).collect();
    assert_eq!(kinds, ["in-process", "native", "wasm"], "the legacy library ran as the native form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_behaves_alike_in_every_form() {
    let subject = Subject::new("bookmarks")
        .native(wasp_fixtures::migration_bundle("ported-native"))
        .wasm(wasp_fixtures::migration_bundle("ported-wasm"))
        .in_process(ported_manifest(), || wasp_example_ported::Bookmarks);
    let report = Parity::new(subject).run(&script()).await.expect("the parity run completes");
    report.assert_same();
    assert_eq!(report.forms().len(), 3);
}
