//! What every backend does when its plugin calls the host: the one place the
//! semantics of the host API live — permission checks, limits, audit and the
//! host services — so WASM and in-process plugins behave alike.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasp_protocol::services::{self as svc, ClockNow, ConfigGet, RandomBytes, TimerCancel, TimerSet};
#[cfg(feature = "storage")]
use wasp_protocol::services::{KvKey, KvList, KvSet, KvUsage};
use wasp_protocol::{ErrorCode, LogLevel, MessageKind, Permission, WireError, codec};

use crate::audit::{AuditEvent, AuditKind};
use crate::env::PluginEnv;
use crate::grants::GrantSet;
use crate::library::call::{LibraryHost, host_call, parse_service};
use crate::rate::{Bucket, LogAdmission, once_a_second};
use crate::router::{Answer, BoxFuture, ReplyTo, TimerSpec};
#[cfg(feature = "http")]
use crate::services::http::HttpClient;
#[cfg(feature = "storage")]
use crate::services::storage::Storage;
use crate::text::{bound_error, truncated};

pub mod rules;

use rules::Call;

/// The most keys one `kv.list` returns.
#[cfg(feature = "storage")]
const MAX_LIST: usize = 10_000;

/// A request the plugin has received and not answered yet.
struct Pending {
    reply: ReplyTo,
    deadline: Option<Instant>,
}

/// Per-plugin host state shared by the backends.
pub(crate) struct HostCalls {
    pub(crate) env: PluginEnv,
    pending: HashMap<u64, Pending>,
    calls: Bucket,
    /// When a call refused by the rate limit was last reported.
    rate_reported: Option<Instant>,
    /// Whether a log line refused for want of `log` was reported.
    log_denial_reported: bool,
    /// Set once the host quarantined the plugin: every later call fails
    /// without a word to the audit log.
    pub(crate) quarantined: bool,
    /// The plugin's own requests awaiting answers.
    outstanding: Arc<std::sync::atomic::AtomicUsize>,
    /// The grants as of `grants.revision()`: checked without a lock.
    grants: (u64, Arc<GrantSet>),
    /// The last line the plugin logged at error level, kept even when
    /// `log` is not granted: the reason a failed load reports.
    last_error: Option<String>,
    /// The store of a native or in-process plugin's libraries, made at its
    /// first library call (a WASM plugin's live in its own store).
    library_host: Option<Arc<tokio::sync::Mutex<LibraryHost>>>,
}

fn monotonic_origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The longest path `fs.resolve` and the WASI path calls take, in bytes
/// (Linux's `PATH_MAX`).
pub(crate) const MAX_PATH: usize = 4096;

/// The longest error line kept as the reason of a failed load, in bytes.
const MAX_REASON: usize = 1024;

/// Nanoseconds on the host's monotonic clock (origin fixed per process).
pub(crate) fn monotonic_nanos() -> u128 {
    monotonic_origin().elapsed().as_nanos()
}

/// Decodes a host call's payload. Bytes that are not one well-formed value
/// nested at most [`codec::MAX_DEPTH`] deep are `invalid_message`, and are
/// refused before anything recursive reads them (this runs before the
/// permission check, for every plugin); a well-formed value of another
/// shape is `invalid_argument`.
fn decode<T: DeserializeOwned>(service: &str, shape: &str, payload: &[u8]) -> Result<T, WireError> {
    codec::from_payload(payload).map_err(|e| match e {
        codec::CodecError::Decode(_) => {
            WireError::new(ErrorCode::InvalidArgument, format!("{service}: the payload is not {shape}: {e}"))
        }
        other => {
            let code = WireError::from(other.clone()).code;
            WireError::new(code, format!("{service}: {other}"))
        }
    })
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Answer {
    Ok(codec::to_payload(value)?)
}

const NIL: [u8; 1] = [0xc0];

impl HostCalls {
    pub(crate) fn new(env: PluginEnv) -> Self {
        let calls = Bucket::new(env.limits.host_call_rate);
        Self {
            env,
            pending: HashMap::new(),
            calls,
            rate_reported: None,
            log_denial_reported: false,
            quarantined: false,
            outstanding: Arc::default(),
            grants: (u64::MAX, Arc::default()),
            last_error: None,
            library_host: None,
        }
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.env.name
    }

    /// The last error-level line the plugin logged, taken.
    pub(crate) fn take_last_error(&mut self) -> Option<String> {
        self.last_error.take()
    }

    /// Reports an event; latches quarantine if the host says so.
    fn audit(&mut self, kind: AuditKind, message: String) {
        if self.quarantined {
            return;
        }
        if self.env.router.audit(AuditEvent::new(&*self.env.name, kind, message)) {
            self.quarantined = true;
        }
    }

    /// Records a call that broke the ABI (bad pointer, bad UTF-8, …).
    pub(crate) fn invalid_call(&mut self, call: &str, error: &WireError) {
        self.audit(AuditKind::InvalidCall { call: call.to_owned() }, format!("{call}: {}", error.message));
    }

    /// Records an exceeded limit found outside a host call (memory, tables).
    pub(crate) fn limit_exceeded(&mut self, limit: &str, message: String) {
        self.audit(AuditKind::LimitExceeded { limit: limit.to_owned() }, message);
    }

    /// Records a file access the WASI layer refused.
    pub(crate) fn file_denied(&mut self, permission: Permission, message: String) {
        self.audit(AuditKind::PermissionDenied { permission }, message);
    }

    fn quarantine_error(&self) -> WireError {
        WireError::new(ErrorCode::Unavailable, format!("plugin `{}` is quarantined", self.env.name))
    }

    /// Every counted host call passes here: quarantine, then the rate limit.
    fn admit(&mut self, call: &str) -> Result<(), WireError> {
        if self.quarantined {
            return Err(self.quarantine_error());
        }
        if self.calls.take() {
            return Ok(());
        }
        let rate = self.env.limits.host_call_rate;
        let err = WireError::new(
            ErrorCode::Busy,
            format!("{call}: plugin `{}` exceeded its limit of {rate} host calls per second", self.env.name),
        );
        // The limit is a throttle: at most one event (and one violation) a
        // second, however many calls it refuses, so that sustained load
        // alone never quarantines a plugin.
        if once_a_second(&mut self.rate_reported) {
            self.audit(AuditKind::LimitExceeded { limit: "host_call_rate".into() }, err.message.clone());
        }
        Err(err)
    }

    /// Admits a library call (`library:<name>/<function>`): counted against
    /// the rate limit like any `call`.
    pub(crate) fn admit_library(&mut self) -> Result<(), WireError> {
        self.admit("library")
    }

    /// A WASI call's permission check (audited, rate-limited like any call).
    pub(crate) fn wasi_require(&mut self, wanted: Permission) -> Result<(), WireError> {
        self.admit("wasi")?;
        self.require(wanted)
    }

    /// Brings the cached snapshot up to the grants of this moment (only
    /// when the host changed them).
    fn refresh_grants(&mut self) {
        if self.env.grants.revision() != self.grants.0 {
            self.grants = self.env.grants.snapshot();
        }
    }

    /// Whether the grants of this moment cover `kind` on `target`.
    fn allows(&mut self, kind: &str, target: Option<&str>) -> bool {
        self.refresh_grants();
        self.grants.1.allows_parts(kind, target)
    }

    /// Checks a permission; a denial is audited.
    fn require(&mut self, wanted: Permission) -> Result<(), WireError> {
        self.require_parts(wanted.kind(), wanted.target())
    }

    /// [`HostCalls::require`] without building the permission unless it is
    /// denied.
    fn require_parts(&mut self, kind: &str, target: Option<&str>) -> Result<(), WireError> {
        if self.allows(kind, target) {
            return Ok(());
        }
        let wanted = Permission::from_parts(kind, target).unwrap_or(Permission::Log);
        let e = crate::grants::denied(&self.env.name, &wanted);
        self.audit(AuditKind::PermissionDenied { permission: wanted }, e.message.clone());
        Err(e)
    }

    fn check_size(&mut self, what: &str, payload: &[u8]) -> Result<(), WireError> {
        rules::check_size(payload, self.env.limits.max_message_size).map_err(|e| {
            let err = WireError::new(e.code, format!("{what}: {}", e.message));
            self.audit(AuditKind::LimitExceeded { limit: "max_message_size".into() }, err.message.clone());
            err
        })
    }

    /// A topic check of [`rules`]; a bad one is an invalid call.
    fn check(&mut self, what: &str, checked: Result<(), WireError>) -> Result<(), WireError> {
        checked.map_err(|e| {
            let err = WireError::new(e.code, format!("{what}: {}", e.message));
            self.invalid_call(what, &err);
            err
        })
    }

    fn check_topic(&mut self, what: &str, topic: &str) -> Result<(), WireError> {
        self.check(what, rules::check_topic(topic))
    }

    /// Checks an address (`host`, or a plugin's name) before anything is
    /// looked up or checked against the grants with it.
    fn check_address(&mut self, what: &str, to: &str) -> Result<(), WireError> {
        self.check(what, rules::check_address(to))
    }

    /// Checks the permission `call` needs ([`rules::needed`]); a denial is audited.
    fn permit(&mut self, call: Call<'_>) -> Result<(), WireError> {
        match rules::needed(&self.env.name, self.env.family.as_ref(), call) {
            Some((kind, target)) => self.require_parts(kind, target),
            None => Ok(()),
        }
    }

    fn timeout(ms: Option<u32>) -> Option<Duration> {
        ms.filter(|&ms| ms > 0).map(|ms| Duration::from_millis(ms.into()))
    }

    pub(crate) fn send(&mut self, to: &str, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.admit("send")?;
        self.check_address("send", to)?;
        self.check_topic("send", topic)?;
        self.check_size("send", &payload)?;
        self.permit(Call::Send(to))?;
        self.env.router.send(&self.env.name, to, topic, payload)
    }

    pub(crate) fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), WireError> {
        self.admit("publish")?;
        self.check_topic("publish", topic)?;
        self.check_size("publish", &payload)?;
        self.permit(Call::Publish(topic))?;
        self.env.router.publish(&self.env.name, topic, payload)
    }

    pub(crate) fn subscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        self.admit("subscribe")?;
        self.check_topic("subscribe", pattern)?;
        self.permit(Call::Subscribe(pattern))?;
        self.env.router.subscribe(&self.env.name, pattern)
    }

    pub(crate) fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        self.admit("unsubscribe")?;
        self.check_topic("unsubscribe", pattern)?;
        self.env.router.unsubscribe(&self.env.name, pattern)
    }

    fn check_request(&mut self, call: &str, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        self.admit(call)?;
        self.check_address(call, to)?;
        self.check_topic(call, topic)?;
        self.check_size(call, payload)?;
        self.permit(Call::Request(to))?;
        let max = self.env.limits.max_outstanding_requests;
        if self.outstanding.load(Ordering::Acquire) >= max {
            let err = WireError::new(
                ErrorCode::Busy,
                format!("{call}: plugin `{}` already has {max} requests awaiting answers", self.env.name),
            );
            self.audit(AuditKind::LimitExceeded { limit: "max_outstanding_requests".into() }, err.message.clone());
            return Err(err);
        }
        Ok(())
    }

    /// A completion of one of the plugin's `request_async` calls arrived.
    pub(crate) fn completion_arrived(&self) {
        let _ = self.outstanding.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub(crate) fn request(
        &mut self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> BoxFuture<Answer> {
        if let Err(e) = self.check_request("request", to, topic, &payload) {
            return Box::pin(std::future::ready(Err(e)));
        }
        let fut = self.env.router.request(&self.env.name, to, topic, payload, Self::timeout(timeout_ms));
        let outstanding = self.outstanding.clone();
        outstanding.fetch_add(1, Ordering::AcqRel);
        Box::pin(async move {
            let answer = fut.await;
            outstanding.fetch_sub(1, Ordering::AcqRel);
            answer
        })
    }

    pub(crate) fn request_async(
        &mut self,
        to: &str,
        topic: &str,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        self.check_request("request_async", to, topic, &payload)?;
        let id = self.env.router.request_async(&self.env.name, to, topic, payload, Self::timeout(timeout_ms))?;
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        Ok(id)
    }

    /// Answers a pending request the plugin received. Not rate-limited: an
    /// answer is never refused.
    pub(crate) fn reply(&mut self, id: u64, answer: Answer) -> Result<(), WireError> {
        if self.quarantined {
            // The pending request is answered `unavailable` when the instance is abandoned.
            return Err(self.quarantine_error());
        }
        let answer = match answer {
            Ok(payload) => {
                self.check_size("reply", &payload)?;
                Ok(payload)
            }
            Err(e) => Err(bound_error(e, self.env.limits.max_message_size)),
        };
        let pending = self
            .pending
            .remove(&id)
            .ok_or_else(|| WireError::new(ErrorCode::NotFound, format!("no unanswered request with id {id}")))?;
        pending.reply.send(answer);
        Ok(())
    }

    /// Writes a log line, if `log` is granted and the rate allows. An
    /// error-level line is also kept, whatever the grants, as the reason of
    /// a load that fails ([`HostCalls::take_last_error`]).
    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        if self.quarantined {
            return;
        }
        if level == LogLevel::Error {
            self.last_error = Some(truncated(message, MAX_REASON));
        }
        if !self.allows("log", None) {
            if !self.log_denial_reported {
                self.log_denial_reported = true;
                let e = crate::grants::denied(&self.env.name, &Permission::Log);
                self.audit(AuditKind::PermissionDenied { permission: Permission::Log }, e.message);
            }
            return;
        }
        if !self.admit_line() {
            return;
        }
        let plugin = &*self.env.name;
        match level {
            LogLevel::Trace => tracing::trace!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "wasp::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "wasp::plugin", plugin, "{message}"),
        }
    }

    /// Whether one more line may be written on the plugin's account
    /// ([`LogRate`]); reports the dropped ones, at most once a second.
    fn admit_line(&mut self) -> bool {
        match self.env.log_rate.admit() {
            LogAdmission::Write => true,
            LogAdmission::Drop => false,
            LogAdmission::Report(n) => {
                let message = self.env.log_rate.report(&self.env.name, n);
                self.audit(AuditKind::LimitExceeded { limit: "log_rate".into() }, message);
                false
            }
        }
    }

    /// A message the host could not hand to the plugin (its memory had no
    /// room for it): a request is answered with `error`; anything else is
    /// dropped, with a line on the plugin's log budget.
    pub(crate) fn undelivered(&mut self, id: u64, kind: MessageKind, error: WireError) {
        if kind == MessageKind::Request {
            self.fail_request(id, error);
        } else if self.admit_line() {
            tracing::warn!(target: "wasp::audit", plugin = %self.env.name, "undeliverable message: {error}");
        }
    }

    /// A host service (`docs/abi.md` §7). The returned future owns
    /// everything it needs, so the caller may await it without holding the
    /// plugin's state.
    pub(crate) fn call(&mut self, service: &str, payload: Vec<u8>) -> BoxFuture<Answer> {
        let ready = |answer: Answer| -> BoxFuture<Answer> { Box::pin(std::future::ready(answer)) };
        if let Err(e) = self.admit(service) {
            return ready(Err(e));
        }
        if let Some(parsed) = parse_service(service) {
            return match parsed {
                Ok((name, function)) => {
                    let env = &self.env;
                    let host = self
                        .library_host
                        .get_or_insert_with(|| {
                            Arc::new(tokio::sync::Mutex::new(LibraryHost::new(
                                env.name.clone(),
                                env.libraries.clone(),
                                env.limits.clone(),
                            )))
                        })
                        .clone();
                    host_call(host, name.to_owned(), function.to_owned(), payload)
                }
                Err(e) => ready(Err(e)),
            };
        }
        match self.call_inner(service, payload) {
            Ok(fut) => fut,
            Err(e) => ready(Err(e)),
        }
    }

    fn call_inner(&mut self, service: &str, payload: Vec<u8>) -> Result<BoxFuture<Answer>, WireError> {
        let ready =
            |answer: Answer| -> Result<BoxFuture<Answer>, WireError> { Ok(Box::pin(std::future::ready(answer))) };
        match service {
            svc::KV_GET | svc::KV_SET | svc::KV_DELETE | svc::KV_LIST | svc::KV_USAGE => {
                self.permit(Call::Storage)?;
                self.storage_call(service, payload)
            }
            svc::TIMER_SET_TIMEOUT | svc::TIMER_SET_INTERVAL => {
                self.permit(Call::Timers)?;
                let set: TimerSet = decode(service, "{ ms, topic, payload }", &payload)?;
                let topic = set.topic.unwrap_or_else(|| svc::DEFAULT_TIMER_TOPIC.to_owned());
                self.check_topic(service, &topic)?;
                let payload = set.payload.unwrap_or_else(|| NIL.to_vec());
                self.check_size(service, &payload)?;
                let spec = TimerSpec {
                    period: Duration::from_millis(set.ms.max(svc::MIN_TIMER_MS)),
                    repeat: service == svc::TIMER_SET_INTERVAL,
                    topic,
                    payload: payload.into(),
                    max_timers: self.env.limits.max_timers,
                    max_bytes: self.env.limits.timer_bytes,
                };
                let id = self.env.router.set_timer(&self.env.name, spec);
                if let Err(e) = &id {
                    let limit = match e.code {
                        ErrorCode::Busy => Some("max_timers"),
                        ErrorCode::TooLarge => Some("timer_bytes"),
                        _ => None,
                    };
                    if let Some(limit) = limit {
                        self.audit(AuditKind::LimitExceeded { limit: limit.into() }, e.message.clone());
                    }
                }
                ready(encode(&id?))
            }
            svc::TIMER_CANCEL => {
                self.permit(Call::Timers)?;
                let TimerCancel { id } = decode(service, "{ id }", &payload)?;
                ready(encode(&self.env.router.cancel_timer(&self.env.name, id)))
            }
            svc::CLOCK_NOW => {
                self.require(Permission::Clock)?;
                let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                let now = ClockNow {
                    unix_nanos: u64::try_from(unix.as_nanos()).unwrap_or(u64::MAX),
                    monotonic_nanos: u64::try_from(monotonic_origin().elapsed().as_nanos()).unwrap_or(u64::MAX),
                };
                ready(encode(&now))
            }
            svc::RANDOM_BYTES => {
                self.require(Permission::Random)?;
                let RandomBytes { len } = decode(service, "{ len }", &payload)?;
                if len > svc::MAX_RANDOM_BYTES {
                    return Err(WireError::new(
                        ErrorCode::InvalidArgument,
                        format!("{service}: {len} bytes asked, at most {} per call", svc::MAX_RANDOM_BYTES),
                    ));
                }
                let mut bytes = vec![0u8; len as usize];
                getrandom::fill(&mut bytes)
                    .map_err(|e| WireError::new(ErrorCode::Unavailable, format!("{service}: {e}")))?;
                ready(encode(serde_bytes::Bytes::new(&bytes)))
            }
            svc::CONFIG_GET => {
                self.require(Permission::Config)?;
                let ConfigGet { key } = decode(service, "{ key }", &payload)?;
                ready(Ok(self.env.config.get(&key).cloned().unwrap_or_else(|| NIL.to_vec())))
            }
            svc::FS_RESOLVE => {
                let svc::FsResolve { path, write } = decode(service, "{ path, write }", &payload)?;
                ready(encode(&self.resolve_path(&path, write)?))
            }
            #[cfg(not(feature = "http"))]
            svc::HTTP_FETCH => Err(crate::features::wire_off(service, "http")),
            #[cfg(feature = "http")]
            svc::HTTP_FETCH => {
                let mut req: wasp_protocol::services::HttpRequest =
                    decode(service, "{ method, url, headers, body, timeout_ms }", &payload)?;
                // A plugin may shorten the host's request timeout, never lengthen it.
                let cap = u32::try_from(self.env.limits.request_timeout.as_millis()).unwrap_or(u32::MAX);
                req.timeout_ms = Some(req.timeout_ms.map_or(cap, |ms| ms.min(cap)));
                let permission = HttpClient::permission_for(&req.url)?;
                self.require(permission)?;
                let http = self.env.services.http.clone().ok_or_else(|| {
                    WireError::new(ErrorCode::Unavailable, format!("{service}: this host offers no outbound HTTP"))
                })?;
                let max = self.env.limits.max_message_size;
                Ok(Box::pin(async move { encode(&http.fetch(req, max).await?) }))
            }
            other => Err(WireError::new(
                ErrorCode::NotFound,
                format!("no host service named `{other}`; this host offers {}", svc::ALL.join(", ")),
            )),
        }
    }

    /// `fs.resolve`: the host path of a file as a WASI plugin sees it,
    /// under the granted directory that holds it.
    fn resolve_path(&mut self, path: &str, write: bool) -> Result<String, WireError> {
        if path.len() > MAX_PATH || path.contains('\0') {
            let err = WireError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "{}: a path of {} bytes; paths are at most {MAX_PATH} bytes, without NUL",
                    svc::FS_RESOLVE,
                    path.len()
                ),
            );
            self.invalid_call(svc::FS_RESOLVE, &err);
            return Err(err);
        }
        let invalid =
            |why: &str| WireError::new(ErrorCode::InvalidArgument, format!("{}: `{path}` {why}", svc::FS_RESOLVE));
        if !path.starts_with('/') {
            return Err(invalid("is not absolute; WASI paths start with `/`, such as `/data/notes.txt`"));
        }
        if path.split('/').any(|part| part == "..") {
            return Err(invalid("leaves its directory; `..` is not allowed"));
        }
        self.refresh_grants();
        // The granted directory whose guest path is the longest prefix of `path`.
        let mut best: Option<(std::path::PathBuf, String, String)> = None;
        for grant in self.grants.1.granted() {
            let (Permission::FsRead(dir) | Permission::FsWrite(dir)) = grant else { continue };
            let Some((host, guest)) = self.env.services.resolve_dir(&self.env.name, dir) else { continue };
            let inside = path == guest || path.starts_with(&format!("{}/", guest.trim_end_matches('/')));
            if inside && best.as_ref().is_none_or(|(_, g, _)| guest.len() > g.len()) {
                best = Some((host, guest, dir.clone()));
            }
        }
        let Some((host, guest, grant_dir)) = best else {
            let wanted = if write { Permission::FsWrite(path.to_owned()) } else { Permission::FsRead(path.to_owned()) };
            self.require(wanted)?;
            return Err(invalid("is under no directory this host can resolve"));
        };
        // `fs.write:<dir>` covers reading it too.
        self.require(if write {
            Permission::FsWrite(grant_dir.clone())
        } else {
            Permission::FsRead(grant_dir.clone())
        })?;
        if write && grant_dir.starts_with(wasp_protocol::DATA_DIR) {
            // WASI creates the data directory when it preopens it; so do we.
            let _ = std::fs::create_dir_all(&host);
        }
        let rest = path[guest.len()..].trim_start_matches('/');
        // On Windows `\` separates too and `C:` or `\\server` restarts a
        // path: joined onto the directory, such a rest would leave it.
        let stays_inside = std::path::Path::new(rest)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if !stays_inside {
            return Err(invalid("leaves its directory"));
        }
        let full = if rest.is_empty() { host } else { host.join(rest) };
        Ok(full.to_string_lossy().into_owned())
    }

    fn storage_call(&mut self, service: &str, payload: Vec<u8>) -> Result<BoxFuture<Answer>, WireError> {
        #[cfg(not(feature = "storage"))]
        let stored: Option<std::convert::Infallible> = None;
        #[cfg(feature = "storage")]
        let stored = self.env.services.storage.clone();
        match stored {
            #[cfg(feature = "storage")]
            Some(storage) => {
                serve_storage(storage, self.env.name.clone(), self.env.limits.storage_quota, service, &payload)
            }
            // A plugin out of process: the store is its host's.
            None => self.env.router.storage(&self.env.name, service, payload).ok_or_else(|| {
                if !cfg!(feature = "storage") {
                    return crate::features::wire_off(service, "storage");
                }
                WireError::new(
                    ErrorCode::Unavailable,
                    format!("{service}: this host keeps no plugin storage (it was built without a data directory)"),
                )
            }),
        }
    }

    /// Registers a request about to be handed to the plugin.
    pub(crate) fn begin_request(&mut self, id: u64, reply: ReplyTo, deadline: Option<Instant>) {
        if self.pending.len() >= 64 {
            // Deferred requests whose callers gave up: their answers would be discarded anyway.
            let now = Instant::now();
            self.pending.retain(|_, p| p.deadline.is_none_or(|d| d > now));
        }
        self.pending.insert(id, Pending { reply, deadline });
    }

    /// After the plugin returned from a request without deferring it:
    /// answers `no_reply` if it did not reply.
    pub(crate) fn end_request(&mut self, id: u64) {
        if let Some(pending) = self.pending.remove(&id) {
            pending.reply.send(Err(WireError::new(
                ErrorCode::NoReply,
                format!("plugin `{}` finished handling the request without replying", self.env.name),
            )));
        }
    }

    /// Answers one pending request with `error` (the plugin faulted on it),
    /// bounded: a fault's report carries the plugin's panic message.
    pub(crate) fn fail_request(&mut self, id: u64, error: WireError) {
        if let Some(pending) = self.pending.remove(&id) {
            pending.reply.send(Err(bound_error(error, self.env.limits.max_message_size)));
        }
    }

    /// Answers every pending request with `error` (the instance is gone).
    pub(crate) fn fail_all(&mut self, error: &WireError) {
        for (_, pending) in self.pending.drain() {
            pending.reply.send(Err(error.clone()));
        }
    }
}

/// Serves one `kv.*` call of `plugin` from `storage` (its permission
/// already checked): the store's half of a plugin's storage calls, for a
/// host that serves them for a plugin running elsewhere (a `wasp-node`).
///
/// # Errors
///
/// `invalid_argument` for a payload that does not decode.
#[cfg(feature = "storage")]
pub fn serve_storage(
    storage: Storage,
    plugin: Arc<str>,
    quota: u64,
    service: &str,
    payload: &[u8],
) -> Result<BoxFuture<Answer>, WireError> {
    let service: &'static str = svc::ALL.iter().copied().find(|s| *s == service).unwrap_or("kv");
    let op: Box<dyn FnOnce() -> Answer + Send> = match service {
        svc::KV_GET => {
            let KvKey { key } = decode(service, "{ key }", payload)?;
            Box::new(move || match storage.get(&plugin, &key)? {
                Some(value) => encode(serde_bytes::Bytes::new(&value)),
                None => Ok(NIL.to_vec()),
            })
        }
        svc::KV_SET => {
            let KvSet { key, value } = decode(service, "{ key, value }", payload)?;
            Box::new(move || {
                storage.set(&plugin, &key, &value, quota)?;
                Ok(NIL.to_vec())
            })
        }
        svc::KV_DELETE => {
            let KvKey { key } = decode(service, "{ key }", payload)?;
            Box::new(move || encode(&storage.delete(&plugin, &key)?))
        }
        svc::KV_LIST => {
            let KvList { prefix } = decode(service, "{ prefix }", payload)?;
            Box::new(move || encode(&storage.list(&plugin, &prefix, MAX_LIST)?))
        }
        _ => Box::new(move || encode(&KvUsage { used: storage.usage(&plugin)?, quota })),
    };
    Ok(Box::pin(async move {
        // The database does file I/O (a write waits for fsync): keep it off the async workers.
        tokio::task::spawn_blocking(op).await.unwrap_or_else(|e| {
            Err(WireError::new(ErrorCode::Internal, format!("{service}: the storage task failed: {e}")))
        })
    }))
}
