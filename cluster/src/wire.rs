//! The wire between a host and a `wasp-node` process: two ractor actors and
//! the MessagePack documents their messages carry.
//!
//! Each message variant holds one `Vec<u8>`, a MessagePack document of the
//! types below, so that `ractor_cluster` moves opaque bytes
//! ([`BytesConvertable`](ractor_cluster::BytesConvertable) for `Vec<u8>`)
//! and a malformed document is an error this side reports, never a panic in
//! ractor's decoding.

use std::collections::BTreeMap;
use std::time::Duration;

use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};
use wasp_protocol::{ApiVersion, ErrorCode, MessageKind, WireError};
use wasp_runtime::{AuditEvent, GrantSet, Limits};

/// The `ractor::pg` group a node's [`NodeMsg`] actor joins.
pub fn node_group(token: &str) -> String {
    format!("wasp.node.{token}")
}

/// The `ractor::pg` group the host's [`GatewayMsg`] actor for one instance joins.
pub fn gateway_group(token: &str) -> String {
    format!("wasp.gateway.{token}")
}

/// The line a node prints on its standard output once it listens:
/// this prefix, then `<ip>:<port>`.
pub const LISTENING: &str = "wasp-node listening on ";

/// The largest frame either side accepts: a plugin library travels in one,
/// and so does a reply as large as a plugin's messages may be.
pub const MAX_FRAME: u64 = 256 << 20;

/// The environment variable that hands a node its cookie (kept off the
/// command line, where other users of the machine could read it).
pub const COOKIE_ENV: &str = "WASP_NODE_COOKIE";

/// Messages to the node's actor, which runs one plugin instance.
#[derive(RactorClusterMessage)]
pub enum NodeMsg {
    /// Load the library and start the instance: a [`Start`]; the reply is
    /// a [`Started`].
    #[rpc]
    Start(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// Handle one message: a [`Delivery`]; the reply is a [`Handled`] once
    /// the plugin's handler has returned.
    #[rpc]
    Deliver(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// Run the plugin's `on_unload`; the reply is an [`Unloaded`].
    #[rpc]
    Unload(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// Drop the instance (the document is empty): a node the host did not
    /// start is not killed, it waits for its next [`NodeMsg::Start`].
    Stop(Vec<u8>),
}

/// Messages to the host's gateway for one node: everything the plugin asks
/// of the host comes back through it and meets the host's broker.
#[derive(RactorClusterMessage)]
pub enum GatewayMsg {
    /// Answers the plugin gave outside a handler (deferred replies): an [`Answers`].
    Answer(Vec<u8>),
    /// An audit event about the plugin: an [`AuditEvent`].
    Audit(Vec<u8>),
    /// A host call that routes: a [`RouteCall`]; the reply is a [`RouteAnswer`].
    #[rpc]
    Route(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// What a node starts its instance with.
#[derive(Debug, Serialize, Deserialize)]
pub struct Start {
    /// The `ractor::pg` group of the host's gateway for this instance.
    pub gateway: String,
    /// The plugin's address.
    pub name: String,
    /// The library's file name (for the loaded copy's name).
    pub file_name: String,
    /// The library.
    #[serde(with = "serde_bytes")]
    pub library: Vec<u8>,
    /// Its effective limits.
    pub limits: WireLimits,
    /// Its permissions now, with their exceptions.
    pub grants: GrantSet,
    /// Its configuration values (MessagePack each).
    pub config: BTreeMap<String, serde_bytes::ByteBuf>,
    /// For a component of a hybrid plugin, the plugin's name and the
    /// addresses of its components.
    pub family: Option<(String, Vec<String>)>,
    /// State handed over by the previous instance (a hot reload).
    pub restored: Option<serde_bytes::ByteBuf>,
    /// Whether the host offers outbound HTTP.
    pub http: bool,
    /// The host's folder of plugin data directories, if any.
    pub data_root: Option<String>,
    /// The instance's key: every [`GatewayMsg`] for this instance carries
    /// it ([`seal`]), so that no other node of the host can speak for it.
    pub key: String,
}

/// The reply to [`NodeMsg::Start`]: the library's ABI version, or why it did not start.
pub type Started = Result<ApiVersion, Fault>;

/// One message for the plugin.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// Request, event, or a completion; on the wire its ABI number, a
    /// byte from 0 to 3.
    pub kind: MessageKind,
    /// The message or request id.
    pub id: u64,
    /// The sender.
    pub from: String,
    /// The topic.
    pub topic: String,
    /// MessagePack.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Whether someone waits for the answer.
    pub wants_reply: bool,
    /// Milliseconds left before the caller stops waiting.
    pub deadline_ms: Option<u64>,
    /// The plugin's permissions, when they changed since the last delivery.
    pub grants: Option<GrantSet>,
}

/// The reply to [`NodeMsg::Deliver`]: the answers the plugin gave while it
/// handled the message (this one's, and deferred ones'), and whether the
/// instance faulted (then it must be recycled).
#[derive(Debug, Serialize, Deserialize)]
pub struct Handled {
    /// `(request id, answer)`, in the order given.
    pub answers: Answers,
    /// The fault, if the instance faulted.
    pub fault: Option<Fault>,
}

/// Answers to requests: `(request id, reply payload or error)`.
pub type Answers = Vec<(u64, Result<serde_bytes::ByteBuf, WireError>)>;

/// The reply to [`NodeMsg::Unload`]: the plugin's state (or its refusal),
/// or the fault that ended the instance.
pub type Unloaded = Result<Result<Option<serde_bytes::ByteBuf>, WireError>, Fault>;

/// A fault of the instance, as its error's code and message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// Its stable code.
    pub code: ErrorCode,
    /// Its message.
    pub message: String,
}

impl Fault {
    /// The fault of a runtime error.
    pub fn of(error: &wasp_runtime::Error) -> Self {
        Self { code: error.code(), message: error.to_string() }
    }
}

/// A host call the plugin made that the host's broker serves.
#[derive(Debug, Serialize, Deserialize)]
pub enum RouteCall {
    /// `send`.
    Send {
        /// To.
        to: String,
        /// Topic.
        topic: String,
        /// Payload.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// `publish`.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// `subscribe`.
    Subscribe(String),
    /// `unsubscribe`.
    Unsubscribe(String),
    /// `request` (`wait`) or `request_async`.
    Request {
        /// To.
        to: String,
        /// Topic.
        topic: String,
        /// Payload.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
        /// Timeout in milliseconds.
        timeout_ms: Option<u64>,
        /// `true`: the answer is the reply; `false`: the answer is the id
        /// of a `request_async`.
        wait: bool,
    },
    /// `timer.set_*`.
    SetTimer {
        /// Period in milliseconds.
        period_ms: u64,
        /// Interval or one-shot.
        repeat: bool,
        /// Topic.
        topic: String,
        /// Payload.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
        /// The most timers the plugin may have.
        max_timers: u64,
    },
    /// `timer.cancel`.
    CancelTimer(u64),
    /// `kv.*`, served from the host's store.
    Storage {
        /// The service (`kv.get`, ...).
        service: String,
        /// Its arguments.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
}

/// The answer to a [`RouteCall`]: MessagePack of the call's value (nil, an
/// id, a bool), or the answer itself for a waited request and a storage call.
pub type RouteAnswer = Result<serde_bytes::ByteBuf, WireError>;

/// [`Limits`] on the wire (durations in milliseconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct WireLimits {
    pub max_module_size: u64,
    pub max_memory: u64,
    pub max_table_elements: u32,
    pub max_message_size: u64,
    pub cpu_budget_ms: u64,
    pub mailbox_depth: u64,
    pub request_timeout_ms: u64,
    pub max_outstanding_requests: u64,
    pub host_call_rate: u32,
    pub log_rate: u32,
    pub storage_quota: u64,
    pub max_timers: u64,
    #[serde(default)]
    pub mailbox_bytes: u64,
    #[serde(default)]
    pub timer_bytes: u64,
    /// A node runs one instance of its plugin; carried for completeness.
    #[serde(default)]
    pub max_instances: u64,
}

impl From<&Limits> for WireLimits {
    fn from(l: &Limits) -> Self {
        Self {
            max_module_size: l.max_module_size as u64,
            max_memory: l.max_memory as u64,
            max_table_elements: l.max_table_elements,
            max_message_size: l.max_message_size as u64,
            cpu_budget_ms: l.cpu_budget.as_millis() as u64,
            mailbox_depth: l.mailbox_depth as u64,
            request_timeout_ms: l.request_timeout.as_millis() as u64,
            max_outstanding_requests: l.max_outstanding_requests as u64,
            host_call_rate: l.host_call_rate,
            log_rate: l.log_rate,
            storage_quota: l.storage_quota,
            max_timers: l.max_timers as u64,
            mailbox_bytes: l.mailbox_bytes as u64,
            timer_bytes: l.timer_bytes as u64,
            max_instances: l.max_instances as u64,
        }
    }
}

impl From<&WireLimits> for Limits {
    fn from(l: &WireLimits) -> Self {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Self {
            max_module_size: size(l.max_module_size),
            max_memory: size(l.max_memory),
            max_table_elements: l.max_table_elements,
            max_message_size: size(l.max_message_size),
            cpu_budget: Duration::from_millis(l.cpu_budget_ms),
            mailbox_depth: size(l.mailbox_depth),
            request_timeout: Duration::from_millis(l.request_timeout_ms),
            max_outstanding_requests: size(l.max_outstanding_requests),
            host_call_rate: l.host_call_rate,
            log_rate: l.log_rate,
            storage_quota: l.storage_quota,
            max_timers: size(l.max_timers),
            mailbox_bytes: size(l.mailbox_bytes),
            timer_bytes: size(l.timer_bytes),
            max_instances: size(l.max_instances),
            // A node is handed its library's bytes: it reads and compiles nothing.
            ..Limits::default()
        }
    }
}

/// A document for a gateway, with the key of its instance
/// ([`Start::key`]). Every node of a host holds the cookie and sees every
/// gateway's group; a gateway takes only what carries its own key.
#[derive(Debug, Serialize, Deserialize)]
pub struct Keyed {
    /// The instance's key.
    pub key: String,
    /// The document.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// A fresh instance key: 256 bits from the OS, in hex.
///
/// # Errors
///
/// `internal` when the OS has no randomness to give.
pub fn new_key() -> Result<String, WireError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("no randomness for a node key: {e}")))?;
    Ok(secret.iter().map(|b| format!("{b:02x}")).collect())
}

/// `body` sealed with `key`, for a [`GatewayMsg`].
pub fn seal(key: &str, body: Vec<u8>) -> Vec<u8> {
    encode(&Keyed { key: key.to_owned(), body })
}

/// The document `bytes` seals, if it carries `key`.
///
/// # Errors
///
/// `invalid_message` for a malformed document, `permission_denied` for
/// another key (or none).
pub fn unseal(key: &str, what: &str, bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    let keyed: Keyed = decode(what, bytes)?;
    // Compared without stopping at the first difference: how long it takes
    // says nothing about the key.
    let same =
        keyed.key.len() == key.len() && keyed.key.bytes().zip(key.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(keyed.body)
    } else {
        Err(WireError::new(
            ErrorCode::PermissionDenied,
            format!("a {what} without its instance's key: it does not come from the plugin's own node"),
        ))
    }
}

/// Encodes a wire document.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing these plain types into a Vec cannot fail.
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

/// Decodes a wire document under the codec's structure check
/// ([`wasp_protocol::codec::check`]: one value, nested at most
/// [`MAX_DEPTH`](wasp_protocol::codec::MAX_DEPTH) deep), so a hostile
/// process on the other end cannot exhaust this one's stack.
///
/// # Errors
///
/// `invalid_message`, naming `what`, for a malformed document.
pub fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, WireError> {
    wasp_protocol::codec::from_slice(bytes).map_err(|e| {
        WireError::new(ErrorCode::InvalidMessage, format!("a malformed {what} from the other process: {e}"))
    })
}

/// An audit event on the wire.
pub fn encode_audit(event: &AuditEvent) -> Vec<u8> {
    encode(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_document_is_an_invalid_message_error() {
        for bytes in [&[][..], &[0xc1], &[0x93, 0x01], b"not msgpack at all"] {
            let err = decode::<Delivery>("delivery", bytes).expect_err("refused");
            assert_eq!(err.code, ErrorCode::InvalidMessage);
            assert!(err.message.contains("delivery"), "{}", err.message);
        }
    }

    #[test]
    fn a_document_nested_ten_thousand_deep_is_an_invalid_message_on_a_small_stack() {
        // `{"x": [[[…nil…]]]}`: an unknown field a struct skips by recursing.
        let deep = [&[0x81, 0xa1, b'x'][..], &vec![0x91; 10_000], &[0xc0]].concat();
        let errors = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                [
                    decode::<Delivery>("delivery", &deep).expect_err("refused"),
                    decode::<RouteCall>("host call", &deep).expect_err("refused"),
                    decode::<AuditEvent>("audit event", &deep).expect_err("refused"),
                ]
            })
            .expect("thread starts")
            .join()
            .expect("no overflow");
        for err in errors {
            assert_eq!(err.code, ErrorCode::InvalidMessage);
            assert!(err.message.contains("deeper than the limit of 32 levels"), "{}", err.message);
        }
    }

    #[test]
    fn a_gateway_document_opens_only_with_its_own_key() {
        let (key, other) = (new_key().expect("random"), new_key().expect("random"));
        assert_eq!(key.len(), 64);
        assert_ne!(key, other);
        let sealed = seal(&key, vec![1, 2, 3]);
        assert_eq!(unseal(&key, "answer", &sealed).expect("opens"), [1, 2, 3]);
        for (wrong, bytes) in [(&other, sealed.clone()), (&key, seal(&other, vec![1])), (&key, seal("", vec![1]))] {
            let err = unseal(wrong, "answer", &bytes).expect_err("refused");
            assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
        }
        assert_eq!(unseal(&key, "answer", &[0xc1]).expect_err("malformed").code, ErrorCode::InvalidMessage);
    }

    #[test]
    fn limits_and_calls_cross_the_wire_unchanged() {
        let limits = Limits { cpu_budget: Duration::from_millis(250), max_timers: 7, ..Limits::default() };
        assert_eq!(Limits::from(&WireLimits::from(&limits)), limits);
        let call = RouteCall::Request {
            to: "b".into(),
            topic: "t".into(),
            payload: vec![1, 2],
            timeout_ms: Some(5),
            wait: true,
        };
        let back: RouteCall = decode("host call", &encode(&call)).expect("decodes");
        assert!(
            matches!(back, RouteCall::Request { ref to, ref payload, timeout_ms: Some(5), wait: true, .. } if to == "b" && payload == &[1, 2])
        );
        let event = AuditEvent::new(
            "p",
            wasp_runtime::AuditKind::PermissionDenied { permission: "log".parse().expect("valid") },
            "no",
        );
        let back: AuditEvent = decode("audit event", &encode_audit(&event)).expect("decodes");
        assert_eq!(back.kind, event.kind);
        assert_eq!(back.message, "no");
    }
}
