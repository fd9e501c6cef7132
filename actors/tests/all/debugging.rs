//! Debugging WASM plugins: symbolized trap backtraces, debug mode for a
//! native debugger, and the guest profiler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasp_actors::{Host, Policy};
use wasp_protocol::ErrorCode;

use crate::common::{Form, host, load, mp};

/// A host that grants everything, in debug mode or not.
fn host_with_debug(debug: bool) -> Host {
    Host::builder()
        .request_timeout(Duration::from_secs(30))
        .cpu_budget(Duration::from_secs(20))
        .policy(Policy::new().trust("*").expect("valid rule"))
        .debug(debug)
        .build()
        .expect("host builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_plugin_has_a_backtrace_with_rust_functions_and_lines() {
    let host = host();
    load(&host, Form::Wasm, "faulty", "faulty").await;
    let err = host.request("faulty", "panic", mp("here")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("boom: here"), "{err}");
    let backtrace = err.context.as_deref().unwrap_or_default();
    // Rust function names, from the module's name section and DWARF…
    assert!(backtrace.contains("on_message"), "function names: {backtrace}");
    assert!(backtrace.contains("dispatch<wasp_example_faulty::Faulty>"), "function names: {backtrace}");
    // …and, since the example plugins keep line tables (the workspace's
    // release profile has `debug = "line-tables-only"`), the file and line
    // of the `panic!`.
    let source = std::fs::read_to_string(wasp_fixtures::workspace_root().join("examples/plugins/faulty/src/lib.rs"))
        .expect("faulty's source");
    let line = 1 + source.lines().position(|l| l.contains("panic!(\"boom: {what}\")")).expect("the panic! line");
    let at = format!("examples/plugins/faulty/src/lib.rs:{line}:17");
    assert!(backtrace.contains(&at), "file:line {at}: {backtrace}");
}

#[cfg(feature = "debugger")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_host_runs_plugins_and_says_so() {
    let host = host_with_debug(true);
    assert!(host.debug());
    load(&host, Form::Wasm, "echo", "echo").await;
    assert_eq!(host.request("echo", "hi", mp("there")).await.unwrap(), mp("there"));
    // Traps keep their source lines unoptimized too.
    load(&host, Form::Wasm, "faulty", "faulty").await;
    let err = host.request("faulty", "panic", mp("debug")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.context.as_deref().unwrap_or_default().contains("faulty/src/lib.rs:"), "{err:?}");

    assert!(!host_with_debug(false).debug());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_profiler_samples_a_busy_plugin() {
    let host = host_with_debug(false);
    load(&host, Form::Wasm, "spinner", "spinner").await;
    // Keep the spinner busy while it is profiled.
    let done = Arc::new(AtomicBool::new(false));
    let worker = tokio::spawn({
        let host = host.clone();
        let done = Arc::clone(&done);
        async move {
            let mut rounds = 0u32;
            while !done.load(Ordering::Relaxed) {
                host.request("spinner", "work", mp(&2_000_000u64)).await.expect("work answers");
                rounds += 1;
            }
            rounds
        }
    });
    let json = host.profile("spinner", Duration::from_millis(200)).await.expect("profile");
    done.store(true, Ordering::Relaxed);
    assert!(worker.await.unwrap() > 0);

    let profile: serde_json::Value = serde_json::from_slice(&json).expect("the profile is JSON");
    // The Firefox profiler's processed format: `meta` with a version and
    // the sampling interval, one thread with samples.
    assert!(profile["meta"]["version"].is_number(), "{profile:#}");
    assert!(profile["meta"]["interval"].is_number(), "{profile:#}");
    let thread = &profile["threads"][0];
    let samples = thread["samples"]["length"].as_u64().unwrap_or(0);
    // One sample a tick while the plugin runs: ~200 on a quiet machine.
    // The count depends on how often the ticker thread gets a CPU (a loaded
    // CI machine, wine), so this asks only for repeated sampling.
    assert!(samples >= 3, "{samples} samples in 200 ms at 1 ms: {thread:#}");
    // Frames are named by the module's name section (`work` is inlined).
    let names: Vec<&str> =
        thread["stringArray"].as_array().expect("string table").iter().filter_map(|s| s.as_str()).collect();
    assert!(
        names.iter().any(|n| n.contains("wasp_example_spinner::Spinner") && n.contains("on_message")),
        "no spinner function in the profile: {names:?}"
    );

    // It ended: a second profile may start, and idle ones are cheap.
    let idle = host.profile("spinner", Duration::from_millis(20)).await.expect("second profile");
    assert!(serde_json::from_slice::<serde_json::Value>(&idle).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_loaded_wasm_plugins_can_be_profiled() {
    let host = host();
    assert!(host.profile("nobody", Duration::from_millis(1)).await.is_err());
    load(&host, Form::InProcess, "echo", "echo").await;
    let err = host.profile("echo", Duration::from_millis(1)).await.unwrap_err();
    assert!(err.to_string().contains("only WASM plugins"), "{err}");
}
