//! Attacks on CPU and memory: an infinite loop, a memory bomb, unbounded
//! recursion, and a start function that never returns.

use std::time::{Duration, Instant};

use wasp_actors::{AuditKind, LimitRequests, Limits, Load, PluginState};
use wasp_example_relay::Forward;
use wasp_protocol::ErrorCode;

use super::plugins::{bomber, recurser, sleeper};
use super::{assert_echo_answers, audited, host_with, is_fault, is_limit, load_with, logged};
use crate::common::{Form, WAT_ALLOC, info, info_after, load, mp, wat};

// ---- 1. infinite loop -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_at_its_cpu_budget_and_its_callers_get_deadline_exceeded() {
    let budget = Duration::from_millis(150);
    let host = host_with(Limits { cpu_budget: budget, ..Limits::default() });
    load(&host, Form::Wasm, "echo", "echo").await;
    load(&host, Form::Wasm, "spinner", "spinner").await;
    load(&host, Form::Wasm, "relay", "relay").await;
    let mut audit = host.audit_events();

    let spin = {
        let host = host.clone();
        tokio::spawn(async move { host.request("spinner", "spin", mp(&())).await })
    };
    while !spin.is_finished() {
        assert_echo_answers(&host, "while the spinner spins").await;
    }
    let err = spin.await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(err.message.contains("`spinner` exceeded its CPU budget of 150ms"), "{err}");
    audited(&mut audit, "spinner", is_fault(ErrorCode::DeadlineExceeded)).await;
    audited(&mut audit, "spinner", |k| matches!(k, AuditKind::Restarted { failures: 1, .. })).await;

    // A plugin calling the spinner gets the same error, and stays healthy.
    let err = host.call::<_, ()>("relay", "forward", &Forward::new("spinner", "spin", &())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(err.message.contains("CPU budget"), "{err}");
    audited(&mut audit, "spinner", is_fault(ErrorCode::DeadlineExceeded)).await;

    // Recycled: the spinner answers again; nobody else faulted.
    let pong: String = host.call("spinner", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    let n: u64 = host.call("relay", "pending", &()).await.unwrap();
    assert_eq!(n, 0);
    let i = info_after(&host, "spinner", 3).await;
    assert_eq!((i.handled, i.faults, i.restarts, i.state), (3, 2, 2, PluginState::Running), "{i:?}");
    assert_eq!((info(&host, "relay").faults, info(&host, "echo").faults), (0, 0));
    assert_echo_answers(&host, "after the spin").await;
}

// ---- 2. memory bomb -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_gets_minus_one_at_max_memory_and_is_recycled_when_it_then_traps() {
    const MIB: u64 = 1 << 20;
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let limits = LimitRequests { memory: Some(MIB), ..LimitRequests::default() };
    load_with(&host, "bomber", &bomber(), &[], limits).await;
    let mut audit = host.audit_events();

    // 2 pages to start with, 14 more up to the manifest's 1 MiB; then -1.
    let grown: Vec<i64> = host.call("bomber", "bomb", &()).await.unwrap();
    assert_eq!(grown, [-1, 14, 16], "4 GiB refused, then page by page up to 1 MiB");
    let i = info_after(&host, "bomber", 1).await;
    assert_eq!((i.faults, i.restarts, i.memory_peak_bytes), (0, 0, MIB), "{i:?}");
    assert_echo_answers(&host, "after the bomb").await;

    // A bomb that traps once it hits the limit is recycled.
    let err = host.request("bomber", "bomb-trap", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("`bomber` trapped") && err.message.contains("unreachable"), "{err}");
    audited(&mut audit, "bomber", is_fault(ErrorCode::PluginCrashed)).await;
    audited(&mut audit, "bomber", |k| matches!(k, AuditKind::Restarted { .. })).await;
    let () = host.call("bomber", "ping", &()).await.unwrap();
    let i = info_after(&host, "bomber", 3).await;
    assert_eq!((i.faults, i.restarts, i.state), (1, 1, PluginState::Running), "{i:?}");
    assert_eq!(i.memory_bytes, 2 * 65536, "the fresh instance starts over with its 2 pages: {i:?}");
    assert!(i.memory_peak_bytes <= MIB, "{i:?}");
    // The limit holds for the new instance too.
    let grown: Vec<i64> = host.call("bomber", "bomb", &()).await.unwrap();
    assert_eq!(grown, [-1, 14, 16]);
    assert_eq!(info(&host, "echo").faults, 0);
    assert_echo_answers(&host, "after the trap").await;

    // Hitting max_memory is hitting a limit: `AuditKind::LimitExceeded`
    // lists memory among the limits it records.
    let hits = logged(&host, "bomber", is_limit("max_memory"));
    assert!(hits.len() >= 3, "a `LimitExceeded {{ limit: max_memory }}` audit event per bomb: {hits:#?}");
    assert!(hits.iter().all(|e| e.message.contains("its limit is 1048576")), "{hits:#?}");
}

// ---- 3. unbounded recursion -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_overflows_the_stack_and_is_answered_plugin_crashed() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "recurser", &recurser(), &[], LimitRequests::default()).await;
    let mut audit = host.audit_events();

    let err = host.request("recurser", "recurse", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("`recurser` trapped") && err.message.contains("stack"), "{err}");
    audited(&mut audit, "recurser", is_fault(ErrorCode::PluginCrashed)).await;
    audited(&mut audit, "recurser", |k| matches!(k, AuditKind::Restarted { .. })).await;
    assert_echo_answers(&host, "after the overflow").await;

    // The fresh instance answers, and overflows again just the same.
    assert_eq!(host.request("recurser", "ping", mp(&1)).await.unwrap(), mp(&1));
    let err = host.request("recurser", "recurse", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert_eq!(host.request("recurser", "ping", mp(&2)).await.unwrap(), mp(&2));
    let i = info_after(&host, "recurser", 4).await;
    assert_eq!((i.faults, i.restarts, i.state), (2, 2, PluginState::Running), "{i:?}");
    assert_eq!(info(&host, "echo").faults, 0);
}

// ---- 4. a start function that loops ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_function_that_loops_fails_the_load_within_the_budget_and_the_host_runs_on() {
    let budget = Duration::from_millis(150);
    let host = host_with(Limits { cpu_budget: budget, ..Limits::default() });
    load(&host, Form::Wasm, "echo", "echo").await;
    let bytes = wat(&format!(
        r#"(module
             (memory (export "memory") 2)
             {WAT_ALLOC}
             (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i32.const 0))
             (func $spin (loop $forever (br $forever))) (start $spin)
             (@custom "wasp:abi" "1.1"))"#
    ));

    let started = Instant::now();
    let loading = {
        let host = host.clone();
        tokio::spawn(async move { host.load(Load::bytes(&bytes).named("looper")).await })
    };
    while !loading.is_finished() {
        assert_echo_answers(&host, "while a start function loops").await;
    }
    let err = loading.await.unwrap().unwrap_err();
    let took = started.elapsed();
    let faulted = logged(&host, "looper", is_fault(ErrorCode::DeadlineExceeded));
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded, "{err}");
    assert!(err.to_string().contains("`looper` exceeded its CPU budget of 150ms"), "{err}");
    assert!(took < budget * 10, "took {took:?} to stop a start function with a {budget:?} budget");
    assert!(host.plugins().iter().all(|p| p.name != "looper"), "a plugin that failed to load is registered");

    // The host runs on, and the name is free again.
    assert_echo_answers(&host, "after the failed load").await;
    load(&host, Form::Wasm, "echo", "looper").await;
    assert_eq!(host.request("looper", "ping", mp(&"reborn")).await.unwrap(), mp(&"reborn"));

    // Guest code ran and spent its budget: that is a fault like any other.
    assert!(
        !faulted.is_empty(),
        "no `Fault {{ code: deadline_exceeded }}` audit event for a start function that spent its budget"
    );
}

// ---- 3b. sleeping in WASI -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_in_poll_oneoff_counts_against_the_cpu_budget() {
    // Margins for a slow machine (Windows under wine, busy): a second of
    // budget, sleeps within it of a fifth of it, sleeps past it of five.
    let budget = Duration::from_secs(1);
    let host = host_with(Limits { cpu_budget: budget, ..Limits::default() });
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "sleeper", &sleeper(), &[], LimitRequests::default()).await;
    let sleep = async |n: u8, ms: u8| host.call::<_, u8>("sleeper", "sleep", &(n, ms)).await;
    // Sleeps within the budget are fine: 4 × 20 ms, then 200 ms.
    assert_eq!(sleep(4, 20).await.unwrap(), 0, "poll_oneoff's errno");
    assert_eq!(sleep(1, 200).await.unwrap(), 0);
    // Sleeps past it end the message at the budget, not when they would end:
    // 20 × 250 ms is five times the budget.
    let started = Instant::now();
    let err = sleep(20, 250).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "a 5 s sleep held the message {took:?}");
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(err.message.contains("`sleeper` exceeded its CPU budget of 1s"), "{err}");
    // Many short sleeps add up the same way: 100 × 20 ms.
    let err = sleep(100, 20).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    // Recycled, it answers again; the bystander never stopped.
    assert_eq!(sleep(1, 1).await.unwrap(), 0);
    assert_echo_answers(&host, "after the sleeps").await;
    assert_eq!(logged(&host, "sleeper", is_fault(ErrorCode::DeadlineExceeded)).len(), 2);
}
