//! Shared set-up: hosts, and the example plugins in both forms.

use std::time::Duration;

use wasp_actors::Host;

/// Which form of an example plugin to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Wasm,
    InProcess,
}

pub(crate) const FORMS: [Form; 2] = [Form::Wasm, Form::InProcess];

pub(crate) fn host() -> Host {
    Host::builder().request_timeout(Duration::from_secs(10)).build().expect("host builds")
}

/// Loads example plugin `plugin` under `name` in the given form.
pub(crate) async fn load(host: &Host, form: Form, plugin: &str, name: &str) {
    match form {
        Form::Wasm => {
            host.load_as(name, wasp_fixtures::wasm_plugin(plugin)).await.unwrap_or_else(|e| panic!("load {plugin}: {e}"));
        }
        Form::InProcess => {
            let r = match plugin {
                "echo" => host.register::<wasp_example_echo::Echo>(name).await,
                "counter" => host.register::<wasp_example_counter::Counter>(name).await,
                "relay" => host.register::<wasp_example_relay::Relay>(name).await,
                "spinner" => host.register::<wasp_example_spinner::Spinner>(name).await,
                other => panic!("no example plugin `{other}`"),
            };
            r.unwrap_or_else(|e| panic!("register {plugin}: {e}"));
        }
    }
}

pub(crate) fn mp<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    wasp_protocol::codec::to_payload(value).expect("encodes")
}
