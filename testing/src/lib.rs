//! Test wasp plugins: one scripted conversation against every form of a plugin.
//!
//! A wasp plugin can run in four forms — compiled into the application
//! ([`Form::InProcess`]), as a native dynamic library ([`Form::Native`]), as
//! a WebAssembly module ([`Form::Wasm`]) or as a WebAssembly component of
//! the `wasp:plugin` world ([`Form::Component`]) — and moving a plugin from one to another
//! should not change what it does. This crate checks that: a [`Parity`] runs
//! one [`Script`] against each form of a [`Subject`], each in a fresh
//! [`Host`](wasp_actors::Host) configured the same way, records what every
//! step produced in a [`Transcript`], and compares the transcripts step by
//! step ([`Report::check`], [`Report::assert_same`]).
//!
//! Each step records an [`Observation`]:
//!
//! - its [`Outcome`]: the reply (MessagePack decoded into a generic
//!   [`Value`], so differences read well), or the error, or that the host
//!   accepted a send, publish, grant or revoke;
//! - the events delivered to the host while the step ran and until no new
//!   one came for a short settle time ([`Parity::settle`]): publishes on
//!   the topics the host watches ([`Parity::watch`], `*` by default) and
//!   sends to `host`;
//! - the [`Incident`]s the host audited for the subject or its peers: denied
//!   permissions, exceeded limits, faults — their kind and the permission,
//!   limit or error code involved, never their message text.
//!
//! # What is compared
//!
//! Replies and event payloads are compared as values, after the
//! [`Parity::normalize`] hook (for ids, times and random bytes, which differ
//! from run to run whatever the form). Events are compared grouped by
//! sender and topic, in arrival order within each group; incidents grouped
//! by plugin. Errors are always compared by [code](wasp_protocol::ErrorCode),
//! and by message only when the message is form-independent: the codes in
//! [`MESSAGE_CODES`] are those a plugin answers with itself
//! ([`WireError::plugin`](wasp_protocol::WireError::plugin), `not_found`
//! for an unknown topic, `invalid_message` for a payload it cannot decode)
//! or that the host's shared permission checks make. Every other code —
//! `plugin_crashed`, `deadline_exceeded`, `internal`, … — is made by the
//! host from a trap, a caught panic or a watchdog, whose text differs by
//! form, so only its code is compared. [`Step::codes_only`] extends the rule
//! to one step.
//!
//! # Example
//!
//! Two implementations of a counter — one off by one — standing in for two
//! forms ([`Subject::stand_in`]; a real test loads the native library and
//! the WASM module with [`Subject::native`] and [`Subject::wasm`]):
//!
//! ```
//! use wasp_actors::Manifest;
//! use wasp_sdk::prelude::*;
//! use wasp_testing::{Form, Parity, Script, Subject};
//!
//! #[derive(Default)]
//! struct Counter(u64, u64);
//!
//! impl Plugin for Counter {
//!     fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
//!         self.0 += msg.decode::<u64>()? + self.1;
//!         Reply::encode(&self.0)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manifest = Manifest::new("counter")?;
//! let subject = Subject::new("counter")
//!     .in_process(manifest.clone(), Counter::default)
//!     .stand_in(Form::Wasm, manifest, || Counter(0, 1));
//! let script = Script::new().request("add", &1u64).request("add", &2u64);
//!
//! let report = Parity::new(subject).run(&script).await?;
//! let mismatch = report.check().unwrap_err();
//! assert_eq!(mismatch.differences()[0].step(), Some(1));
//! let text = mismatch.to_string();
//! assert!(text.contains("step 1: request `add` 1 (outcome differs)\n  in-process: reply 1\n  wasm      : reply 2\n"));
//! # Ok(())
//! # }
//! ```
//!
//! [`Report::assert_same`] panics with that text:
//!
//! ```text
//! plugin `counter` behaves differently in in-process, wasm: 2 steps differ
//! step 1: request `add` 1 (outcome differs)
//!   in-process: reply 1
//!   wasm      : reply 2
//! step 2: request `add` 2 (outcome differs)
//!   in-process: reply 3
//!   wasm      : reply 5
//! ```

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod parity;
mod report;
mod script;
mod transcript;

pub use parity::{Form, Parity, Subject};
pub use report::{Difference, Mismatch, Report};
pub use rmpv::Value;
pub use script::{Earlier, Script, Step};
pub use transcript::{
    Data, ErrorSeen, EventSeen, Incident, IncidentKind, MESSAGE_CODES, Observation, Outcome, Transcript,
};

use wasp_protocol::WireError;

/// Why a parity run could not be carried out. (A run that completes but
/// finds the forms behaving differently is not an error: it is a
/// [`Mismatch`].)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A comparison needs at least two forms.
    #[error("parity of `{subject}` needs at least two forms; it has {have}")]
    TooFewForms {
        /// The subject's name.
        subject: String,
        /// The forms it has, or `none`.
        have: String,
    },
    /// A form the run demands was not given for a plugin.
    #[error("plugin `{plugin}` has no {form} form")]
    MissingForm {
        /// The plugin.
        plugin: String,
        /// The form.
        form: Form,
    },
    /// The host of one form could not be built.
    #[error("cannot build the host for the {form} form: {source}")]
    Host {
        /// The form.
        form: Form,
        /// What the host builder said.
        #[source]
        source: Box<wasp_actors::Error>,
    },
    /// A plugin could not be loaded.
    #[error("cannot load `{plugin}` as {form}: {source}")]
    Load {
        /// The plugin.
        plugin: String,
        /// The form.
        form: Form,
        /// What the host said.
        #[source]
        source: Box<wasp_actors::Error>,
    },
    /// A plugin loaded as another kind than its form says (a native bundle
    /// given as the WASM form, say).
    #[error("plugin `{plugin}` was to load as {form} but loaded as `{kind}`")]
    WrongKind {
        /// The plugin.
        plugin: String,
        /// The form it was given as.
        form: Form,
        /// What [`PluginRef::kind`](wasp_actors::PluginRef::kind) said.
        kind: String,
    },
    /// The host could not watch a topic pattern.
    #[error("cannot subscribe the host to `{pattern}`: {source}")]
    Watch {
        /// The pattern.
        pattern: String,
        /// What the host said.
        #[source]
        source: WireError,
    },
    /// A step's payload could not be encoded.
    #[error("cannot encode the payload of step {step} ({description}): {message}")]
    Payload {
        /// The step's number, from 1.
        step: usize,
        /// The step.
        description: String,
        /// What the encoder said.
        message: String,
    },
    /// A value could not be encoded ([`value`]).
    #[error("cannot encode a value as MessagePack: {0}")]
    Encode(String),
    /// A temporary data directory could not be created.
    #[error("cannot create a temporary data directory: {0}")]
    DataDir(#[source] std::io::Error),
}

/// `value` as a generic MessagePack [`Value`], as the harness records
/// replies: for building the replies of [`Step::request_with`], or
/// comparing a [`Transcript`] with what you expect.
///
/// ```
/// let v = wasp_testing::value(&("pong", 7u8))?;
/// assert_eq!(v.to_string(), r#"["pong", 7]"#);
/// # Ok::<(), wasp_testing::Error>(())
/// ```
pub fn value<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    let bytes = wasp_protocol::codec::to_payload(value).map_err(|e| Error::Encode(e.to_string()))?;
    wasp_protocol::codec::check(&bytes).map_err(|e| Error::Encode(e.to_string()))?;
    rmpv::decode::read_value(&mut bytes.as_slice()).map_err(|e| Error::Encode(e.to_string()))
}

/// Replaces, anywhere in `value`, the value of every map entry whose key is
/// one of `keys` with the string `"<key>"`: a ready-made
/// [`Parity::normalize`] hook for ids and timestamps.
///
/// ```
/// use wasp_testing::{Value, redact};
/// let mut note = Value::Map(vec![
///     (Value::from("id"), Value::from("9f3c0d17aa02b6e4")),
///     (Value::from("text"), Value::from("milk")),
/// ]);
/// redact(&mut note, &["id", "created_ms"]);
/// assert_eq!(note.to_string(), r#"{"id": "<id>", "text": "milk"}"#);
/// ```
pub fn redact(value: &mut Value, keys: &[&str]) {
    match value {
        Value::Map(entries) => {
            for (k, v) in entries {
                match k.as_str() {
                    Some(key) if keys.contains(&key) => *v = Value::from(format!("<{key}>")),
                    _ => redact(v, keys),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, keys)),
        _ => {}
    }
}
