//! The script of the parity test, written by `cargo wasp port`: one
//! request per topic `on_message` answers, with a sample payload, and one
//! topic it does not have. Make it the plugin's real use: the steps that
//! matter, in the order they happen.
//!
//! Left out, since the two forms cannot answer them alike: `fetch` (it reaches the network), `open` (it starts a program).

use wasp_testing::{Script, Step};

/// The name both forms are loaded under.
pub(crate) const NAME: &str = "wasp-example-legacy";

/// The steps, run against each form.
pub(crate) fn script() -> Script {
    Script::new()
        .step(Step::request("add", &wasp_example_legacy::NewBookmark { title: "title".into(), url: "url".into() }))
        .step(Step::request("get", &1u64))
        .step(Step::request("list", &()))
        .step(Step::request("count", &()))
        .step(Step::request("remove", &1u64))
        .step(Step::request("backup", &()))
        .step(Step::request("no-such-topic", &()))
}
