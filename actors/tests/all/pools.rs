//! Instance pools (`docs/pools.md`): several instances of one plugin behind
//! its one address, in every form.
//!
//! Concurrency is proven without timing: a `gate` plugin defers its answers
//! until it holds a given number of requests, and a pool of `relay`s
//! forwards requests to it, each relay instance waiting on its own. Only
//! instances that really run side by side can open the gate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasp_actors::{Host, Limits, Load, Manifest, PluginState, Policy, Supervision};
use wasp_example_relay::Forward;
use wasp_protocol::{ErrorCode, WireError};
use wasp_sdk::prelude::*;

use crate::common::{FORMS, Form, info, info_after, mp, wait_until};

/// Opens once it holds `need` requests: answers them all, and every later
/// request at once. Until then it defers.
struct Gate {
    need: usize,
    pending: Vec<u64>,
    open: bool,
}

impl Plugin for Gate {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        if !self.open && self.pending.len() + 1 < self.need {
            self.pending.push(msg.id);
            return Ok(Reply::deferred());
        }
        self.open = true;
        for id in self.pending.drain(..) {
            ctx.reply(id, "open")?;
        }
        Reply::encode("open")
    }
}

/// Runs every future as its own task; their outputs, in order.
async fn join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("task runs to the end"));
    }
    out
}

fn host_with(limits: Limits, supervision: Supervision) -> Host {
    Host::builder()
        .request_timeout(Duration::from_secs(20))
        .limits(limits)
        .supervision(supervision)
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds")
}

fn host() -> Host {
    host_with(Limits::default(), Supervision::default())
}

async fn gate(host: &Host, need: usize) {
    host.load(Load::in_process(move || Gate { need, pending: Vec::new(), open: false }).named("gate"))
        .await
        .expect("gate registers");
}

/// The example's manifest in `form`, renamed, asking for `n` instances.
fn pool_manifest(form: Form, plugin: &str, name: &str, n: usize) -> Manifest {
    let dir = match form {
        Form::Wasm => wasp_fixtures::wasm_bundle(plugin),
        Form::Native => wasp_fixtures::native_bundle(plugin),
        Form::InProcess => return crate::common::manifest(plugin, name).instances(n),
    };
    let mut m = Manifest::from_file(&dir.join("plugin.toml")).expect("example manifest parses");
    name.clone_into(&mut m.name);
    m.instances(n)
}

/// Loads example `plugin` as `name` in `form`, asking for `n` instances.
async fn load_pool(host: &Host, form: Form, plugin: &str, name: &str, n: usize) {
    let m = pool_manifest(form, plugin, name, n);
    let loaded = match form {
        Form::Wasm | Form::Native => host.load(Load::manifest(m)).await,
        Form::InProcess => match plugin {
            "echo" => host.load(Load::in_process(wasp_example_echo::Echo::default).described_by(m)).await,
            "relay" => host.load(Load::in_process(wasp_example_relay::Relay::default).described_by(m)).await,
            "faulty" => host.load(Load::in_process(wasp_example_faulty::Faulty::default).described_by(m)).await,
            other => panic!("no example plugin `{other}` here"),
        },
    };
    loaded.unwrap_or_else(|e| panic!("load {plugin} ({form:?}) as a pool of {n}: {e}"));
}

fn forward_to_gate() -> Vec<u8> {
    mp(&Forward::new("gate", "wait", &()))
}

async fn forward(host: &Host, relay: &str) -> Result<String, WireError> {
    let answer = host.request(relay, "forward", forward_to_gate()).await?;
    Ok(wasp_protocol::codec::decode::<String>(&answer, 1 << 20).expect("a string"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_two_runs_two_requests_side_by_side_in_every_form() {
    for form in FORMS {
        let host = host();
        gate(&host, 2).await;
        load_pool(&host, form, "relay", "relay", 2).await;
        assert_eq!(info(&host, "relay").instances, 2);
        // Each forward holds one relay instance until the gate has both.
        let (a, b) = tokio::join!(forward(&host, "relay"), forward(&host, "relay"));
        assert_eq!(a.unwrap(), "open", "{form:?}");
        assert_eq!(b.unwrap(), "open", "{form:?}");
        let relay = info_after(&host, "relay", 2).await;
        assert_eq!((relay.handled, relay.faults, relay.restarts), (2, 0, 0), "{form:?}");
        // An instance counts its message handled just before it is back
        // among the idle ones: wait for that moment to pass.
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        while info(&host, "relay").idle_instances != Some(2) && std::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(info(&host, "relay").idle_instances, Some(2), "{form:?}");
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_cannot_open_the_gate_so_the_proof_means_something() {
    let host = Host::builder()
        .request_timeout(Duration::from_millis(400))
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    gate(&host, 2).await;
    load_pool(&host, Form::InProcess, "relay", "relay", 1).await;
    assert_eq!(info(&host, "relay").idle_instances, None, "one instance is no pool");
    let (a, b) = tokio::join!(forward(&host, "relay"), forward(&host, "relay"));
    // The first forward waits on the gate alone, while the second waits
    // behind it, until its request times out. The second may still pass:
    // once the first's timeout frees the instance, the gate sees its second
    // arrival (a busy machine can take it within the second's own timeout).
    // Both never pass together: that takes two instances.
    assert!(a.is_err(), "the first forward opened a gate of two alone: {a:?} {b:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_queues_up_to_its_mailbox_then_answers_busy_and_loses_nothing() {
    let limits = Limits { mailbox_depth: 3, ..Limits::default() };
    let host = host_with(limits, Supervision::default());
    gate(&host, 3).await;
    load_pool(&host, Form::InProcess, "relay", "relay", 2).await;
    // Two forwards hold both instances at the gate.
    let held: Vec<_> = (0..2).map(|_| tokio::spawn(forward_owned(host.clone()))).collect();
    wait_until(|| info(&host, "relay").idle_instances == Some(0)).await;
    // Three more wait for the pool; a sixth finds the mailbox full.
    let queued: Vec<_> = (0..3).map(|_| tokio::spawn(forward_owned(host.clone()))).collect();
    wait_until(|| info(&host, "relay").queued == 3).await;
    let refused = forward(&host, "relay").await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Busy, "{refused}");
    assert!(refused.message.contains("mailbox limit is 3"), "{refused}");
    // The third request at the gate opens it: everything queued is answered.
    assert_eq!(host.call::<_, String>("gate", "wait", &()).await.unwrap(), "open");
    for task in held.into_iter().chain(queued) {
        assert_eq!(task.await.unwrap().unwrap(), "open");
    }
    let relay = info_after(&host, "relay", 5).await;
    assert_eq!((relay.handled, relay.refused, relay.queued), (5, 1, 0));
    host.shutdown().await;
}

async fn forward_owned(host: Host) -> Result<String, WireError> {
    forward(&host, "relay").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_of_a_pool_keeps_its_own_wait_so_a_cycle_through_it_is_refused() {
    let host = host();
    for name in ["gate-a", "gate-b"] {
        host.load(Load::in_process(|| Gate { need: 2, pending: Vec::new(), open: false }).named(name))
            .await
            .expect("registers");
    }
    load_pool(&host, Form::InProcess, "relay", "hub", 1).await;
    load_pool(&host, Form::InProcess, "relay", "pool", 2).await;
    let request = |to: &str, forward: Forward| {
        let (host, to) = (host.clone(), to.to_owned());
        tokio::spawn(async move { host.request(&to, "forward", mp(&forward)).await })
    };
    // `hub` waits at the first gate.
    let hub = request("hub", Forward::new("gate-a", "wait", &()));
    wait_until(|| info(&host, "gate-a").handled == 1).await;
    // One instance of `pool` waits on `hub` (which, once free, will ask `pool`)…
    let inner = Forward::new("pool", "pending", &());
    let cycle = request("pool", Forward { to: "hub".into(), topic: "forward".into(), body: mp(&inner) });
    wait_until(|| info(&host, "hub").queued == 1).await;
    // … and then the other waits at the second gate.
    let other = request("pool", Forward::new("gate-b", "wait", &()));
    wait_until(|| info(&host, "gate-b").handled == 1).await;
    // Free `hub`: its request to `pool` would wait on the instance that
    // waits on it (the other is busy too): refused at once.
    assert_eq!(host.call::<_, String>("gate-a", "wait", &()).await.unwrap(), "open");
    assert!(hub.await.unwrap().is_ok());
    assert_eq!(host.call::<_, String>("gate-b", "wait", &()).await.unwrap(), "open");
    assert!(other.await.unwrap().is_ok());
    let err = cycle.await.unwrap().expect_err("the cycle is refused");
    assert_eq!(err.code, ErrorCode::WouldDeadlock, "{err}");
    assert!(err.message.contains("hub → pool → hub"), "{err}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_under_load_recycles_one_instance_and_every_request_gets_one_answer() {
    // Many faults in a short time are the point here, not a reason to quarantine.
    let supervision = Supervision {
        max_failures: 10_000,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        ..Supervision::default()
    };
    for form in FORMS {
        let host = host_with(Limits::default(), supervision.clone());
        load_pool(&host, form, "faulty", "faulty", 4).await;
        const N: usize = 240;
        let traps = (0..N).filter(|i| i % 8 == 3).count() as u64;
        let requests = (0..N).map(|i| {
            let host = host.clone();
            async move {
                let answer = if i % 8 == 3 {
                    host.request("faulty", "panic", mp(&format!("request {i}"))).await
                } else {
                    host.request("faulty", "ping", mp(&())).await
                };
                (i, answer)
            }
        });
        let answers = join_all(requests).await;
        assert_eq!(answers.len(), N);
        for (i, answer) in answers {
            if i % 8 == 3 {
                let e = answer.expect_err("a panic is an error");
                assert_eq!(e.code, ErrorCode::PluginCrashed, "{form:?} request {i}: {e}");
                assert!(e.message.contains(&format!("boom: request {i}")), "{form:?} request {i}: {e}");
            } else {
                let pong: String = wasp_protocol::codec::decode(&answer.unwrap(), 1 << 20).unwrap();
                assert_eq!(pong, "pong", "{form:?} request {i}");
            }
        }
        let faulty = info_after(&host, "faulty", N as u64).await;
        assert_eq!(faulty.handled, N as u64, "{form:?}");
        assert_eq!(faulty.faults, traps, "{form:?}");
        wait_until(|| info(&host, "faulty").restarts == traps).await;
        // One restart per trap: the instances that did not trap were never recycled.
        let faulty = info(&host, "faulty");
        assert_eq!(faulty.restarts, traps, "{form:?}");
        assert_eq!(faulty.state, PluginState::Running, "{form:?}");
        assert_eq!(faulty.instances, 4);
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_makes_exactly_one_new_instance_and_the_others_keep_their_state() {
    /// Instance `id` (in the order made) counts the messages it handled;
    /// `boom` panics.
    struct Tally {
        id: u64,
        n: u64,
    }
    impl Plugin for Tally {
        fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
            if msg.topic == "boom" {
                panic!("boom");
            }
            self.n += 1;
            Reply::encode(&(self.id, self.n))
        }
    }
    let supervision = Supervision { backoff_initial: Duration::from_millis(1), ..Supervision::default() };
    let host = host_with(Limits::default(), supervision);
    let made = Arc::new(AtomicUsize::new(0));
    let counting = made.clone();
    let manifest = Manifest::new("tally").unwrap().instances(3);
    host.load(
        Load::in_process(move || Tally { id: counting.fetch_add(1, Ordering::SeqCst) as u64, n: 0 })
            .described_by(manifest),
    )
    .await
    .unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 3, "one per instance");
    // Which instance takes a request is the pool's business: follow each one's count.
    let mut counts = std::collections::HashMap::<u64, u64>::new();
    let count = async |counts: &mut std::collections::HashMap<u64, u64>| {
        let (id, n) = host.call::<_, (u64, u64)>("tally", "count", &()).await.unwrap();
        let before = counts.insert(id, n).unwrap_or(0);
        assert_eq!(n, before + 1, "instance {id} keeps its count");
        id
    };
    for _ in 0..20 {
        count(&mut counts).await;
    }
    let e = host.request("tally", "boom", mp(&())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::PluginCrashed);
    wait_until(|| info(&host, "tally").restarts == 1).await;
    assert_eq!(made.load(Ordering::SeqCst), 4, "only the instance that trapped was made anew");
    // The new instance (id 3) starts from nothing; the others carry on,
    // except the one that trapped, which is gone.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        seen.insert(count(&mut counts).await);
    }
    assert!(seen.iter().all(|id| *id <= 3), "{seen:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_or_a_send_reaches_a_pool_once_however_many_instances_subscribed() {
    /// Subscribes in `on_load`, as each instance does; counts what it sees.
    struct Listener;
    impl Plugin for Listener {
        fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
            ctx.subscribe("news.*")
        }
        fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
            ctx.send("host", "seen", &msg.topic)?;
            Ok(Reply::empty())
        }
    }
    let host = host();
    let manifest = Manifest::new("listener")
        .unwrap()
        .instances(3)
        .permissions(["subscribe:news.*", "send:host"].map(|p| p.parse().unwrap()));
    host.load(Load::in_process(|| Listener).described_by(manifest)).await.unwrap();
    let mut seen = host.subscribe("seen").unwrap();
    for i in 0..10 {
        host.publish(&format!("news.{i}"), mp(&i)).unwrap();
    }
    for _ in 0..10 {
        tokio::time::timeout(Duration::from_secs(5), seen.recv()).await.expect("seen in time").expect("open");
    }
    // One-way sends, too, are each handled by one instance.
    for i in 0..5 {
        host.send("listener", "direct", mp(&i)).unwrap();
    }
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(5), seen.recv()).await.expect("seen in time").expect("open");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.try_recv().is_none(), "each event and send was handled once by the pool");
    assert_eq!(info_after(&host, "listener", 15).await.handled, 15);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_caps_the_pool_and_stateless_means_one_instance_per_core() {
    let host = Host::builder()
        .max_instances(2)
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    load_pool(&host, Form::Wasm, "echo", "wide", 16).await;
    assert_eq!(info(&host, "wide").instances, 2, "capped by Limits::max_instances");
    let stateless = pool_manifest(Form::InProcess, "echo", "free", 1);
    let mut stateless = stateless.stateless(true);
    stateless.instances = None;
    host.load(Load::in_process(wasp_example_echo::Echo::default).described_by(stateless)).await.unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(info(&host, "free").instances, cores.min(2));
    let payload = mp("hi");
    assert_eq!(host.request("wide", "ping", payload.clone()).await.unwrap(), payload);
    assert_eq!(host.request("free", "ping", payload.clone()).await.unwrap(), payload);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_and_restart_replace_every_instance_and_lose_no_request() {
    let made = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    /// An echo that counts its drops.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl Plugin for Counted {
        fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
            Ok(Reply::bytes(msg.payload.to_vec()))
        }
    }
    let host = host();
    let (m, d) = (made.clone(), dropped.clone());
    host.load(
        Load::in_process(move || {
            m.fetch_add(1, Ordering::SeqCst);
            Counted(d.clone())
        })
        .described_by(Manifest::new("echoes").unwrap().instances(3)),
    )
    .await
    .unwrap();
    let load = |n: usize| {
        let host = host.clone();
        tokio::spawn(async move {
            join_all((0..n).map(|i| {
                let host = host.clone();
                async move { host.request("echoes", "echo", mp(&i)).await.map(|a| a == mp(&i)) }
            }))
            .await
        })
    };
    let during_reload = load(300);
    host.reload("echoes").await.unwrap();
    assert_eq!((made.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst)), (6, 3), "every instance reloaded");
    let during_restart = load(300);
    host.restart("echoes").await.unwrap();
    assert_eq!((made.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst)), (9, 6), "every instance restarted");
    for answers in [during_reload.await.unwrap(), during_restart.await.unwrap()] {
        assert_eq!(answers.len(), 300);
        assert!(answers.iter().all(|a| a == &Ok(true)), "{:?}", answers.iter().find(|a| a != &&Ok(true)));
    }
    host.unload("echoes").await.unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 9, "unload stops every instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_pool_reloads_to_new_code_in_every_instance() {
    let host = host();
    load_pool(&host, Form::Wasm, "echo", "swap", 3).await;
    let wide = |host: Host| async move {
        // Enough at once that every instance takes some.
        join_all((0..60).map(|_| {
            let host = host.clone();
            async move { host.request("swap", "ping", mp(&())).await }
        }))
        .await
    };
    let before = wide(host.clone()).await;
    assert!(before.iter().all(|a| a.as_deref() == Ok(&mp(&())[..])), "echo answers its payload");
    let faulty = std::fs::read(wasp_fixtures::wasm_plugin("faulty")).unwrap();
    host.reload_bytes("swap", &faulty).await.unwrap();
    let after = wide(host.clone()).await;
    assert!(after.iter().all(|a| a.as_deref() == Ok(&mp("pong")[..])), "every instance runs the new code");
    assert_eq!(info(&host, "swap").instances, 3);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unloading_a_busy_pool_answers_what_was_queued_for_it() {
    let host = host();
    gate(&host, 3).await;
    load_pool(&host, Form::Wasm, "relay", "relay", 2).await;
    let held: Vec<_> = (0..2).map(|_| tokio::spawn(forward_owned(host.clone()))).collect();
    wait_until(|| info(&host, "relay").idle_instances == Some(0)).await;
    let queued: Vec<_> = (0..3).map(|_| tokio::spawn(forward_owned(host.clone()))).collect();
    wait_until(|| info(&host, "relay").queued == 3).await;
    let unloading = tokio::spawn({
        let host = host.clone();
        async move { host.unload("relay").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(host.call::<_, String>("gate", "wait", &()).await.unwrap(), "open");
    for task in held.into_iter().chain(queued) {
        assert_eq!(task.await.unwrap().unwrap(), "open");
    }
    unloading.await.unwrap().unwrap();
    assert!(host.plugins().iter().all(|p| p.name != "relay"));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_belongs_to_the_instance_that_set_it() {
    /// Sets an hourly interval in `on_load` (and on `arm`); `boom` panics.
    struct Ticker;
    impl Plugin for Ticker {
        fn on_load(&mut self, ctx: &mut Context<'_>) -> Result<(), WireError> {
            ctx.set_interval(3_600_000, "tick", &()).map(drop)
        }
        fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
            match msg.topic {
                "boom" => panic!("boom"),
                "arm" => {
                    ctx.set_interval(3_600_000, "tick", &())?;
                    Reply::encode("armed")
                }
                _ => Ok(Reply::empty()),
            }
        }
    }
    let supervision = Supervision { backoff_initial: Duration::from_millis(1), ..Supervision::default() };
    let host = host_with(Limits::default(), supervision);
    // Room for exactly one timer per instance.
    let manifest = Manifest::new("ticker")
        .unwrap()
        .instances(3)
        .permission("timers".parse().unwrap())
        .limits(wasp_actors::LimitRequests { timers: Some(3), ..Default::default() });
    host.load(Load::in_process(|| Ticker).described_by(manifest)).await.unwrap();
    let full = async || {
        let e = host.request("ticker", "arm", mp(&())).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Busy, "three timers are active: {e}");
    };
    full().await;
    // The instance that traps loses its timer and its successor sets one;
    // the other two instances keep theirs.
    let e = host.request("ticker", "boom", mp(&())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::PluginCrashed);
    wait_until(|| info(&host, "ticker").restarts == 1).await;
    assert_eq!(info(&host, "ticker").state, PluginState::Running, "the new instance's on_load found room");
    full().await;
    // A restart and a reload of the pool replace every instance's timer.
    host.restart("ticker").await.unwrap();
    full().await;
    host.reload("ticker").await.unwrap();
    full().await;
    host.shutdown().await;
}
