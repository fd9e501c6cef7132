//! The example plugins as parity subjects, in every form they are built in.

use wasp_actors::Manifest;
use wasp_testing::{Form, Subject};

/// The forms every example plugin is demanded in.
pub(crate) const FORMS: &[Form] = &Form::ALL;

/// The forms of the examples that use WASI (`wasp_fixtures::WASI_PLUGINS`):
/// the `wasp:plugin` world offers no WASI, so they have no component form.
pub(crate) const WASI_FORMS: &[Form] = &[Form::InProcess, Form::Native, Form::Wasm];

/// The forms example `plugin` is demanded in.
pub(crate) fn forms_of(plugin: &str) -> &'static [Form] {
    if wasp_fixtures::WASI_PLUGINS.contains(&plugin) { WASI_FORMS } else { FORMS }
}

/// The manifest of an example plugin.
pub(crate) fn manifest(plugin: &str) -> Manifest {
    Manifest::from_file(&wasp_fixtures::manifest_path(plugin)).expect("example manifest parses")
}

/// Example plugin `plugin` in each of its forms: the Rust type in process,
/// and the native, WASM and component bundles the fixtures build.
pub(crate) fn example(plugin: &str) -> Subject {
    let m = manifest(plugin);
    let subject = Subject::new(plugin);
    let subject = match plugin {
        "echo" => subject.in_process(m, wasp_example_echo::Echo::default),
        "counter" => subject.in_process(m, wasp_example_counter::Counter::default),
        "relay" => subject.in_process(m, wasp_example_relay::Relay::default),
        "spinner" => subject.in_process(m, wasp_example_spinner::Spinner::default),
        "faulty" => subject.in_process(m, wasp_example_faulty::Faulty::default),
        "notes" => subject.in_process(m, wasp_example_notes::Notes::default),
        "journal" => subject.in_process(m, wasp_example_journal::Journal::default),
        other => panic!("no example plugin `{other}`"),
    };
    let subject = subject.native(wasp_fixtures::native_bundle(plugin)).wasm(wasp_fixtures::wasm_bundle(plugin));
    if wasp_fixtures::PLUGINS.contains(&plugin) {
        subject.component(wasp_fixtures::component_bundle(plugin))
    } else {
        subject
    }
}
