//! What every backend does when its plugin calls the host: the one place the
//! semantics of the host API live — permission checks, limits, audit and the
//! host services — so WASM and in-process plugins behave alike.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasp_protocol::{ErrorCode, LogLevel, MessageKind, Permission, WireError};

use crate::audit::{AuditEvent, AuditKind};
use crate::env::PluginEnv;
use crate::grants::GrantSet;
use crate::library::call::LibraryHost;
use crate::rate::{Bucket, LogAdmission, once_a_second};
use crate::router::{Answer, BoxFuture, ReplyTo};
use crate::text::{bound_error, truncated};

pub mod rules;
mod services;

#[cfg(feature = "storage")]
pub use services::serve_storage;

use rules::Call;

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
        self.permit(rules::request(to, topic))?;
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
