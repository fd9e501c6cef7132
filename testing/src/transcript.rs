//! What one form did: observations, step by step.

use std::fmt;

use rmpv::Value;
use wasp_actors::{AuditKind, Permission};
use wasp_protocol::ErrorCode;

use crate::parity::Form;

/// The error codes whose messages are compared between forms, besides the
/// code: those a plugin answers with itself (its own
/// [`WireError::plugin`](wasp_protocol::WireError::plugin) errors, `not_found`
/// for a topic it does not handle, `invalid_argument` for a value out of
/// range) and those made by host checks that every form goes through alike
/// (`permission_denied`), and `invalid_message`, which the SDK answers for a
/// payload the plugin cannot decode. The messages of other codes are made by the host
/// from a trap, a caught panic or a watchdog, and differ by form; only their
/// code is compared.
pub const MESSAGE_CODES: &[ErrorCode] = &[
    ErrorCode::Plugin,
    ErrorCode::NotFound,
    ErrorCode::InvalidArgument,
    ErrorCode::PermissionDenied,
    ErrorCode::InvalidMessage,
];

/// A payload as the harness saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// No bytes at all.
    Empty,
    /// A MessagePack value.
    Value(Value),
    /// Bytes that are not one MessagePack value.
    Raw(Vec<u8>),
}

impl Data {
    /// Decodes `bytes`: empty, one MessagePack value, or raw.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self::Empty;
        }
        // The codec's check first, as every decoder of wasp's: it refuses
        // what rmpv would read anyway (the reserved marker `c1` as nil,
        // trailing bytes) and nesting deep enough to exhaust the stack.
        if wasp_protocol::codec::check(bytes).is_err() {
            return Self::Raw(bytes.to_vec());
        }
        match rmpv::decode::read_value(&mut &bytes[..]) {
            Ok(value) => Self::Value(value),
            Err(_) => Self::Raw(bytes.to_vec()),
        }
    }

    /// The value, if the bytes were MessagePack.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Self::Value(v) => Some(v),
            Self::Empty | Self::Raw(_) => None,
        }
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("(empty)"),
            Self::Value(v) => write!(f, "{v}"),
            Self::Raw(bytes) => {
                f.write_str("(not MessagePack:")?;
                for b in bytes.iter().take(32) {
                    write!(f, " {b:02x}")?;
                }
                if bytes.len() > 32 {
                    write!(f, " ... {} bytes", bytes.len())?;
                }
                f.write_str(")")
            }
        }
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSeen {
    /// Its code: always compared.
    pub code: ErrorCode,
    /// Its message: compared only for the codes of [`MESSAGE_CODES`].
    pub message: String,
}

impl fmt::Display for ErrorSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

/// What a step itself came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A request's reply.
    Reply(Data),
    /// A request's error, or the host's refusal of a send, publish, grant
    /// or revoke.
    Error(ErrorSeen),
    /// The host accepted a send, publish, grant or revoke; a pause ended;
    /// the plugin loaded.
    Done,
    /// A [`Step::request_with`](crate::Step::request_with) payload could
    /// not be built from the earlier replies; nothing was sent.
    Unbuilt,
    /// The step is limited to other forms.
    Excluded,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reply(data) => write!(f, "reply {data}"),
            Self::Error(e) => write!(f, "{e}"),
            Self::Done => f.write_str("done"),
            Self::Unbuilt => f.write_str("not sent: no payload could be built from the earlier replies"),
            Self::Excluded => f.write_str("not run"),
        }
    }
}

/// An event delivered to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSeen {
    /// The plugin that published or sent it.
    pub from: String,
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Data,
}

impl fmt::Display for EventSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` from `{}`: {}", self.topic, self.from, self.payload)
    }
}

/// The part of an audit event that is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncidentKind {
    /// A call or route was refused for want of this permission.
    PermissionDenied(Permission),
    /// This limit was hit.
    LimitExceeded(String),
    /// The plugin trapped, panicked or overran its CPU budget; its caller
    /// got this code.
    Fault(ErrorCode),
}

impl IncidentKind {
    /// The kinds of audit events the harness records; others (restarts,
    /// grants, …) are the host's doing and not compared.
    pub(crate) fn of(kind: &AuditKind) -> Option<Self> {
        match kind {
            AuditKind::PermissionDenied { permission } => Some(Self::PermissionDenied(permission.clone())),
            AuditKind::LimitExceeded { limit } => Some(Self::LimitExceeded(limit.clone())),
            AuditKind::Fault { code } => Some(Self::Fault(*code)),
            _ => None,
        }
    }
}

/// An audit event about the subject or a peer: a denied permission, an
/// exceeded limit or a fault. Its message text is not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The plugin concerned.
    pub plugin: String,
    /// What happened.
    pub kind: IncidentKind,
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            IncidentKind::PermissionDenied(p) => write!(f, "`{}` denied `{p}`", self.plugin),
            IncidentKind::LimitExceeded(l) => write!(f, "`{}` exceeded limit `{l}`", self.plugin),
            IncidentKind::Fault(code) => write!(f, "`{}` faulted ({code})", self.plugin),
        }
    }
}

/// What one step produced in one form.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The step's own outcome.
    pub outcome: Outcome,
    /// Events delivered to the host meanwhile, grouped by sender and topic
    /// (a stable sort: arrival order within a group).
    pub events: Vec<EventSeen>,
    /// Audit events about the subject or its peers meanwhile, grouped by
    /// plugin.
    pub incidents: Vec<Incident>,
}

impl Observation {
    pub(crate) fn new(outcome: Outcome) -> Self {
        Self { outcome, events: Vec::new(), incidents: Vec::new() }
    }

    /// Puts events and incidents in their compared order.
    pub(crate) fn sort(&mut self) {
        self.events.sort_by(|a, b| (&a.from, &a.topic).cmp(&(&b.from, &b.topic)));
        self.incidents.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    }

    /// The reply's value, if the step got a MessagePack reply.
    pub fn reply(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Reply(data) => data.value(),
            _ => None,
        }
    }

    /// The error, if the step got one.
    pub fn error(&self) -> Option<&ErrorSeen> {
        match &self.outcome {
            Outcome::Error(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.outcome)?;
        if !self.events.is_empty() {
            f.write_str("; events [")?;
            for (i, e) in self.events.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str("]")?;
        }
        if !self.incidents.is_empty() {
            f.write_str("; audit [")?;
            for (i, e) in self.incidents.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Everything one form did in a run: what loading it caused, then one
/// [`Observation`] per step of the script.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub(crate) form: Form,
    pub(crate) kind: String,
    pub(crate) load: Observation,
    pub(crate) steps: Vec<Observation>,
}

impl Transcript {
    /// The form.
    pub fn form(&self) -> Form {
        self.form
    }

    /// What the host said the loaded subject is
    /// ([`PluginRef::kind`](wasp_actors::PluginRef::kind)): `in-process`,
    /// `native` or `wasm`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The events and incidents of loading the peers and the subject.
    pub fn load(&self) -> &Observation {
        &self.load
    }

    /// The observations of the steps, in order (step 1 first).
    pub fn steps(&self) -> &[Observation] {
        &self.steps
    }

    /// The observation of step `step`, numbered from 1.
    pub fn step(&self, step: usize) -> Option<&Observation> {
        step.checked_sub(1).and_then(|i| self.steps.get(i))
    }
}
