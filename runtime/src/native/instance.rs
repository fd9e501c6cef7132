//! A running native plugin: one worker thread per instance, under a watchdog.
//!
//! Native code cannot be preempted, so it never runs on the async workers:
//! each instance has its own thread, and the plugin's actor waits for each
//! call with a deadline of the plugin's CPU budget (plus the time the call
//! spent waiting on the host, which is not the plugin's doing). A call that
//! overruns is answered `deadline_exceeded` at once, reported as an
//! [`AuditKind::Overrun`] event, and its instance retired: its thread cannot
//! be killed and runs on until the call returns, but every host call it
//! makes from then on is refused, and the plugin continues on a fresh
//! instance and thread.

use parking_lot::{Mutex, MutexGuard};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wasp_protocol::abi::native::{NativeMessage, STATUS_PANICKED};
use wasp_protocol::{ErrorCode, MessageKind, WireError, abi};

use super::calls::CallCtx;
use super::library::NativePlugin;
use crate::audit::{AuditEvent, AuditKind};
use crate::delivery::{self, Outcome};
use crate::hostcalls::HostCalls;
use crate::lifecycle::{Capture, LIFECYCLE_ID, Unloaded, speaks_lifecycle};
use crate::router::Inbound;
use crate::{Error, PluginEnv};

/// How many threads of one plugin may run on past their budget before the
/// host stops starting new instances of it (each restart then fails, and
/// supervision quarantines the plugin).
pub const MAX_STRANDED_THREADS: usize = 4;

/// How long each side of a call spins before it parks its thread: the
/// worker waiting for its next message, the actor for an answer. A wake-up
/// through the OS costs several microseconds; a burst of messages or a
/// quick call never pays it.
pub(super) const SPIN: Duration = Duration::from_micros(20);

/// The next job for the worker thread, or `None` once the actor is gone.
fn next_job(inbox: &mpsc::Receiver<Job>) -> Option<Job> {
    let since = Instant::now();
    loop {
        match inbox.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if since.elapsed() < SPIN => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Empty) => return inbox.recv().ok(),
        }
    }
}

/// State shared by an instance's worker thread and its actor.
pub(crate) struct Shared {
    name: Arc<str>,
    calls: Mutex<HostCalls>,
    /// Set when the watchdog gave up on the current call.
    pub(super) retired: AtomicBool,
    /// Whether the plugin is inside a host call that waits (a request, a service).
    pub(super) waiting: AtomicBool,
    /// Nanoseconds the current call has spent waiting on the host.
    waited: AtomicU64,
}

impl Shared {
    pub(super) fn calls(&self) -> MutexGuard<'_, HostCalls> {
        self.calls.lock()
    }

    pub(super) fn add_waited(&self, d: Duration) {
        self.waited.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::AcqRel);
    }

    fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited.load(Ordering::Acquire))
    }

    pub(super) fn retired_error(&self) -> WireError {
        WireError::new(
            ErrorCode::Unavailable,
            format!("this instance of plugin `{}` overran its budget and was retired", self.name),
        )
    }
}

/// What the actor asks of the worker thread.
enum Job {
    /// Create the plugin, hand it the state a reload restored (if any), and
    /// run its `on_load`.
    Load(Option<Vec<u8>>, oneshot::Sender<Result<(), Error>>),
    /// Handle one message.
    Handle(Inbound, oneshot::Sender<Result<(), Error>>),
    /// Ask the plugin for the state to hand to its successor.
    Unload(oneshot::Sender<Result<Unloaded, Error>>),
}

/// The actor's end of one worker thread.
struct Worker {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Worker {
    /// Ends the thread and waits for it, so that the plugin and everything
    /// it holds (a database handle, files) is gone when the instance is —
    /// unless the watchdog retired it: that thread runs on by itself.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(thread) = self.thread.take()
            && !self.shared.retired.load(Ordering::Acquire)
        {
            let _ = thread.join();
        }
    }
}

/// A running native plugin.
pub struct NativeInstance {
    plugin: NativePlugin,
    env: PluginEnv,
    rt: tokio::runtime::Handle,
    worker: Worker,
}

impl std::fmt::Debug for NativeInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeInstance").field("plugin", &self.env.name).finish_non_exhaustive()
    }
}

impl NativeInstance {
    /// Starts a worker thread, creates the plugin on it and runs its
    /// `on_load`. `restored` is the state a hot reload hands over: a plugin
    /// built for ABI 1.2 or later receives it as a `restore` message first.
    pub async fn new(plugin: NativePlugin, env: PluginEnv, restored: Option<&[u8]>) -> Result<Self, Error> {
        let rt = tokio::runtime::Handle::current();
        let worker = spawn_worker(&plugin, &env, &rt)?;
        let mut instance = Self { plugin, env, rt, worker };
        instance.load(restored.map(<[u8]>::to_vec)).await?;
        Ok(instance)
    }

    async fn load(&mut self, restored: Option<Vec<u8>>) -> Result<(), Error> {
        let (done, answer) = oneshot::channel();
        self.submit(Job::Load(restored, done))?;
        self.watch(answer, None).await
    }

    /// Asks the instance for the state to hand to its successor (an
    /// `unload` message, ABI 1.2), under the watchdog. `Err` means the
    /// instance faulted and must be recycled; `Ok(Err(_))` is the plugin
    /// refusing. A plugin built for an older ABI has no state.
    pub async fn unload(&mut self) -> Result<Unloaded, Error> {
        if !speaks_lifecycle(self.plugin.abi_version()) {
            return Ok(Ok(None));
        }
        let (done, answer) = oneshot::channel();
        self.submit(Job::Unload(done))?;
        self.watch(answer, None).await
    }

    /// Hands a job to the worker thread; if the thread is gone, a request
    /// in the job is answered with the error.
    fn submit(&self, job: Job) -> Result<(), Error> {
        self.worker.shared.waited.store(0, Ordering::Release);
        let Err(mpsc::SendError(job)) = self.worker.jobs.send(job) else { return Ok(()) };
        let err = self.thread_ended();
        if let Job::Handle(msg, _) = job
            && let Some(reply) = msg.reply
        {
            reply.send(Err(err.to_wire()));
        }
        Err(err)
    }

    fn thread_ended(&self) -> Error {
        Error::Internal(format!("the worker thread of native plugin `{}` has ended", self.env.name))
    }

    /// Handles one message; `Err` means the instance faulted (panicked,
    /// overran) and must be [recycled](Self::recycle).
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        let id = (msg.kind == MessageKind::Request).then_some(msg.id);
        let (done, answer) = oneshot::channel();
        self.submit(Job::Handle(msg, done))?;
        self.watch(answer, id).await
    }

    /// Waits for the worker's answer under the watchdog.
    async fn watch<T>(&mut self, mut answer: oneshot::Receiver<Result<T, Error>>, id: Option<u64>) -> Result<T, Error> {
        let budget = self.env.limits.cpu_budget;
        let started = Instant::now();
        // Most calls take microseconds: wait for those without parking this
        // worker (waking a parked thread costs more than the call).
        while started.elapsed() < SPIN {
            match answer.try_recv() {
                Ok(outcome) => return outcome,
                Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(oneshot::error::TryRecvError::Closed) => break,
            }
        }
        let shared = self.worker.shared.clone();
        loop {
            let deadline = started + budget + shared.waited();
            tokio::select! {
                outcome = &mut answer => {
                    return outcome.unwrap_or_else(|_| Err(self.thread_ended()));
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    if let Ok(outcome) = answer.try_recv() {
                        return outcome;
                    }
                    let still_due = started + budget + shared.waited();
                    if shared.waiting.load(Ordering::Acquire) || Instant::now() < still_due {
                        continue;
                    }
                    return Err(self.overrun(id, started.elapsed()));
                }
            }
        }
    }

    /// The watchdog gave up on the current call.
    fn overrun(&mut self, id: Option<u64>, elapsed: Duration) -> Error {
        let shared = &self.worker.shared;
        shared.retired.store(true, Ordering::Release);
        let stranded = self.plugin.stranded.fetch_add(1, Ordering::AcqRel) + 1;
        let name = self.env.name.to_string();
        let budget = self.env.limits.cpu_budget;
        let err = Error::Overrun { plugin: name.clone(), budget, elapsed };
        {
            let mut calls = shared.calls();
            if let Some(id) = id {
                calls.fail_request(id, err.to_wire());
            }
            calls.fail_all(&WireError::new(
                ErrorCode::PluginCrashed,
                format!("plugin `{name}` was restarted after overrunning its budget"),
            ));
        }
        let message = format!(
            "native plugin `{name}` overran its budget of {} ms ({} ms elapsed); its thread cannot be stopped and \
             runs on until the call returns ({stranded} such thread(s) now)",
            budget.as_millis(),
            elapsed.as_millis()
        );
        tracing::warn!(target: "wasp::native", plugin = %name, "{message}");
        let kind = AuditKind::Overrun { budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX), stranded };
        self.env.router.audit(AuditEvent::new(name, kind, message));
        err
    }

    /// Replaces the instance with a fresh one on a new thread, answering its
    /// deferred requests with `plugin_crashed`.
    pub async fn recycle(&mut self) -> Result<(), Error> {
        self.worker.shared.calls().fail_all(&delivery::restarted(&self.env.name));
        let stranded = self.plugin.stranded.load(Ordering::Acquire);
        if stranded >= MAX_STRANDED_THREADS {
            return Err(Error::Internal(format!(
                "native plugin `{}` has {stranded} threads still running past their budget; \
                 no new instance starts until they return",
                self.env.name
            )));
        }
        self.worker = spawn_worker(&self.plugin, &self.env, &self.rt)?;
        self.load(None).await
    }

    /// The library this instance runs.
    pub fn plugin(&self) -> &NativePlugin {
        &self.plugin
    }

    /// Whether the host quarantined the plugin while it ran.
    pub fn quarantined(&self) -> bool {
        self.worker.shared.calls().quarantined
    }

    /// Answers the requests the plugin had deferred with `unavailable` (it
    /// was quarantined). [`NativeInstance::recycle`] starts it afresh.
    pub fn abandon(&mut self) {
        self.worker.shared.calls().fail_all(&delivery::quarantined(&self.env.name));
    }
}

fn spawn_worker(plugin: &NativePlugin, env: &PluginEnv, rt: &tokio::runtime::Handle) -> Result<Worker, Error> {
    let shared = Arc::new(Shared {
        name: env.name.clone(),
        calls: Mutex::new(HostCalls::new(env.clone())),
        retired: AtomicBool::new(false),
        waiting: AtomicBool::new(false),
        waited: AtomicU64::new(0),
    });
    let (jobs, inbox) = mpsc::channel();
    let thread = Thread { plugin: plugin.clone(), shared: shared.clone(), rt: rt.clone() };
    let thread = std::thread::Builder::new()
        .name(format!("wasp-native-{}", env.name))
        .spawn(move || thread.run(inbox))
        .map_err(|e| Error::Internal(format!("cannot start a thread for native plugin `{}`: {e}", env.name)))?;
    Ok(Worker { jobs, shared, thread: Some(thread) })
}

/// The worker thread's side.
struct Thread {
    plugin: NativePlugin,
    shared: Arc<Shared>,
    rt: tokio::runtime::Handle,
}

/// The plugin's instance handle, owned by its worker thread.
struct Handle(*mut std::ffi::c_void);

impl Thread {
    fn run(self, inbox: mpsc::Receiver<Job>) {
        let _runtime = self.rt.enter();
        let vtable = self.plugin.lib.vtable();
        let mut instance = Handle(std::ptr::null_mut());
        while let Some(job) = next_job(&inbox) {
            match job {
                Job::Load(restored, done) => {
                    let _ = done.send(self.load(&mut instance, restored.as_deref()));
                }
                Job::Handle(msg, done) => {
                    let _ = done.send(self.handle(&instance, msg));
                }
                Job::Unload(done) => {
                    let _ = done.send(self.unload(&instance));
                }
            }
        }
        if !instance.0.is_null() {
            // SAFETY: the handle came from this table's `create`, and is destroyed once.
            unsafe { (vtable.destroy)(instance.0) };
        }
        if self.shared.retired.load(Ordering::Acquire) {
            self.plugin.stranded.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn name(&self) -> String {
        self.plugin.name.to_string()
    }

    fn panicked(&self, what: &str, ctx: &mut CallCtx<'_>) -> Error {
        let (text, backtrace) = ctx.panic.take().unwrap_or_else(|| (format!("{what} panicked"), String::new()));
        Error::Trap {
            plugin: self.name(),
            message: format!("native code panicked: {text}"),
            backtrace: (!backtrace.trim().is_empty()).then_some(backtrace),
        }
    }

    fn load(&self, instance: &mut Handle, restored: Option<&[u8]>) -> Result<(), Error> {
        let vtable = self.plugin.lib.vtable();
        if instance.0.is_null() {
            // SAFETY: `create` takes nothing and returns a new instance handle or NULL.
            instance.0 = unsafe { (vtable.create)() };
        }
        if instance.0.is_null() {
            return Err(Error::Trap {
                plugin: self.name(),
                message: "the library's `create` returned NULL (in a Rust plugin: its `Default` panicked)".into(),
                backtrace: None,
            });
        }
        if let Some(state) = restored.filter(|_| speaks_lifecycle(self.plugin.abi_version())) {
            match self.call(instance, abi::kind::RESTORE, abi::TOPIC_RESTORE, state) {
                (abi::status::DONE | abi::status::DEFERRED, _) => {}
                (STATUS_PANICKED, mut ctx) => return Err(self.panicked("restoring the state", &mut ctx)),
                (status, _) => {
                    return Err(Error::LoadFailed {
                        plugin: self.name(),
                        error: WireError::new(
                            ErrorCode::InvalidMessage,
                            format!("the native `handle` returned status {status} for the restored state"),
                        ),
                    });
                }
            }
        }
        let mut ctx = CallCtx::new(&self.shared, &self.rt);
        let host = ctx.vtable();
        // SAFETY: the handle is this table's; `host` and the context it
        // points to outlive the call, made from this one thread.
        let status = unsafe { (vtable.load)(instance.0, &host) };
        match status {
            abi::status::DONE => Ok(()),
            STATUS_PANICKED => Err(self.panicked("on_load", &mut ctx)),
            code => Err(Error::LoadFailed {
                plugin: self.name(),
                error: WireError::new(
                    ErrorCode::from_u16(u16::try_from(code).unwrap_or(0)),
                    crate::wasm::load_failure(
                        "on_load failed with status",
                        code,
                        self.shared.calls().take_last_error(),
                    ),
                ),
            }),
        }
    }

    /// Calls `handle` with a lifecycle message from `host` (no reply target
    /// of its own; the caller registers one if it wants the answer).
    fn call(&self, instance: &Handle, kind: i32, topic: &str, payload: &[u8]) -> (i32, CallCtx<'_>) {
        let from = "host";
        let message = NativeMessage {
            kind,
            reserved: 0,
            id: LIFECYCLE_ID,
            from: from.as_ptr(),
            from_len: from.len(),
            topic: topic.as_ptr(),
            topic_len: topic.len(),
            payload: payload.as_ptr(),
            payload_len: payload.len(),
        };
        let mut ctx = CallCtx::new(&self.shared, &self.rt);
        let host = ctx.vtable();
        // SAFETY: as in `load`; `message` points into live locals.
        let status = unsafe { (self.plugin.lib.vtable().handle)(instance.0, &host, &message) };
        (status, ctx)
    }

    fn unload(&self, instance: &Handle) -> Result<Unloaded, Error> {
        if instance.0.is_null() {
            return Ok(Ok(None));
        }
        let (capture, reply) = Capture::new();
        self.shared.calls().begin_request(LIFECYCLE_ID, reply, None);
        let (status, mut ctx) = self.call(instance, abi::kind::UNLOAD, abi::TOPIC_UNLOAD, &[]);
        self.shared.calls().end_request(LIFECYCLE_ID);
        match status {
            abi::status::DONE | abi::status::DEFERRED => Ok(capture.state()),
            STATUS_PANICKED => Err(self.panicked("on_unload", &mut ctx)),
            other => Err(Error::GuestFault {
                plugin: self.name(),
                detail: format!("the native `handle` returned status {other}, which the ABI does not define"),
            }),
        }
    }

    fn handle(&self, instance: &Handle, msg: Inbound) -> Result<(), Error> {
        let (id, kind) = (msg.id, msg.kind);
        let letter = delivery::admit(&mut self.shared.calls(), msg);
        let vtable = self.plugin.lib.vtable();
        let message = NativeMessage {
            kind: letter.kind.to_abi(),
            reserved: 0,
            id: letter.id,
            from: letter.from.as_ptr(),
            from_len: letter.from.len(),
            topic: letter.topic.as_ptr(),
            topic_len: letter.topic.len(),
            payload: letter.payload.as_ptr(),
            payload_len: letter.payload.len(),
        };
        let mut ctx = CallCtx::new(&self.shared, &self.rt);
        let host = ctx.vtable();
        // SAFETY: as in `load`; `message` points into `letter`, alive for the call.
        let status = unsafe { (vtable.handle)(instance.0, &host, &message) };
        let outcome = match status {
            abi::status::DONE => Outcome::Done,
            abi::status::DEFERRED => Outcome::Deferred,
            STATUS_PANICKED => Outcome::Fault(self.panicked("on_message", &mut ctx)),
            other => Outcome::Fault(Error::GuestFault {
                plugin: self.name(),
                detail: format!("the native `handle` returned status {other}, which the ABI does not define"),
            }),
        };
        delivery::settle(&mut self.shared.calls(), &self.plugin.name, id, kind, outcome)
    }
}
