//! The wasp demo.
//!
//! Builds the example plugins for `wasm32-unknown-unknown`, loads them into a
//! host as WebAssembly and in process, and walks through what wasp does:
//! request/reply in both forms, publish/subscribe, plugin-to-plugin requests
//! (waiting and with completion callbacks), deadlock refusal, a runaway plugin
//! preempted while the others keep answering, and structured errors for bad
//! input. Run it with `cargo run -p wasp-demo`; set `RUST_LOG=wasp=debug` to
//! watch the host's own tracing.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use wasp_actors::Host;
use wasp_example_relay::Forward;
use wasp_protocol::codec;

fn section(title: &str) {
    println!("\n== {title}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()))
        .init();

    section("Building the example plugins for wasm32-unknown-unknown");
    let t = Instant::now();
    let dir = tokio::task::spawn_blocking(wasp_fixtures::wasm_dir).await?;
    println!("built in {:.1} s into {}", t.elapsed().as_secs_f64(), dir.display());

    let host = Host::builder().cpu_budget(Duration::from_millis(500)).build()?;

    section("Loading plugins");
    for name in ["echo", "counter", "relay", "spinner"] {
        let path = wasp_fixtures::wasm_plugin(name);
        let size = std::fs::metadata(&path)?.len();
        let t = Instant::now();
        let plugin = host.load_as(name, &path).await.with_context(|| format!("loading {name}"))?;
        println!(
            "  {:<16} {:<10} ABI {}  {:>7} KiB  loaded in {:.1} ms",
            plugin.name(),
            plugin.kind(),
            plugin.abi_version().map(|v| v.to_string()).unwrap_or_default(),
            size / 1024,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    for (name, plugin) in [
        ("native-echo", host.register::<wasp_example_echo::Echo>("native-echo").await?),
        ("native-counter", host.register::<wasp_example_counter::Counter>("native-counter").await?),
    ] {
        println!("  {name:<16} {:<10} (the same Rust source, registered in process)", plugin.kind());
    }

    section("Request/reply: the same plugin source, two forms");
    for to in ["echo", "native-echo"] {
        let t = Instant::now();
        let reply: String = host.call(to, "ping", &"hello, wasp").await?;
        println!("  {to:<12} answered {reply:?} in {:?}", t.elapsed());
    }
    for to in ["counter", "native-counter"] {
        let mut last = 0;
        for n in [5u64, 10, 27] {
            last = host.call(to, "add", &n).await?;
        }
        println!("  {to:<15} keeps state across messages: 5 + 10 + 27 = {last}");
    }

    section("Publish/subscribe");
    let mut changes = host.subscribe("counter.changed")?;
    host.publish("counter.reset", codec::to_payload(&())?)?;
    let v: u64 = host.call("counter", "add", &1u64).await?;
    println!("  published counter.reset, then add 1 → {v}");
    if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(2), changes.recv()).await {
        println!("  host received `{}` from `{}`: {}", ev.topic, ev.from, ev.decode::<u64>()?);
    }

    section("Plugin-to-plugin requests");
    let chain = Forward::new("relay", "forward", &Forward::new("echo", "ping", &"through two hops"));
    let reply: String =
        host.call("relay", "forward", &Forward::new("native-echo", "ping", &"relay → native-echo")).await?;
    println!("  relay waits for native-echo:            {reply:?}");
    let reply: String =
        host.call("relay", "forward_async", &Forward::new("echo", "ping", &"a completion callback")).await?;
    println!("  relay uses request_async + a callback:  {reply:?}");
    match host.call::<_, String>("relay", "forward", &chain).await {
        Ok(reply) => println!("  relay → relay → echo:                   {reply:?}"),
        Err(e) => println!("  relay → relay (itself) is refused, not hung: {e}"),
    }

    section("Preemption: a runaway WASM plugin yields every slice and is stopped");
    let spinning = {
        let host = host.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            (host.request("spinner", "spin", codec::to_payload(&()).unwrap_or_default()).await, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (mut answers, mut worst) = (0, Duration::ZERO);
    while !spinning.is_finished() {
        let t = Instant::now();
        let _: u64 = host.call("counter", "add", &1u64).await?;
        worst = worst.max(t.elapsed());
        answers += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (result, took) = spinning.await?;
    match result {
        Err(e) => println!("  spinner stopped after {} ms: {e}", took.as_millis()),
        Ok(_) => println!("  spinner unexpectedly finished"),
    }
    println!("  meanwhile `counter` answered {answers} requests, the slowest in {worst:?}");
    let pong: String = host.call("spinner", "ping", &()).await?;
    println!("  the spinner was recycled and answers again: {pong:?}");

    section("Bad input gets structured errors, never a crash");
    if let Err(e) = host.request("nobody", "ping", codec::to_payload(&())?).await {
        println!("  request to an unknown plugin → {e}");
    }
    if let Err(e) = host.load_bytes("bogus", b"\x7fELF\x02\x01\x01 not a plugin").await {
        println!("  loading a non-WASM file      → {} ({})", e, e.code());
    }
    if let Err(e) = host.call::<_, u64>("counter", "add", &"not a number").await {
        println!("  a payload of the wrong type  → {e}");
    }

    section("Plugins");
    println!("  {:<16} {:<10} {:>8} {:>7} {:>9} {:>10}", "name", "kind", "handled", "faults", "restarts", "memory");
    for p in host.plugins() {
        println!(
            "  {:<16} {:<10} {:>8} {:>7} {:>9} {:>9}K",
            p.name,
            p.kind,
            p.handled,
            p.faults,
            p.restarts,
            p.memory_bytes / 1024
        );
    }
    let m = host.metrics();
    println!(
        "  broker: {} requests from the host, {} late replies, {} deadlocks refused",
        m.requests, m.late_replies, m.deadlocks_refused
    );

    host.shutdown().await;
    println!("\ndone.");
    Ok(())
}
