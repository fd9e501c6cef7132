//! The wasp demo.
//!
//! Builds the example plugins for `wasm32-unknown-unknown` and as native
//! libraries, loads them into a host in all three forms — WebAssembly,
//! native library, in process — and walks through what wasp does:
//! request/reply in every form, publish/subscribe, plugin-to-plugin requests
//! (waiting and with completion callbacks), deadlock refusal, a runaway WASM
//! plugin preempted while the others keep answering, a runaway native one
//! cut off by the watchdog, a hybrid plugin (native + WASM under one
//! identity), two plugins sharing one compiled library module (each with
//! its own instance), a permission denied and then granted at run time, and
//! structured errors for bad input. Every plugin
//! loads with its manifest (`plugin.toml`); the host's policy decides what
//! it may do. Run it with `cargo run -p wasp-demo`; set `RUST_LOG=wasp=debug` to
//! watch the host's own tracing.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use wasp_actors::{AuditKind, Host, Load, Manifest, Policy};
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

    section("Building the example plugins for wasm32-unknown-unknown and as native libraries");
    let t = Instant::now();
    let dir = tokio::task::spawn_blocking(wasp_fixtures::wasm_dir).await?;
    println!("  WASM built in {:.1} s into {}", t.elapsed().as_secs_f64(), dir.display());
    let t = Instant::now();
    let dir = tokio::task::spawn_blocking(wasp_fixtures::native_dir).await?;
    println!("  native libraries built in {:.1} s into {}", t.elapsed().as_secs_f64(), dir.display());
    let hybrid = tokio::task::spawn_blocking(wasp_fixtures::hybrid_bundle).await?;

    // Default deny: the app trusts the plugins it ships with what their
    // manifests ask for, and nothing else.
    let policy = Policy::new()
        .trust("echo")?
        .trust("counter")?
        .trust("relay")?
        .trust("spinner")?
        .trust("native-*")?
        .trust("inproc-*")?
        .trust("sysinfo")?;
    let host = Host::builder()
        .cpu_budget(Duration::from_millis(500))
        .policy(policy)
        // A shared library module for the plugins whose manifests `use` it.
        .library(wasp_fixtures::wasm_library("json"))
        .build()?;

    section("Loading plugins with their manifests");
    for name in ["echo", "counter", "relay", "spinner"] {
        // A folder holding `plugin.toml` and the `.wasm` it names.
        let bundle = wasp_fixtures::wasm_bundle(name);
        let size = std::fs::metadata(bundle.join(format!("{name}.wasm")))?.len();
        let t = Instant::now();
        let plugin = host.load(&bundle).await.with_context(|| format!("loading {name}"))?;
        let granted: Vec<String> = plugin.granted().iter().map(ToString::to_string).collect();
        println!(
            "  {:<16} {:<10} ABI {}  {:>5} KiB  loaded in {:>5.1} ms  granted [{}]",
            plugin.name(),
            plugin.kind(),
            plugin.abi_version().map(|v| v.to_string()).unwrap_or_default(),
            size / 1024,
            t.elapsed().as_secs_f64() * 1e3,
            granted.join(", ")
        );
    }
    let manifest = |plugin: &str, name: &str| -> Result<Manifest> {
        let mut m = Manifest::from_file(&wasp_fixtures::manifest_path(plugin))?;
        name.clone_into(&mut m.name);
        Ok(m)
    };
    for plugin in ["echo", "counter", "spinner"] {
        // The same source built as a `cdylib`: a folder with `plugin.toml`
        // (kind = "native") and the library.
        let name = format!("native-{plugin}");
        let loaded = host.load(Load::path(wasp_fixtures::native_bundle(plugin)).named(&name)).await?;
        println!("  {name:<16} {:<10} (the same Rust source, a native library for this machine)", loaded.kind());
    }
    for (name, plugin) in [
        (
            "inproc-echo",
            host.load(
                Load::in_process(wasp_example_echo::Echo::default).described_by(manifest("echo", "inproc-echo")?),
            )
            .await?,
        ),
        (
            "inproc-counter",
            host.load(
                Load::in_process(wasp_example_counter::Counter::default)
                    .described_by(manifest("counter", "inproc-counter")?),
            )
            .await?,
        ),
    ] {
        println!("  {name:<16} {:<10} (the same Rust source and manifest, registered in process)", plugin.kind());
    }

    section("Request/reply: the same plugin source, three forms");
    for to in ["echo", "native-echo", "inproc-echo"] {
        let t = Instant::now();
        let reply: String = host.call(to, "ping", &"hello, wasp").await?;
        println!("  {to:<12} answered {reply:?} in {:?}", t.elapsed());
    }
    for to in ["counter", "native-counter", "inproc-counter"] {
        let mut last = 0;
        for n in [5u64, 10, 27] {
            last = host.call(to, "add", &n).await?;
        }
        println!("  {to:<15} keeps state across messages: 5 + 10 + 27 = {last}");
    }

    section("Hot reload: new code, same state, nothing lost");
    for to in ["counter", "native-counter", "inproc-counter"] {
        let in_flight: Vec<_> = (0..100)
            .map(|_| {
                let host = host.clone();
                let to = to.to_owned();
                tokio::spawn(async move { host.call::<_, u64>(&to, "add", &1u64).await })
            })
            .collect();
        let t = Instant::now();
        host.reload(to).await?;
        let took = t.elapsed();
        let mut answered = 0;
        for call in in_flight {
            call.await??;
            answered += 1;
        }
        let now: u64 = host.call(to, "get", &()).await?;
        println!(
            "  {to:<15} reloaded in {took:?} with 100 requests in flight: {answered} answered, value {now} (42 + 100)"
        );
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
        host.call("relay", "forward", &Forward::new("inproc-echo", "ping", &"relay → inproc-echo")).await?;
    println!("  relay waits for inproc-echo:            {reply:?}");
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

    section("A runaway native plugin: the watchdog answers, the thread runs on");
    let mut audit = host.audit_events();
    let t = Instant::now();
    // Billions of rounds: seconds of work, far past the 500 ms budget.
    match host.call::<_, u64>("native-spinner", "work", &3_000_000_000u64).await {
        Err(e) => println!("  native-spinner answered after {} ms: {}", t.elapsed().as_millis(), e.code),
        Ok(_) => println!("  native-spinner unexpectedly finished within its budget"),
    }
    while let Ok(event) = audit.try_recv() {
        if let AuditKind::Overrun { .. } = event.kind {
            println!("  audit: {}", event.message);
        }
    }
    let pong: String = host.call("native-spinner", "ping", &()).await?;
    println!("  native-spinner restarted on a new thread and answers: {pong:?}");

    section("A hybrid plugin: native for the OS, WASM for the logic, one identity");
    let sysinfo = host.load(&hybrid).await?;
    println!("  `{}` ({}) with components {:?}", sysinfo.name(), sysinfo.kind(), sysinfo.components());
    let report: wasp_example_sysinfo_logic::Report = host.call("sysinfo", "report", &()).await?;
    println!("  sysinfo (WASM) asked sysinfo.os (native): {}", report.summary);

    section("Shared libraries: two plugins, one compiled `json` library, an instance each");
    for library in host.libraries().iter() {
        println!("  the host offers {}@{} with {}", library.name(), library.version(), library.functions().join(", "));
    }
    for name in ["jsonpack", "jsoncheck"] {
        let bundle = wasp_fixtures::wasm_bundle(name);
        let uses = Manifest::from_file(&bundle.join("plugin.toml"))?.uses;
        host.load(&bundle).await.with_context(|| format!("loading {name}"))?;
        let uses: Vec<String> = uses.iter().map(ToString::to_string).collect();
        println!("  {name:<10} uses [{}] and has no JSON parser of its own", uses.join(", "));
    }
    let text = r#"{"id": 7, "tags": ["a", "b"], "ok": true}"#;
    let packed = host.request("jsonpack", "pack", codec::to_payload(&text)?).await?;
    println!("  jsonpack:  {} bytes of JSON -> {} bytes of MessagePack", text.len(), packed.len());
    #[derive(serde::Deserialize)]
    struct Verdict {
        valid: bool,
        error: Option<String>,
    }
    for text in ["[1, 2, 3]", r#"{"id": }"#] {
        let v: Verdict = host.call("jsoncheck", "check", &text).await?;
        println!("  jsoncheck: {text:<10} valid: {} {}", v.valid, v.error.unwrap_or_default());
    }
    let mut wants_yaml = Manifest::from_file(&wasp_fixtures::manifest_path("jsonpack"))?;
    "yamlpack".clone_into(&mut wants_yaml.name);
    wants_yaml.uses = vec!["yaml@1".parse().map_err(anyhow::Error::msg)?];
    let bytes = std::fs::read(wasp_fixtures::wasm_plugin("jsonpack"))?;
    if let Err(e) = host.load(Load::bytes(&bytes).described_by(wants_yaml)).await {
        println!("  a plugin that uses yaml@1 is refused: {e}");
    }

    section("Permissions: denied by default, granted at run time");
    // The same relay code with no manifest: it asks for nothing, so it gets nothing.
    host.load(Load::bytes(wasp_fixtures::wasm_bytes("relay")).named("stranger")).await?;
    let mut audit = host.audit_events();
    let ask = Forward::new("echo", "ping", &"let me through");
    match host.call::<_, String>("stranger", "forward", &ask).await {
        Err(e) => println!("  stranger → echo is refused: {e}"),
        Ok(_) => println!("  stranger → echo unexpectedly went through"),
    }
    while let Ok(event) = audit.try_recv() {
        if let AuditKind::PermissionDenied { permission } = &event.kind {
            println!("  audit: `{}` denied `{permission}`", event.plugin);
        }
    }
    host.grant("stranger", "request:echo").await?;
    let reply: String = host.call("stranger", "forward", &ask).await?;
    println!("  after host.grant(\"stranger\", \"request:echo\"), no restart: {reply:?}");
    host.revoke("stranger", "request:echo").await?;
    if let Err(e) = host.call::<_, String>("stranger", "forward", &ask).await {
        println!("  revoked again, on its very next call: {}", e.code);
    }

    section("Bad input gets structured errors, never a crash");
    if let Err(e) = host.request("nobody", "ping", codec::to_payload(&())?).await {
        println!("  request to an unknown plugin → {e}");
    }
    if let Err(e) = host.load(Load::bytes(b"\x7fELF\x02\x01\x01 not a plugin").named("bogus")).await {
        println!("  loading a broken library     → {} ({})", e, e.code());
    }
    if let Err(e) = host.load(Load::bytes(b"\x01\x02 neither WASM nor a library").named("noise")).await {
        println!("  loading a file of noise      → {} ({})", e, e.code());
    }
    if let Err(e) = host.call::<_, u64>("counter", "add", &"not a number").await {
        println!("  a payload of the wrong type  → {e}");
    }

    section("Plugins");
    println!(
        "  {:<16} {:<10} {:<8} {:>8} {:>7} {:>9} {:>7} {:>10}",
        "name", "kind", "state", "handled", "faults", "restarts", "denied", "memory"
    );
    let m = host.metrics();
    for p in &m.plugins {
        println!(
            "  {:<16} {:<10} {:<8} {:>8} {:>7} {:>9} {:>7} {:>9}K",
            p.name,
            p.kind,
            format!("{:?}", p.state).to_lowercase(),
            p.handled,
            p.faults,
            p.restarts,
            p.denied,
            p.memory_peak_bytes / 1024
        );
    }
    println!(
        "  broker: {} requests from the host, {} late replies, {} deadlocks refused, {} audit events",
        m.requests, m.late_replies, m.deadlocks_refused, m.audit_events
    );

    host.shutdown().await;
    println!("\ndone.");
    Ok(())
}
