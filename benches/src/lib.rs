//! Benchmarks for wasp (`cargo bench -p wasp-benches`); not published.
//!
//! The criterion bench `benches/messaging.rs` times request/reply round
//! trips, one-way throughput and plugin→plugin requests, each with the
//! example plugins in process, as WASM and as native libraries. This library holds what that
//! bench shares: loading the plugins in either form, the payloads, and the
//! measuring loops.
//!
//! Every loop runs as a task *on* a worker of the multi-thread runtime the
//! plugins run on: waking a task from a thread outside the runtime costs
//! ~19 µs, which would drown the few microseconds being measured.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use wasp_actors::{Host, Load, Manifest, Policy};
use wasp_protocol::{ErrorCode, WireError};
use wasp_runtime::{
    Answer, AuditEvent, BoxFuture, Engine, Inbound, Instance, Limits, NativePlugin, PluginEnv, PluginImage, ReplyTo,
    Router, Schedule, TimerSpec, WasmPlugin,
};
use wasp_sdk::MessageKind;

/// Which form the example plugins are loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Rust types loaded in process with [`Load::in_process`](wasp_actors::Load::in_process).
    InProcess,
    /// The same crates built for wasm32 and loaded with [`Host::load`].
    Wasm,
    /// The same crates built as native libraries (`cdylib`) and loaded with
    /// [`Host::load`]: one thread per instance, under the watchdog.
    Native,
}

impl Form {
    /// Every form, baseline first.
    pub const ALL: [Form; 3] = [Form::InProcess, Form::Wasm, Form::Native];

    /// A short label for ids and tables.
    pub fn label(self) -> &'static str {
        match self {
            Form::InProcess => "in-process",
            Form::Wasm => "wasm",
            Form::Native => "native-lib",
        }
    }
}

/// The tokio runtime the benchmarks run on: multi-thread, two workers.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime builds")
}

/// A host with `echo` and `relay` loaded in the given form, each with its
/// manifest and every permission it requests (the checks run on every call,
/// as in production).
pub fn host(rt: &Runtime, form: Form) -> Host {
    rt.block_on(async move {
        let policy = Policy::new().trust("*").expect("valid rule");
        let host = Host::builder().policy(policy).build().expect("host builds");
        for plugin in ["echo", "relay"] {
            let manifest = || Manifest::from_file(&wasp_fixtures::manifest_path(plugin)).expect("example manifest");
            let loaded = match (form, plugin) {
                (Form::Wasm, _) => host.load(wasp_fixtures::wasm_bundle(plugin)).await,
                (Form::Native, _) => host.load(wasp_fixtures::native_bundle(plugin)).await,
                (Form::InProcess, "echo") => {
                    host.load(Load::in_process(wasp_example_echo::Echo::default).described_by(manifest())).await
                }
                (Form::InProcess, _) => {
                    host.load(Load::in_process(wasp_example_relay::Relay::default).described_by(manifest())).await
                }
            };
            loaded.unwrap_or_else(|e| panic!("loading {plugin} ({}): {e}", form.label()));
        }
        host
    })
}

/// A MessagePack `bin` holding `n` bytes (the header adds 2 to 5 bytes).
pub fn bin_payload(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
    wasp_protocol::codec::to_payload(serde_bytes::Bytes::new(&data)).expect("encodes")
}

/// The payload of a `forward` request to `relay`: ask `echo` with `bin_payload(n)`.
pub fn relay_payload(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let forward = wasp_example_relay::Forward::new("echo", "ping", serde_bytes::Bytes::new(&data));
    wasp_protocol::codec::to_payload(&forward).expect("encodes")
}

/// Runs `iters` sequential requests `to`/`topic` from a task on a runtime
/// worker and returns the time they took. Each iteration clones `payload`
/// (the API takes it by value), as a caller would.
pub fn requests(
    rt: &Runtime,
    host: &Host,
    to: &'static str,
    topic: &'static str,
    payload: &[u8],
    iters: u64,
) -> Duration {
    let (host, payload) = (host.clone(), payload.to_vec());
    rt.block_on(async move {
        tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..iters {
                let reply = host.request(to, topic, payload.clone()).await.expect("request answered");
                black_box(reply);
            }
            started.elapsed()
        })
        .await
        .expect("measuring task")
    })
}

/// Runs `iters` sequential requests to `echo` from a task on a runtime
/// worker, each sending the previous answer (echo answers with what it got),
/// so no iteration copies the payload on the caller's side. Returns the time
/// they took.
pub fn echo_passing(rt: &Runtime, host: &Host, payload: &[u8], iters: u64) -> Duration {
    let (host, payload) = (host.clone(), payload.to_vec());
    rt.block_on(async move {
        tokio::spawn(async move {
            let mut payload = payload;
            let started = Instant::now();
            for _ in 0..iters {
                payload = host.request("echo", "ping", payload).await.expect("request answered");
            }
            let took = started.elapsed();
            black_box(payload);
            took
        })
        .await
        .expect("measuring task")
    })
}

/// Runs `iters` batches, each of `batch` one-way sends to `echo` followed by
/// one request that queues behind them (a mailbox is FIFO), so every batch
/// is fully processed before the next starts. Returns the time taken.
pub fn one_way(rt: &Runtime, host: &Host, payload: &[u8], batch: u64, iters: u64) -> Duration {
    let (host, payload) = (host.clone(), payload.to_vec());
    rt.block_on(async move {
        tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..iters {
                for _ in 0..batch {
                    host.send("echo", "note", payload.clone()).expect("send accepted");
                }
                let reply = host.request("echo", "ping", payload.clone()).await.expect("request answered");
                black_box(reply);
            }
            started.elapsed()
        })
        .await
        .expect("measuring task")
    })
}

/// A [`Router`] for instances driven directly, without a broker: it accepts
/// one-way messages and subscriptions and drops them, and refuses requests.
/// `echo` answers requests without calling it.
#[derive(Debug)]
pub struct NullRouter;

fn no_requests() -> WireError {
    WireError::new(ErrorCode::NotFound, "the benchmark's null router routes no requests")
}

impl Router for NullRouter {
    fn send(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>) -> Result<(), WireError> {
        Ok(())
    }

    fn publish(&self, _: &Arc<str>, _: &str, _: Vec<u8>) -> Result<(), WireError> {
        Ok(())
    }

    fn subscribe(&self, _: &Arc<str>, _: &str) -> Result<(), WireError> {
        Ok(())
    }

    fn unsubscribe(&self, _: &Arc<str>, _: &str) -> Result<(), WireError> {
        Ok(())
    }

    fn request(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>, _: Option<Duration>) -> BoxFuture<Answer> {
        Box::pin(std::future::ready(Err(no_requests())))
    }

    fn request_async(&self, _: &Arc<str>, _: &str, _: &str, _: Vec<u8>, _: Option<Duration>) -> Result<u64, WireError> {
        Err(no_requests())
    }

    fn audit(&self, _: AuditEvent) -> bool {
        false
    }

    fn set_timer(&self, _: &Arc<str>, _: TimerSpec) -> Result<u64, WireError> {
        Err(no_requests())
    }

    fn cancel_timer(&self, _: &Arc<str>, _: u64) -> bool {
        false
    }
}

/// A host with `echo` and `relay` loaded as components of the
/// `wasp:plugin` world (`docs/components.md`), from the same sources as
/// [`host`]'s, with every permission they request.
pub fn component_host(rt: &Runtime) -> Host {
    rt.block_on(async move {
        let policy = Policy::new().trust("*").expect("valid rule");
        let host = Host::builder().policy(policy).build().expect("host builds");
        for plugin in ["echo", "relay"] {
            let loaded = host.load(wasp_fixtures::component_bundle(plugin)).await;
            loaded.unwrap_or_else(|e| panic!("loading {plugin} (component): {e}"));
        }
        host
    })
}

/// A bare `echo` component instance, outside any actor or broker (the
/// component counterpart of [`echo_instance`]).
pub fn component_echo_instance(rt: &Runtime) -> Instance {
    let engine = Engine::new(Schedule::default()).expect("engine builds");
    let limits = Limits::default();
    let bytes = wasp_fixtures::component_bytes("echo");
    let image = PluginImage::compile_wasm(&engine, "echo", &bytes, &limits).expect("echo compiles");
    let env = PluginEnv { limits, ..PluginEnv::new("echo", Arc::new(NullRouter)) };
    rt.block_on(image.instantiate(&engine, env)).expect("echo starts")
}

/// A bare `echo` instance in the given form, outside any actor or broker,
/// with default limits and schedule.
pub fn echo_instance(rt: &Runtime, form: Form) -> Instance {
    let engine = Engine::new(Schedule::default()).expect("engine builds");
    let limits = Limits::default();
    let image = match form {
        Form::Wasm => PluginImage::Wasm(
            WasmPlugin::compile(&engine, "echo", &wasp_fixtures::wasm_bytes("echo"), &limits).expect("echo compiles"),
        ),
        Form::Native => {
            let bytes = std::fs::read(wasp_fixtures::native_library("echo")).expect("echo library");
            PluginImage::Native(NativePlugin::open("echo", "libecho", &bytes).expect("echo library loads"))
        }
        Form::InProcess => PluginImage::InProcess(wasp_actors::in_process::factory(|| wasp_example_echo::Echo)),
    };
    let env = PluginEnv { limits, ..PluginEnv::new("echo", Arc::new(NullRouter)) };
    rt.block_on(image.instantiate(&engine, env)).expect("echo starts")
}

/// Hands `iters` requests straight to `instance.handle` (no mailbox, no
/// broker, no waiting task: nothing but the backend) and returns the time
/// taken. Each request clones `payload` and carries a boxed reply target,
/// as a routed request does.
pub fn handle_directly(rt: &Runtime, instance: &mut Instance, payload: &[u8], iters: u64) -> Duration {
    let (from, topic): (Arc<str>, Arc<str>) = (Arc::from("host"), Arc::from("ping"));
    rt.block_on(async {
        let started = Instant::now();
        for id in 1..=iters {
            let inbound = Inbound {
                kind: MessageKind::Request,
                id,
                from: from.clone(),
                topic: topic.clone(),
                payload: payload.to_vec().into(),
                reply: Some(ReplyTo::new(|answer| {
                    black_box(answer.expect("echo answers"));
                })),
                deadline: None,
            };
            instance.handle(inbound).await.expect("handled");
        }
        started.elapsed()
    })
}

/// An identity function `(i32) -> i32` instantiated in an engine configured
/// as wasp configures its own, to time wasmtime's call entry alone.
pub struct BareCall {
    store: wasmtime::Store<()>,
    func: wasmtime::TypedFunc<i32, i32>,
    _engine: Engine,
}

impl BareCall {
    /// Compiles and instantiates the identity module.
    pub fn new() -> Self {
        let engine = Engine::new(Schedule::default()).expect("engine builds");
        let wasm = wat::parse_str(r#"(module (func (export "id") (param i32) (result i32) local.get 0))"#)
            .expect("valid text");
        let module = wasmtime::Module::new(engine.wasmtime(), wasm).expect("module compiles");
        let mut store = wasmtime::Store::new(engine.wasmtime(), ());
        // Epoch interruption is on: give the store a deadline it never reaches.
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instantiates");
        let func = instance.get_typed_func(&mut store, "id").expect("export `id`");
        Self { store, func, _engine: engine }
    }

    /// `iters` synchronous calls (`TypedFunc::call`).
    pub fn sync(&mut self, iters: u64) -> Duration {
        let started = Instant::now();
        for i in 0..iters {
            black_box(self.func.call(&mut self.store, black_box(i as i32)).expect("call"));
        }
        started.elapsed()
    }

    /// `iters` asynchronous calls (`TypedFunc::call_async`: each runs on a
    /// fiber), as wasp calls `wasp_handle`.
    pub fn on_fiber(&mut self, rt: &Runtime, iters: u64) -> Duration {
        rt.block_on(async {
            let started = Instant::now();
            for i in 0..iters {
                black_box(self.func.call_async(&mut self.store, black_box(i as i32)).await.expect("call"));
            }
            started.elapsed()
        })
    }
}

impl Default for BareCall {
    fn default() -> Self {
        Self::new()
    }
}

/// `echo`'s counters: (microseconds spent handling messages, messages handled).
///
/// The difference between two readings gives the time per message inside
/// the plugin actor's `handle` (instance work only, no scheduling).
pub fn echo_busy(host: &Host) -> (u64, u64) {
    host.plugins().iter().find(|p| p.name == "echo").map_or((0, 0), |p| (p.busy_micros, p.handled))
}

/// The median of some durations (the upper one of an even count).
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Whether the binary runs as a benchmark (`cargo bench`, `--bench`), not as
/// a smoke test (`cargo test --benches`, `--test`) or under criterion's
/// `--profile-time`: only then do the benches print their tables.
pub fn benching() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a.starts_with("--profile-time"))
}

/// Criterion as the benches configure it: 1 s warm-up, 3 s of measurement,
/// `samples` samples, then the command line's own settings.
pub fn criterion(samples: usize) -> criterion::Criterion {
    criterion::Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(samples)
        .configure_from_args()
}

/// `echo`'s module bytes and manifest, after loading it once into `host`
/// (as `prime`, unloaded again) so that later loads find its compiled
/// module in the cache and the host's table of shared modules.
pub async fn prime_echo(host: &Host) -> (Vec<u8>, Manifest) {
    let bytes = wasp_fixtures::wasm_bytes("echo");
    let manifest = Manifest::from_file(&wasp_fixtures::manifest_path("echo")).expect("manifest");
    let mut first = manifest.clone();
    "prime".clone_into(&mut first.name);
    host.load(Load::bytes(&bytes).described_by(first)).await.expect("loads");
    host.unload("prime").await.expect("unloads");
    (bytes, manifest)
}
