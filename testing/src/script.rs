//! Scripts: the conversation a parity run holds with every form.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value;
use serde::Serialize;
use wasp_protocol::codec;

use crate::parity::Form;
use crate::transcript::Data;

/// Builds a request payload from the replies of earlier steps.
type Builder = Arc<dyn Fn(&Earlier<'_>) -> Option<Value> + Send + Sync>;

/// What a request or message carries.
#[derive(Clone)]
pub(crate) enum Payload {
    /// MessagePack bytes, fixed when the script was written.
    Bytes(Vec<u8>),
    /// Built in each form from that form's earlier replies.
    Built(Builder),
    /// A value that could not be encoded: the run refuses the script.
    Invalid(String),
}

impl Payload {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Self {
        match codec::to_payload(value) {
            Ok(bytes) => Self::Bytes(bytes),
            Err(e) => Self::Invalid(e.to_string()),
        }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes) => {
                let shown = Data::from_bytes(bytes).to_string();
                if shown.chars().count() > 60 {
                    let cut: String = shown.chars().take(57).collect();
                    write!(f, "{cut}...")
                } else {
                    f.write_str(&shown)
                }
            }
            Self::Built(_) => f.write_str("(built from earlier replies)"),
            Self::Invalid(e) => write!(f, "(unencodable: {e})"),
        }
    }
}

/// What a step does.
#[derive(Clone)]
pub(crate) enum Action {
    Request { topic: String, payload: Payload },
    Send { topic: String, payload: Payload },
    Publish { topic: String, payload: Payload },
    Wait(Duration),
    Grant(String),
    Revoke(String),
}

/// One step of a [`Script`]: a request, a one-way send, a publish, a pause,
/// a grant or a revoke — aimed at the subject unless [`Step::to`] says
/// otherwise.
///
/// ```
/// use std::time::Duration;
/// use wasp_testing::{Form, Step};
///
/// let spin = Step::request("spin", &())
///     .timeout(Duration::from_secs(10))
///     .only(&[Form::Native, Form::Wasm], "in-process code cannot be preempted");
/// assert_eq!(spin.to_string(), "request `spin` nil");
/// assert!(!spin.runs_in(Form::InProcess));
/// ```
#[derive(Clone)]
pub struct Step {
    pub(crate) action: Action,
    pub(crate) to: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) only: Option<(Vec<Form>, String)>,
    pub(crate) codes_only: bool,
    pub(crate) description: Option<String>,
}

impl Step {
    fn new(action: Action) -> Self {
        Self { action, to: None, timeout: None, only: None, codes_only: false, description: None }
    }

    /// A request on `topic` carrying `value` (MessagePack); the step
    /// records the reply or the error.
    pub fn request<T: Serialize + ?Sized>(topic: &str, value: &T) -> Self {
        Self::new(Action::Request { topic: topic.into(), payload: Payload::encode(value) })
    }

    /// A request carrying `bytes` as they are (which need not be
    /// MessagePack).
    pub fn request_raw(topic: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(Action::Request { topic: topic.into(), payload: Payload::Bytes(bytes.into()) })
    }

    /// A request whose payload is built, in each form, from that form's
    /// replies to earlier steps: the id a plugin handed out, say. When
    /// `build` answers `None` (the reply it needed was an error) the
    /// request is not sent and the step records [`Outcome::Unbuilt`](crate::Outcome::Unbuilt).
    ///
    /// ```
    /// use wasp_testing::{Script, Step};
    /// // Ask for the note that step 1 added, by the id it answered.
    /// let script = Script::new()
    ///     .request("add", &"milk")
    ///     .step(Step::request_with("get", |earlier| earlier.reply(1).cloned()));
    /// # assert_eq!(script.len(), 2);
    /// ```
    pub fn request_with(topic: &str, build: impl Fn(&Earlier<'_>) -> Option<Value> + Send + Sync + 'static) -> Self {
        Self::new(Action::Request { topic: topic.into(), payload: Payload::Built(Arc::new(build)) })
    }

    /// A one-way message on `topic` carrying `value`; the step records
    /// whether the host accepted it, and what it caused.
    pub fn send<T: Serialize + ?Sized>(topic: &str, value: &T) -> Self {
        Self::new(Action::Send { topic: topic.into(), payload: Payload::encode(value) })
    }

    /// A publish by the host on `topic`, heard by every subscriber.
    pub fn publish<T: Serialize + ?Sized>(topic: &str, value: &T) -> Self {
        Self::new(Action::Publish { topic: topic.into(), payload: Payload::encode(value) })
    }

    /// A pause, collecting the events that arrive meanwhile (a timer's,
    /// say).
    pub fn wait(duration: Duration) -> Self {
        Self::new(Action::Wait(duration))
    }

    /// Grants the subject (or [`Step::to`]'s plugin) a permission
    /// (`Host::grant`).
    pub fn grant(permission: &str) -> Self {
        Self::new(Action::Grant(permission.into()))
    }

    /// Revokes a permission of the subject (or [`Step::to`]'s plugin)
    /// (`Host::revoke`).
    pub fn revoke(permission: &str) -> Self {
        Self::new(Action::Revoke(permission.into()))
    }

    /// Aims the step at `plugin` (a peer) instead of the subject.
    pub fn to(mut self, plugin: &str) -> Self {
        self.to = Some(plugin.into());
        self
    }

    /// How long a request waits for its answer (by default the host's
    /// request timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the step only in `forms`, for `reason` — which the report
    /// shows. In the other forms it is not run, and not compared.
    pub fn only(mut self, forms: &[Form], reason: &str) -> Self {
        self.only = Some((forms.to_vec(), reason.into()));
        self
    }

    /// Compares errors of this step by code only, whatever the code.
    pub fn codes_only(mut self) -> Self {
        self.codes_only = true;
        self
    }

    /// Describes the step in reports with `text` instead of its action.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Whether the step runs in `form`.
    pub fn runs_in(&self, form: Form) -> bool {
        self.only.as_ref().is_none_or(|(forms, _)| forms.contains(&form))
    }

    /// The forms the step is limited to and why, if it is.
    pub fn limited_to(&self) -> Option<(&[Form], &str)> {
        self.only.as_ref().map(|(forms, reason)| (forms.as_slice(), reason.as_str()))
    }

    pub(crate) fn payload(&self) -> Option<&Payload> {
        match &self.action {
            Action::Request { payload, .. } | Action::Send { payload, .. } | Action::Publish { payload, .. } => {
                Some(payload)
            }
            Action::Wait(_) | Action::Grant(_) | Action::Revoke(_) => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = &self.description {
            return f.write_str(text);
        }
        let to = self.to.as_deref().map(|p| format!(" to `{p}`")).unwrap_or_default();
        match &self.action {
            Action::Request { topic, payload } => write!(f, "request `{topic}`{to} {payload}"),
            Action::Send { topic, payload } => write!(f, "send `{topic}`{to} {payload}"),
            Action::Publish { topic, payload } => write!(f, "publish `{topic}` {payload}"),
            Action::Wait(d) => write!(f, "wait {} ms", d.as_millis()),
            Action::Grant(p) => write!(f, "grant `{p}`{to}"),
            Action::Revoke(p) => write!(f, "revoke `{p}`{to}"),
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Step").field(&self.to_string()).finish()
    }
}

/// The replies one form gave to the steps before the current one, for
/// [`Step::request_with`]. Steps are numbered from 1, as in reports; a
/// reply is there as the plugin sent it (before [`Parity::normalize`](crate::Parity::normalize)).
#[derive(Debug, Clone, Copy)]
pub struct Earlier<'a> {
    pub(crate) replies: &'a [Option<Value>],
}

impl Earlier<'_> {
    /// The reply to step `step` (from 1), if it was a request that got a
    /// MessagePack reply.
    pub fn reply(&self, step: usize) -> Option<&Value> {
        step.checked_sub(1).and_then(|i| self.replies.get(i)).and_then(Option::as_ref)
    }

    /// The latest reply of any earlier step.
    pub fn last(&self) -> Option<&Value> {
        self.replies.iter().rev().find_map(Option::as_ref)
    }
}

/// An ordered list of [`Step`]s: the conversation a [`Parity`](crate::Parity)
/// holds with each form of a plugin.
///
/// ```
/// use std::time::Duration;
/// use wasp_testing::Script;
///
/// let script = Script::new()
///     .request("add", &5u64)
///     .publish("counter.reset", &())
///     .wait(Duration::from_millis(20))
///     .request("get", &());
/// assert_eq!(script.len(), 4);
/// assert_eq!(script.steps()[1].to_string(), "publish `counter.reset` nil");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Script {
    steps: Vec<Step>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Adds [`Step::request`].
    pub fn request<T: Serialize + ?Sized>(self, topic: &str, value: &T) -> Self {
        self.step(Step::request(topic, value))
    }

    /// Adds [`Step::request_raw`].
    pub fn request_raw(self, topic: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.step(Step::request_raw(topic, bytes))
    }

    /// Adds [`Step::send`].
    pub fn send<T: Serialize + ?Sized>(self, topic: &str, value: &T) -> Self {
        self.step(Step::send(topic, value))
    }

    /// Adds [`Step::publish`].
    pub fn publish<T: Serialize + ?Sized>(self, topic: &str, value: &T) -> Self {
        self.step(Step::publish(topic, value))
    }

    /// Adds [`Step::wait`].
    pub fn wait(self, duration: Duration) -> Self {
        self.step(Step::wait(duration))
    }

    /// Adds [`Step::grant`].
    pub fn grant(self, permission: &str) -> Self {
        self.step(Step::grant(permission))
    }

    /// Adds [`Step::revoke`].
    pub fn revoke(self, permission: &str) -> Self {
        self.step(Step::revoke(permission))
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// How many steps there are.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
