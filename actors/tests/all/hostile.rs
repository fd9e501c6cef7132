//! Hostile plugins: every attack is contained, its author (or its caller)
//! gets a clear error, the host audits it, and no other plugin loses an
//! answer.
//!
//! One test per attack. The offenders are WAT modules written against
//! `docs/abi.md`, or the `spinner` example. Several use the probe harness
//! below: a plugin that runs a list of host calls and answers each call's
//! status together with what the result slot then holds.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;
use tokio::sync::broadcast;
use wasp_actors::{
    AuditEvent, AuditKind, Host, LimitRequests, Limits, Manifest, ManifestKind, Permission, PluginState, Policy,
    Supervision,
};
use wasp_example_relay::Forward;
use wasp_protocol::ErrorCode;
use wasp_protocol::services::{ConfigGet, HttpRequest, KvKey, RandomBytes, TimerSet};

use crate::common::{
    Form, WAT_ALLOC, info, info_after, load, load_wat, mp, wat, wat_handle, wat_plugin, wat_plugin_v11,
};

// ---- set-up ---------------------------------------------------------------

/// A host with `limits` that grants every manifest what it asks for and
/// gives up on a request after 5 s.
fn host_with(limits: Limits) -> Host {
    Host::builder()
        .limits(limits)
        .request_timeout(Duration::from_secs(5))
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds")
}

/// Loads a WASM test plugin whose manifest asks for exactly `permissions`
/// and `limits`.
async fn load_with(host: &Host, name: &str, bytes: &[u8], permissions: &[&str], limits: LimitRequests) {
    let mut m = Manifest::new(name).expect("valid name");
    m.kind = ManifestKind::Wasm;
    let m = m.permissions(permissions.iter().map(|p| perm(p))).limits(limits);
    host.load_bytes_with(m, bytes).await.unwrap_or_else(|e| panic!("load {name}: {e}"));
}

fn perm(text: &str) -> Permission {
    text.parse().expect("valid permission")
}

/// The healthy bystander, `echo`, answers three fresh requests correctly.
async fn assert_echo_answers(host: &Host, when: &str) {
    for i in 0..3u32 {
        let payload = mp(&(when, i));
        let reply = host.request("echo", "ping", payload.clone()).await;
        assert_eq!(reply.as_deref(), Ok(&payload[..]), "the echo stopped answering {when}");
    }
}

/// The next audit event about `plugin` whose kind satisfies `pred`,
/// waiting at most 5 s (fault and restart events are recorded just after
/// the caller's answer is sent).
async fn audited(
    rx: &mut broadcast::Receiver<AuditEvent>,
    plugin: &str,
    pred: impl Fn(&AuditKind) -> bool,
) -> AuditEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Ok(e) if e.plugin == plugin && pred(&e.kind) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("audit stream closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching audit event about `{plugin}` within 5 s"))
}

/// The audit events about `plugin` recorded so far whose kind satisfies `pred`.
fn logged(host: &Host, plugin: &str, pred: impl Fn(&AuditKind) -> bool) -> Vec<AuditEvent> {
    host.audit_log().into_iter().filter(|e| e.plugin == plugin && pred(&e.kind)).collect()
}

fn is_fault(code: ErrorCode) -> impl Fn(&AuditKind) -> bool {
    move |k| *k == AuditKind::Fault { code }
}

fn is_invalid_call(call: &'static str) -> impl Fn(&AuditKind) -> bool {
    move |k| matches!(k, AuditKind::InvalidCall { call: c } if c == call)
}

fn is_limit(limit: &'static str) -> impl Fn(&AuditKind) -> bool {
    move |k| matches!(k, AuditKind::LimitExceeded { limit: l } if l == limit)
}

fn is_denial(permission: &str) -> impl Fn(&AuditKind) -> bool {
    let permission = perm(permission);
    move |k| *k == AuditKind::PermissionDenied { permission: permission.clone() }
}

/// The module of a WAT plugin that should never get to run: its start
/// function traps, so a load failing with anything else proves that
/// instantiation never began.
fn trapping_start_module(imports: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module {imports}
             (memory (export "memory") 2)
             {WAT_ALLOC}
             (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i32.const 0))
             (func $start unreachable) (start $start)
             (@custom "wasp:abi" "1.1"))"#
    ))
}

// ---- the probe harness ----------------------------------------------------

/// Where [`Consts`] are placed in a probe plugin's memory.
const CONSTS_AT: usize = 4096;
/// Where the probe harness writes its answer (up to the message buffer at 64 KiB).
const OUT_AT: usize = 16384;

/// Constant bytes for a WAT plugin, placed from [`CONSTS_AT`] up.
#[derive(Default)]
struct Consts {
    bytes: Vec<u8>,
}

impl Consts {
    /// Places `bytes`; returns the WAT operands `(i32.const ptr) (i32.const len)`.
    fn at(&mut self, bytes: impl AsRef<[u8]>) -> String {
        let bytes = bytes.as_ref();
        let ptr = CONSTS_AT + self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        assert!(CONSTS_AT + self.bytes.len() <= OUT_AT, "too many constants");
        format!("(i32.const {ptr}) (i32.const {})", bytes.len())
    }

    /// The data segment holding them.
    fn data(&self) -> String {
        let escaped: String = self.bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        format!("(data (i32.const {CONSTS_AT}) \"{escaped}\")")
    }
}

/// `$begin` starts an answer at [`OUT_AT`]; `$rec (status i64)` appends
/// `[status, bin(the first 120 bytes of the result slot)]`; `$finish (id)`
/// replies with the MessagePack array of everything appended.
const PROBE_HARNESS: &str = r#"
  (global $out (mut i32) (i32.const 0))
  (global $count (mut i32) (i32.const 0))
  (func $begin
    (global.set $out (i32.const 16387))
    (global.set $count (i32.const 0)))
  (func $rec (param $status i64)
    (local $at i32) (local $b i32) (local $n i32)
    (local.set $at (global.get $out))
    (i32.store8 (local.get $at) (i32.const 0x92))
    (i32.store8 offset=1 (local.get $at) (i32.const 0xd3))
    (loop $byte
      (i64.store8 offset=2 (i32.add (local.get $at) (local.get $b))
        (i64.shr_u (local.get $status) (i64.extend_i32_u (i32.sub (i32.const 56) (i32.shl (local.get $b) (i32.const 3))))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $byte (i32.lt_u (local.get $b) (i32.const 8))))
    (local.set $n (call $result_len))
    (if (i32.gt_u (local.get $n) (i32.const 120)) (then (local.set $n (i32.const 120))))
    (local.set $n (call $result_read (i32.add (local.get $at) (i32.const 12)) (local.get $n)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (i32.store8 offset=10 (local.get $at) (i32.const 0xc4))
    (i32.store8 offset=11 (local.get $at) (local.get $n))
    (global.set $out (i32.add (local.get $at) (i32.add (i32.const 12) (local.get $n))))
    (global.set $count (i32.add (global.get $count) (i32.const 1))))
  (func $finish (param $id i64)
    (i32.store8 (i32.const 16384) (i32.const 0xdc))
    (i32.store8 (i32.const 16385) (i32.shr_u (global.get $count) (i32.const 8)))
    (i32.store8 (i32.const 16386) (global.get $count))
    (drop (call $reply (local.get $id) (i32.const 0) (i32.const 16384) (i32.sub (global.get $out) (i32.const 16384)))))
"#;

/// An ABI 1.1 plugin (with `imports` besides `wasp`'s) that answers a
/// `ping` request with nil and any other request by evaluating `probes` in
/// order — WAT expressions leaving an `i64` status; they may use `$id` and
/// `consts` — and answering `[[status, result slot], …]`.
fn prober(imports: &str, mut consts: Consts, probes: &[String]) -> Vec<u8> {
    let (ping, nil) = (consts.at("ping"), consts.at([0xc0u8]));
    let body: Vec<String> = probes.iter().map(|p| format!("(call $rec {p})")).collect();
    let handle = wat_handle(
        "",
        &format!(
            r#"
            (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
            (if (call $is {ping})
              (then (drop (call $reply (local.get $id) (i32.const 0) {nil})) (return (i32.const 0))))
            (call $begin)
            {}
            (call $finish (local.get $id))
            (i32.const 0)"#,
            body.join("\n")
        ),
    );
    wat_plugin_v11(imports, &format!("{} {PROBE_HARNESS} {WAT_ALLOC} {handle}", consts.data()))
}

/// A status-returning `i32` call as a probe.
fn status(call: &str) -> String {
    format!("(i64.extend_i32_s {call})")
}

/// A call returning nothing as a probe: status 0 if it returns at all.
fn void(call: &str) -> String {
    format!("(block (result i64) {call} (i64.const 0))")
}

/// Runs `name`'s probes: each status with the result slot as text.
async fn probe(host: &Host, name: &str) -> Vec<(i64, String)> {
    let answers: Vec<(i64, ByteBuf)> =
        host.call(name, "probe", &()).await.unwrap_or_else(|e| panic!("probing `{name}`: {e}"));
    answers.into_iter().map(|(s, slot)| (s, String::from_utf8_lossy(&slot).into_owned())).collect()
}

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

/// `bomb`: asks for 4 GiB at once, then grows one page at a time until
/// `memory.grow` returns -1; answers `[the 4 GiB grow's result, pages
/// grown, memory.size]`. `bomb-trap`: the same, then traps. `ping`: nil.
fn bomber() -> Vec<u8> {
    let handle = wat_handle(
        "(local $n i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4))
          (then (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1))) (return (i32.const 0))))
        (call $put (i32.const 0) (i64.extend_i32_s (memory.grow (i32.const 65536))))
        (block $full
          (loop $more
            (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $more)))
        (if (call $is (i32.const 32) (i32.const 9)) (then unreachable))
        (call $put (i32.const 1) (i64.extend_i32_u (local.get $n)))
        (call $put (i32.const 2) (i64.extend_i32_u (memory.size)))
        (drop (call $reply_ints (local.get $id) (i32.const 3)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "ping")
        (data (i32.const 32) "bomb-trap")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

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

/// `recurse`: recurses without end. Anything else: echoes its payload.
fn recurser() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 7)) (then (drop (call $recurse (i32.const 0)))))
        (drop (call $reply (local.get $id) (i32.const 0) (global.get $payload) (global.get $payload_len)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "recurse")
        (func $recurse (param i32) (result i32)
          (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
        {WAT_ALLOC}
        {handle}"#
    ))
}

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
        tokio::spawn(async move { host.load_bytes("looper", &bytes).await })
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

// ---- 5. out-of-bounds pointers to every import ----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_pointers_to_every_import_are_invalid_argument_and_audited() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut c = Consts::default();
    let (echo, topic, nil, clock) = (c.at("echo"), c.at("t"), c.at([0xc0u8]), c.at("clock.now"));
    // -16 is 0xfffffff0; 131070 is 2 bytes before the end of the 2-page memory.
    let probes: Vec<(&str, String)> = vec![
        ("send", status(&format!("(call $send (i32.const -16) (i32.const 4) {topic} {nil})"))),
        ("send", status(&format!("(call $send {echo} {topic} (i32.const 0) (i32.const 0x7fffffff))"))),
        ("publish", status(&format!("(call $publish (i32.const -16) (i32.const 1) {nil})"))),
        ("publish", status(&format!("(call $publish {topic} (i32.const 0) (i32.const -1))"))),
        ("subscribe", status("(call $subscribe (i32.const 131070) (i32.const 4))")),
        ("unsubscribe", status("(call $unsubscribe (i32.const 0) (i32.const -1))")),
        ("request", status(&format!("(call $request (i32.const -16) (i32.const 4) {topic} {nil} (i32.const 0))"))),
        (
            "request",
            status(&format!("(call $request {echo} {topic} (i32.const 131000) (i32.const 1000) (i32.const 0))")),
        ),
        ("request_async", format!("(call $request_async {echo} (i32.const -16) (i32.const 1) {nil} (i32.const 0))")),
        ("reply", status("(call $reply (local.get $id) (i32.const 0) (i32.const -16) (i32.const 16))")),
        ("result_read", status("(call $result_read (i32.const -16) (i32.const 16))")),
        ("result_read", status("(call $result_read (i32.const 131070) (i32.const 16))")),
        ("log", void("(call $log (i32.const 2) (i32.const -16) (i32.const 16))")),
        ("log", void("(call $log (i32.const 4) (i32.const 0) (i32.const 0x7fffffff))")),
        ("panic", void("(call $panic (i32.const 0) (i32.const -1))")),
        ("call", status(&format!("(call $call (i32.const -16) (i32.const 9) {nil})"))),
        ("call", status(&format!("(call $call {clock} (i32.const 0) (i32.const 0x7fffffff))"))),
    ];
    let code: Vec<String> = probes.iter().map(|(_, p)| p.clone()).collect();
    load_wat(&host, "oob", &prober("", c, &code)).await;

    for round in 1..=2u64 {
        let answers = probe(&host, "oob").await;
        assert_eq!(answers.len(), probes.len());
        for ((call, _), (status, slot)) in probes.iter().zip(&answers) {
            let expected = match *call {
                "log" | "panic" => 0,
                "request_async" | "result_read" => -13,
                _ => 13,
            };
            assert_eq!(*status, expected, "{call}: {slot}");
            if expected != 0 {
                assert!(slot.contains("outside the plugin's memory of 131072 bytes"), "{call}: {slot}");
            }
        }
        // Nothing trapped: the plugin answers on the same instance.
        let () = host.call("oob", "ping", &()).await.unwrap();
        let i = info_after(&host, "oob", 2 * round).await;
        assert_eq!((i.faults, i.restarts), (0, 0), "{i:?}");
    }

    // Every import's misuse is audited as an invalid call, once per call.
    for call in ["send", "publish", "subscribe", "unsubscribe", "request", "request_async", "reply"]
        .into_iter()
        .chain(["result_read", "log", "panic", "call"])
    {
        let per_round = probes.iter().filter(|(c, _)| *c == call).count();
        let events = logged(&host, "oob", is_invalid_call(call));
        assert_eq!(events.len(), 2 * per_round, "InvalidCall events for `{call}`: {events:?}");
        assert!(events.iter().all(|e| e.message.starts_with(&format!("{call}: "))), "{events:?}");
    }
    assert_eq!(info(&host, "oob").violations, 2 * probes.len() as u64);
    // Nothing reached the echo; it answers the host as before.
    assert_echo_answers(&host, "after the probes").await;
    let i = info_after(&host, "echo", 3).await;
    assert_eq!(i.handled, 3, "the echo received something from the prober: {i:?}");

    // The WASI imports of ABI 1.1. The clock and the random source (the
    // host's own) answer EFAULT (21) for memory they cannot write.
    let wasi_imports = r#"
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let wasi_probes = [
        status("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const -16))"),
        status("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 131070))"),
        status("(call $random_get (i32.const -16) (i32.const 16))"),
        status("(call $random_get (i32.const 131070) (i32.const 16))"),
    ];
    let grants = ["clock", "random"];
    load_with(
        &host,
        "wasi-oob",
        &prober(wasi_imports, Consts::default(), &wasi_probes),
        &grants,
        LimitRequests::default(),
    )
    .await;
    let statuses: Vec<i64> = probe(&host, "wasi-oob").await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, [21, 21, 21, 21], "EFAULT from clock_time_get and random_get");
    // A path outside memory given to `path_open` is refused with an errno
    // (the plugin keeps running) and audited like any call with a bad pointer.
    let path_open = status(
        "(call $path_open (i32.const 3) (i32.const 0) (i32.const -16) (i32.const 16) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 3000))",
    );
    load_with(
        &host,
        "wasi-path",
        &prober(wasi_imports, Consts::default(), &[path_open]),
        &[],
        LimitRequests::default(),
    )
    .await;
    let statuses: Vec<i64> = probe(&host, "wasi-path").await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, [21], "EFAULT for a path outside memory, not a trap");
    let invalid = logged(&host, "wasi-path", |k| matches!(k, AuditKind::InvalidCall { call } if call == "path_open"));
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(info(&host, "wasi-path").faults, 0);
    assert_echo_answers(&host, "after the WASI probes").await;

    // A pointer outside memory is a broken ABI call, whichever import gets it.
    let invalid = logged(&host, "wasi-oob", |k| matches!(k, AuditKind::InvalidCall { .. }));
    assert_eq!(invalid.len(), 4, "no InvalidCall audit event for pointers outside memory given to WASI: {invalid:?}");
}

// ---- 6. bad text, long topics, large payloads -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_utf8_long_topics_and_large_payloads_are_refused_and_audited() {
    const MAX: usize = 4096;
    let host = host_with(Limits { max_message_size: MAX, ..Limits::default() });
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut c = Consts::default();
    let (bad, echo, ok, nil) = (c.at([0xffu8, 0xfe]), c.at("echo"), c.at("t.ok"), c.at([0xc0u8]));
    let (long, longest, unicode) = (c.at("a".repeat(257)), c.at("b".repeat(256)), c.at("température.ç"));
    // 5000 bytes of whatever the memory holds: the broker never decodes payloads.
    let big = "(i32.const 0) (i32.const 5000)";
    let utf8 = "is not UTF-8";
    let topic = "bad topic";
    let size = "payload of 5000 bytes exceeds the limit of 4096 bytes";
    let probes: Vec<(&str, i64, &str, String)> = vec![
        ("send", 13, utf8, status(&format!("(call $send {bad} {ok} {nil})"))),
        ("send", 13, utf8, status(&format!("(call $send {echo} {bad} {nil})"))),
        ("publish", 13, utf8, status(&format!("(call $publish {bad} {nil})"))),
        ("subscribe", 13, utf8, status(&format!("(call $subscribe {bad})"))),
        ("unsubscribe", 13, utf8, status(&format!("(call $unsubscribe {bad})"))),
        ("request", 13, utf8, status(&format!("(call $request {bad} {ok} {nil} (i32.const 0))"))),
        ("request", 13, utf8, status(&format!("(call $request {echo} {bad} {nil} (i32.const 0))"))),
        ("request_async", -13, utf8, format!("(call $request_async {bad} {ok} {nil} (i32.const 0))")),
        ("call", 13, utf8, status(&format!("(call $call {bad} {nil})"))),
        ("publish", 13, topic, status(&format!("(call $publish {long} {nil})"))),
        ("send", 13, topic, status(&format!("(call $send {echo} {long} {nil})"))),
        ("subscribe", 13, topic, status(&format!("(call $subscribe {long})"))),
        ("unsubscribe", 13, topic, status(&format!("(call $unsubscribe {long})"))),
        ("request", 13, topic, status(&format!("(call $request {echo} {long} {nil} (i32.const 0))"))),
        ("request_async", -13, topic, format!("(call $request_async {echo} {long} {nil} (i32.const 0))")),
        ("send", 14, size, status(&format!("(call $send {echo} {ok} {big})"))),
        ("publish", 14, size, status(&format!("(call $publish {ok} {big})"))),
        ("request", 14, size, status(&format!("(call $request {echo} {ok} {big} (i32.const 0))"))),
        ("request_async", -14, size, format!("(call $request_async {echo} {ok} {big} (i32.const 0))")),
        ("reply", 14, size, status(&format!("(call $reply (local.get $id) (i32.const 0) {big})"))),
        // What is allowed still is: 256 bytes, and any UTF-8.
        ("publish", 0, "", status(&format!("(call $publish {longest} {nil})"))),
        ("publish", 0, "", status(&format!("(call $publish {unicode} {nil})"))),
    ];
    let code: Vec<String> = probes.iter().map(|p| p.3.clone()).collect();
    load_wat(&host, "texts", &prober("", c, &code)).await;
    let mut audit = host.audit_events();

    let answers = probe(&host, "texts").await;
    assert_eq!(answers.len(), probes.len());
    for ((call, expected, phrase, _), (status, slot)) in probes.iter().zip(&answers) {
        assert_eq!(status, expected, "{call}: {slot}");
        assert!(slot.contains(phrase), "{call}: `{phrase}` not in {slot:?}");
    }
    // Broken text and bad topics are invalid calls; large payloads exceed a limit.
    let e = audited(&mut audit, "texts", is_invalid_call("send")).await;
    assert!(e.message.contains("address is not UTF-8"), "{e:?}");
    let invalid = logged(&host, "texts", |k| matches!(k, AuditKind::InvalidCall { .. }));
    assert_eq!(invalid.len(), 15, "{invalid:#?}");
    assert!(invalid.iter().any(|e| e.kind == AuditKind::InvalidCall { call: "call".into() }));
    let too_large = logged(&host, "texts", is_limit("max_message_size"));
    assert_eq!(too_large.len(), 5, "{too_large:#?}");
    assert!(too_large.iter().all(|e| e.message.contains(size)), "{too_large:#?}");
    let i = info(&host, "texts");
    assert_eq!((i.violations, i.faults), (20, 0), "{i:?}");

    // The host holds itself to the same rules.
    let err = host.request("echo", &"a".repeat(257), mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err}");
    let err = host.request("echo", "ping", vec![0xc4; MAX + 1]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("exceeds the limit of 4096 bytes"), "{err}");
    // None of it reached the echo, which answers as before.
    assert_echo_answers(&host, "after the bad calls").await;
    assert_eq!(info_after(&host, "echo", 3).await.handled, 3);
    let () = host.call("texts", "ping", &()).await.unwrap();
}

// ---- 7. a flood into a bounded mailbox ------------------------------------

/// Defers `hold` requests; any other request answers the held one and itself.
fn gate() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4))
          (then (global.set $held (local.get $id)) (return (i32.const 1))))
        (drop (call $reply (global.get $held) (i32.const 0) (i32.const 48) (i32.const 1)))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $held (mut i64) (i64.const 0))
        (data (i32.const 16) "hold")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Event `block`: requests `gate`/`hold` and waits for the answer (its
/// mailbox waits too). Other events are counted. Request `count`: answers
/// `[events counted]`; other requests: echoes the payload.
fn victim() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then
            (if (call $is (i32.const 16) (i32.const 5))
              (then (drop (call $request (i32.const 32) (i32.const 4) (i32.const 48) (i32.const 4) (i32.const 64) (i32.const 1) (i32.const 0))))
              (else (global.set $events (i32.add (global.get $events) (i32.const 1)))))
            (return (i32.const 0))))
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 80) (i32.const 5))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (global.get $events)))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (drop (call $reply (local.get $id) (i32.const 0) (global.get $payload) (global.get $payload_len)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $events (mut i32) (i32.const 0))
        (data (i32.const 16) "block")
        (data (i32.const 32) "gate")
        (data (i32.const 48) "hold")
        (data (i32.const 64) "\c0")
        (data (i32.const 80) "count")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Any request: sends 10 events `note` to `victim` as fast as it can and
/// answers `[accepted, busy, other]`.
fn flooder() -> Vec<u8> {
    let handle = wat_handle(
        "(local $i i32) (local $s i32) (local $ok i64) (local $busy i64) (local $other i64)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (loop $again
          (local.set $s (call $send (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 4) (i32.const 48) (i32.const 1)))
          (if (i32.eqz (local.get $s))
            (then (local.set $ok (i64.add (local.get $ok) (i64.const 1))))
            (else (if (i32.eq (local.get $s) (i32.const 4))
              (then (local.set $busy (i64.add (local.get $busy) (i64.const 1))))
              (else (local.set $other (i64.add (local.get $other) (i64.const 1)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 10))))
        (call $put (i32.const 0) (local.get $ok))
        (call $put (i32.const 1) (local.get $busy))
        (call $put (i32.const 2) (local.get $other))
        (drop (call $reply_ints (local.get $id) (i32.const 3)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "victim")
        (data (i32.const 32) "note")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Blocks `victim` on the gate; returns once it waits with an empty mailbox.
async fn block_victim(host: &Host, gate_handled: u64) {
    host.send("victim", "block", mp(&())).unwrap();
    let g = info_after(host, "gate", gate_handled).await;
    assert_eq!(g.handled, gate_handled, "the victim never reached the gate: {g:?}");
    assert_eq!(info(host, "victim").queued, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_into_a_bounded_mailbox_is_answered_busy_and_nothing_is_lost() {
    const DEPTH: usize = 4;
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "gate", &gate(), &[], LimitRequests::default()).await;
    let limits = LimitRequests { mailbox: Some(DEPTH), ..LimitRequests::default() };
    load_with(&host, "victim", &victim(), &["request:gate"], limits).await;
    load_with(&host, "flooder", &flooder(), &["send:victim"], LimitRequests::default()).await;

    // A plugin floods the blocked victim: 4 events fit, 6 are refused busy.
    block_victim(&host, 1).await;
    let counts: Vec<i64> = host.call("flooder", "flood", &()).await.unwrap();
    assert_eq!(counts, [DEPTH as i64, 6, 0], "accepted, busy, other");
    // The full mailbox refuses the host too, at once and saying why.
    let err = host.send("victim", "note", mp(&())).unwrap_err();
    assert_eq!(err.code, ErrorCode::Busy, "{err}");
    assert!(err.message.contains("`victim` has 4 messages queued, its mailbox limit is 4"), "{err}");
    let err = host.request("victim", "ping", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Busy, "{err}");
    assert_echo_answers(&host, "while the victim's mailbox is full").await;
    // Open the gate: every accepted event is handled, none was dropped.
    let () = host.call("gate", "release", &()).await.unwrap();
    // (Asking before the 4 are handled could find the mailbox still full.)
    assert_eq!(info_after(&host, "victim", 1 + DEPTH as u64).await.queued, 0);
    let counted: Vec<i64> = host.call("victim", "count", &()).await.unwrap();
    assert_eq!(counted, [DEPTH as i64], "events the flooder was told were accepted");

    // The host floods it with requests: each gets exactly one answer.
    block_victim(&host, 3).await;
    let asks: Vec<_> = (0..10u32)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move { (i, host.request("victim", "ping", mp(&i)).await) })
        })
        .collect();
    let give_up = Instant::now() + Duration::from_secs(5);
    while info(&host, "victim").refused < 6 + 2 + 6 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let () = host.call("gate", "release", &()).await.unwrap();
    let (mut replies, mut busy) = (0, 0);
    for ask in asks {
        match ask.await.unwrap() {
            (i, Ok(reply)) => {
                assert_eq!(reply, mp(&i), "request {i} got another's answer");
                replies += 1;
            }
            (_, Err(e)) if e.code == ErrorCode::Busy => busy += 1,
            (i, Err(e)) => panic!("request {i}: neither its reply nor busy: {e}"),
        }
    }
    assert_eq!((replies, busy), (DEPTH, 6));
    let v = info(&host, "victim");
    assert_eq!((v.refused, v.dropped, v.faults), (14, 0, 0), "{v:?}");
    assert_eq!(host.metrics().dead_letters, 0, "a message was dropped without an answer");
    assert_echo_answers(&host, "after the flood").await;
}

// ---- 8. a request storm ---------------------------------------------------

/// `storm`: 50 `request_async` to `echo`/`ping` in a loop; answers
/// `[accepted, busy, other]`. `done`: answers `[replies, errors]` received
/// for them so far.
fn stormer() -> Vec<u8> {
    let handle = wat_handle(
        "(local $i i32) (local $r i64) (local $ok i64) (local $busy i64) (local $other i64)",
        r#"
        (if (i32.eq (local.get $kind) (i32.const 2))
          (then (global.set $replies (i32.add (global.get $replies) (i32.const 1))) (return (i32.const 0))))
        (if (i32.eq (local.get $kind) (i32.const 3))
          (then (global.set $errors (i32.add (global.get $errors) (i32.const 1))) (return (i32.const 0))))
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 32) (i32.const 4))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (global.get $replies)))
            (call $put (i32.const 1) (i64.extend_i32_u (global.get $errors)))
            (drop (call $reply_ints (local.get $id) (i32.const 2)))
            (return (i32.const 0))))
        (loop $again
          (local.set $r (call $request_async (i32.const 16) (i32.const 4) (i32.const 48) (i32.const 4) (i32.const 64) (i32.const 1) (i32.const 0)))
          (if (i64.gt_s (local.get $r) (i64.const 0))
            (then (local.set $ok (i64.add (local.get $ok) (i64.const 1))))
            (else (if (i64.eq (local.get $r) (i64.const -4))
              (then (local.set $busy (i64.add (local.get $busy) (i64.const 1))))
              (else (local.set $other (i64.add (local.get $other) (i64.const 1)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 50))))
        (call $put (i32.const 0) (local.get $ok))
        (call $put (i32.const 1) (local.get $busy))
        (call $put (i32.const 2) (local.get $other))
        (drop (call $reply_ints (local.get $id) (i32.const 3)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $replies (mut i32) (i32.const 0))
        (global $errors (mut i32) (i32.const 0))
        (data (i32.const 16) "echo")
        (data (i32.const 32) "done")
        (data (i32.const 48) "ping")
        (data (i32.const 64) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Waits until `name` has received `n` answers to its storm; returns
/// `[replies, errors]`.
async fn storm_answers(host: &Host, name: &str, n: i64) -> Vec<i64> {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let done: Vec<i64> = host.call(name, "done", &()).await.unwrap();
        if done.iter().sum::<i64>() >= n || Instant::now() > give_up {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_storm_is_refused_busy_and_audited_and_the_victim_keeps_answering() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let few = LimitRequests { outstanding_requests: Some(8), ..LimitRequests::default() };
    load_with(&host, "storm-out", &stormer(), &["request:echo"], few).await;
    let slow = LimitRequests { host_calls_per_second: Some(20), ..LimitRequests::default() };
    load_with(&host, "storm-rate", &stormer(), &["request:echo"], slow).await;
    let mut audit = host.audit_events();

    // Meanwhile the host keeps asking the victim.
    let asking = {
        let host = host.clone();
        tokio::spawn(async move {
            for i in 0..20u32 {
                assert_eq!(host.request("echo", "ping", mp(&i)).await.unwrap(), mp(&i), "the victim lost request {i}");
            }
        })
    };
    // 8 requests may await answers at once; within one message none can
    // come back, so the other 42 are refused.
    let counts: Vec<i64> = host.call("storm-out", "storm", &()).await.unwrap();
    assert_eq!(counts, [8, 42, 0], "accepted, busy, other");
    let e = audited(&mut audit, "storm-out", is_limit("max_outstanding_requests")).await;
    assert!(e.message.contains("`storm-out` already has 8 requests awaiting answers"), "{e:?}");
    assert_eq!(logged(&host, "storm-out", is_limit("max_outstanding_requests")).len(), 42);
    // 20 host calls a second, with a burst of as many: 20 pass (21 if the
    // bucket refilled one token during the loop), the rest are refused.
    let counts: Vec<i64> = host.call("storm-rate", "storm", &()).await.unwrap();
    assert!(counts[0] == 20 || counts[0] == 21, "{counts:?}");
    assert_eq!((counts[0] + counts[1], counts[2]), (50, 0), "{counts:?}");
    let e = audited(&mut audit, "storm-rate", is_limit("host_call_rate")).await;
    assert!(e.message.contains("`storm-rate` exceeded its limit of 20 host calls per second"), "{e:?}");
    // A throttle: at most one event, and one violation, a second.
    assert_eq!(logged(&host, "storm-rate", is_limit("host_call_rate")).len(), 1);

    asking.await.unwrap();
    // Every accepted request was answered, back to its sender.
    assert_eq!(storm_answers(&host, "storm-out", 8).await, [8, 0]);
    assert_eq!(storm_answers(&host, "storm-rate", counts[0]).await, [counts[0], 0]);
    // Answers free the slots: the next storm gets 8 through again.
    let again: Vec<i64> = host.call("storm-out", "storm", &()).await.unwrap();
    assert_eq!(again, [8, 42, 0]);
    assert_eq!(storm_answers(&host, "storm-out", 16).await, [16, 0]);
    // The victim answered everyone: 20 from the host, the stormers' accepted ones, and these.
    assert_echo_answers(&host, "after the storm").await;
    let victim_handled = 20 + 16 + counts[0] as u64 + 3;
    let e = info_after(&host, "echo", victim_handled).await;
    assert_eq!((e.handled, e.faults, e.refused), (victim_handled, 0, 0), "{e:?}");
    for name in ["storm-out", "storm-rate"] {
        let i = info(&host, name);
        assert_eq!((i.faults, i.state), (0, PluginState::Running), "{i:?}");
    }
}

// ---- 9. reaching beyond the grants ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaching_unpermitted_plugins_topics_files_hosts_and_services_is_denied_naming_the_permission() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    // A loopback server the intruder must not reach.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/secret");
    let fetch = HttpRequest { method: "GET".into(), url, headers: Vec::new(), body: Vec::new(), timeout_ms: Some(500) };

    let mut c = Consts::default();
    let (echo, ping, nil) = (c.at("echo"), c.at("ping"), c.at([0xc0u8]));
    let (secret, secrets) = (c.at("secret.topic"), c.at("secret.*"));
    let call = |c: &mut Consts, service: &str, payload: Vec<u8>| {
        status(&format!("(call $call {} {})", c.at(service), c.at(payload)))
    };
    let net = format!("net:127.0.0.1:{port}");
    let mut probes: Vec<(i64, String, String)> = vec![
        (3, "send:echo".into(), status(&format!("(call $send {echo} {ping} {nil})"))),
        (3, "request:echo".into(), status(&format!("(call $request {echo} {ping} {nil} (i32.const 0))"))),
        (-3, "request:echo".into(), format!("(call $request_async {echo} {ping} {nil} (i32.const 0))")),
        (3, "publish:secret.topic".into(), status(&format!("(call $publish {secret} {nil})"))),
        (3, "subscribe:secret.*".into(), status(&format!("(call $subscribe {secrets})"))),
        (3, net.clone(), call(&mut c, "http.fetch", mp(&fetch))),
        (3, "storage".into(), call(&mut c, "kv.get", mp(&KvKey { key: "k".into() }))),
        (3, "timers".into(), call(&mut c, "timer.set_timeout", mp(&TimerSet { ms: 10, topic: None, payload: None }))),
        (3, "clock".into(), call(&mut c, "clock.now", mp(&()))),
        (3, "random".into(), call(&mut c, "random.bytes", mp(&RandomBytes { len: 8 }))),
        (3, "config".into(), call(&mut c, "config.get", mp(&ConfigGet { key: "k".into() }))),
    ];
    // WASI: the clock and the random source answer EACCES (2) without
    // their permissions; with no fs grant there is no preopened directory,
    // so fd 3 does not exist (EBADF, 8), and the refused `path_open` is
    // audited naming the path.
    let (relative, absolute) = (c.at("etc/passwd"), c.at("/etc/passwd"));
    let open = |path: &str| {
        status(&format!(
            "(call $path_open (i32.const 3) (i32.const 0) {path} (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 3000))"
        ))
    };
    let wasi = [
        (2, "clock".to_owned(), status("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 3000))")),
        (2, "random".to_owned(), status("(call $random_get (i32.const 3000) (i32.const 8))")),
        (8, String::new(), status("(call $fd_prestat_get (i32.const 3) (i32.const 3000))")),
        (8, "fs.read:/etc/passwd".to_owned(), open(&relative)),
        (8, "fs.read:/etc/passwd".to_owned(), open(&absolute)),
    ];
    probes.extend(wasi);
    let imports = r#"
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let code: Vec<String> = probes.iter().map(|p| p.2.clone()).collect();
    // Narrow grants that cover none of the attempts.
    let grants = ["request:counter", "send:counter", "publish:public.*", "subscribe:public.*", "net:example.com"];
    load_with(&host, "intruder", &prober(imports, c, &code), &grants, LimitRequests::default()).await;
    let mut audit = host.audit_events();

    let answers = probe(&host, "intruder").await;
    assert_eq!(answers.len(), probes.len());
    for ((expected, permission, _), (status, slot)) in probes.iter().zip(&answers) {
        assert_eq!(status, expected, "`{permission}`: {slot}");
        if expected.abs() == 3 {
            let says = format!("plugin `intruder` lacks the permission `{permission}`");
            assert!(slot.contains(&says), "the result slot does not name `{permission}`: {slot:?}");
        }
    }
    // Each denial is audited, naming the permission.
    audited(&mut audit, "intruder", is_denial("send:echo")).await;
    for (_, permission, _) in probes.iter().filter(|p| !p.1.is_empty()) {
        let events = logged(&host, "intruder", is_denial(permission));
        let expected = probes.iter().filter(|p| &p.1 == permission).count();
        assert_eq!(events.len(), expected, "PermissionDenied events for `{permission}`: {events:?}");
        assert!(events.iter().all(|e| e.message.contains(&format!("`{permission}`"))), "{events:?}");
    }
    let i = info(&host, "intruder");
    assert_eq!((i.denied, i.faults), (15, 0), "{i:?}");

    // Nothing got through: no connection, nothing delivered to the echo.
    assert!(server.accept().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock), "the intruder connected");
    assert_echo_answers(&host, "after the intrusion").await;
    assert_eq!(info_after(&host, "echo", 3).await.handled, 3, "the echo received the intruder's messages");
    let () = host.call("intruder", "ping", &()).await.unwrap();
}

// ---- 10. forbidden imports ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_importing_a_forbidden_function_is_refused_before_it_runs() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let cases = [
        (r#"(import "env" "system" (func (param i32) (result i32)))"#, "env", "system"),
        (
            r#"(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))"#,
            "wasi_snapshot_preview1",
            "sock_accept",
        ),
        (
            r#"(import "wasi_snapshot_preview1" "sock_send" (func (param i32 i32 i32 i32 i32) (result i32)))"#,
            "wasi_snapshot_preview1",
            "sock_send",
        ),
        (r#"(import "wasp" "exec" (func (param i32 i32) (result i32)))"#, "wasp", "exec"),
    ];
    for (import, module, name) in cases {
        let err = host.load_bytes("importer", &trapping_start_module(import)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{import}: {err}");
        let text = err.to_string();
        assert!(text.contains(&format!("import `{module}::{name}` is not part of the wasp ABI")), "{text}");
        assert!(!text.contains("unreachable") && !text.contains("trapped"), "its start function ran: {text}");
        assert!(host.plugins().iter().all(|p| p.name != "importer"), "a refused plugin is registered");
        assert_echo_answers(&host, &format!("after refusing `{module}::{name}`")).await;
    }
    assert!(logged(&host, "importer", |k| matches!(k, AuditKind::Fault { .. })).is_empty(), "it ran");
    let refusals = logged(&host, "importer", |k| *k == AuditKind::LoadRefused { code: ErrorCode::InvalidArgument });
    assert_eq!(refusals.len(), cases.len(), "each refusal is audited: {refusals:?}");
    // The same module without the import is fine: it was the import.
    let err = host.load_bytes("importer", &trapping_start_module("")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PluginCrashed, "only now does the start function run: {err}");
    assert_echo_answers(&host, "at the end").await;
}

// ---- 11. the violation threshold ------------------------------------------

/// `attack`: up to 1000 times, publishes to `forbidden.topic` (not granted)
/// and sends `[i]` to the host on `tick`. `scribble`: 1000 times, has the
/// result slot copied outside its memory, then answers `[1000]`. `hold`:
/// defers. Anything else: answers nil.
fn offender() -> Vec<u8> {
    let handle = wat_handle(
        "(local $i i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 6))
          (then
            (loop $again
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (drop (call $publish (i32.const 32) (i32.const 15) (i32.const 64) (i32.const 1)))
              (call $put (i32.const 0) (i64.extend_i32_u (local.get $i)))
              (drop (call $send_ints (i32.const 80) (i32.const 4) (i32.const 1)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (if (call $is (i32.const 112) (i32.const 8))
          (then
            (loop $again
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (drop (call $result_read (i32.const -16) (i32.const 16)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
            (call $put (i32.const 0) (i64.extend_i32_u (local.get $i)))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (if (call $is (i32.const 96) (i32.const 4)) (then (return (i32.const 1))))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 64) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "attack")
        (data (i32.const 32) "forbidden.topic")
        (data (i32.const 64) "\c0")
        (data (i32.const 80) "tick")
        (data (i32.const 96) "hold")
        (data (i32.const 112) "scribble")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Runs the offender's attack: it is stopped by quarantine after 19 ticks.
async fn attack(host: &Host, ticks: &mut wasp_actors::Subscription) {
    let err = host.request("offender", "attack", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("`offender` was quarantined and stopped"), "{err}");
    // Each tick follows a denied publish: the 20th denial stopped the loop.
    let mut seen = Vec::new();
    while let Some(ev) = ticks.try_recv() {
        seen.push(ev.decode::<Vec<i64>>().unwrap()[0]);
    }
    assert_eq!(seen, (1..=19).collect::<Vec<i64>>(), "the guest ran on after quarantine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_the_violation_threshold_quarantines_mid_message_until_lifted() {
    let host = Host::builder()
        .supervision(Supervision { max_violations: 20, ..Supervision::default() })
        .request_timeout(Duration::from_secs(5))
        .policy(Policy::new().trust("*").unwrap())
        .build()
        .unwrap();
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "offender", &offender(), &["send:host"], LimitRequests::default()).await;
    let mut ticks = host.subscribe("tick").unwrap();
    let mut audit = host.audit_events();
    // A request the offender holds when it is quarantined.
    let held = {
        let host = host.clone();
        tokio::spawn(
            async move { host.request_with_timeout("offender", "hold", mp(&()), Duration::from_secs(30)).await },
        )
    };
    info_after(&host, "offender", 1).await;

    attack(&host, &mut ticks).await;
    let q = audited(&mut audit, "offender", |k| matches!(k, AuditKind::Quarantined { .. })).await;
    assert!(q.message.contains("`offender` quarantined: 20 violations within 60 s"), "{q:?}");
    let denials = logged(&host, "offender", is_denial("publish:forbidden.topic"));
    assert_eq!(denials.len(), 20, "{denials:#?}");
    audited(&mut audit, "offender", is_fault(ErrorCode::Unavailable)).await;
    let i = info(&host, "offender");
    assert_eq!((i.state, i.denied, i.violations, i.restarts), (PluginState::Quarantined, 20, 20, 0), "{i:?}");
    assert!(i.quarantine_reason.as_deref().is_some_and(|r| r.contains("20 violations")), "{i:?}");

    // Fail closed: refused at once, saying why and what to do.
    let err = host.request("offender", "ping", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("`offender` is quarantined (20 violations") && err.message.contains("lift"), "{err}");
    let err = host.send("offender", "note", mp(&())).unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert_echo_answers(&host, "while the offender is quarantined").await;
    assert_eq!(info(&host, "offender").restarts, 0, "a quarantined plugin is not restarted");
    // The quarantined instance will not run again: what it held is answered
    // now, not when its caller gives up.
    let held = tokio::time::timeout(Duration::from_secs(2), held).await.map(|h| h.unwrap());

    // Lifted: a fresh instance answers, with its violations forgotten.
    host.lift_quarantine("offender").await.unwrap();
    audited(&mut audit, "offender", |k| *k == AuditKind::QuarantineLifted).await;
    let () = host.call("offender", "ping", &()).await.unwrap();
    let i = info(&host, "offender");
    assert_eq!((i.state, i.quarantine_reason.as_deref()), (PluginState::Running, None), "{i:?}");
    let err = host.lift_quarantine("offender").await.unwrap_err();
    assert!(err.to_string().contains("not quarantined"), "{err}");
    // The count starts over: the next attack is stopped at the 20th again.
    attack(&host, &mut ticks).await;
    assert_eq!(info(&host, "offender").state, PluginState::Quarantined);
    assert_echo_answers(&host, "after the second quarantine").await;
    assert_eq!(info(&host, "echo").faults, 0);

    match held {
        Ok(Err(e)) => assert!(matches!(e.code, ErrorCode::Unavailable | ErrorCode::PluginCrashed), "{e}"),
        Ok(Ok(reply)) => panic!("the held request was answered {reply:x?}"),
        Err(_) => {
            panic!("a request held by the quarantined instance got no answer within 2 s (it waits for its timeout)")
        }
    }
    // Invalid calls to imports without a status (here `result_read`) also
    // stop the guest once quarantine latches: it does not run on, and
    // nothing it says afterwards goes out.
    host.lift_quarantine("offender").await.unwrap();
    let scribbled = host.request("offender", "scribble", mp(&())).await;
    assert_eq!(info(&host, "offender").state, PluginState::Quarantined);
    let err = scribbled.expect_err("a quarantined guest's reply went out");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
}
