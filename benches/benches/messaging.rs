//! Messaging benchmarks: the example plugins in process vs as WASM.
//!
//! - `request_reply`: host → `echo` → host, payload a MessagePack `bin` of
//!   16 B, 1 KiB and 64 KiB;
//! - `one_way`: batches of one-way sends to `echo`, closed by one request
//!   queued behind them; throughput in messages per second;
//! - `large`: 1 MiB through `echo` and back, the answer sent again;
//! - `plugin_to_plugin`: host → `relay` (`forward`) → `echo` and back;
//! - `backend`: `echo`'s `Instance::handle` called directly (no actor, no
//!   broker, no task switch), and a bare wasmtime call, sync vs `call_async`:
//!   what the WASM backend itself adds per message.
//!
//! After criterion's groups (only with `--bench`, i.e. under `cargo bench`),
//! it measures each case again, interleaving the two forms (20,000
//! operations per round after a warm-up, median of 9 rounds) and prints
//! Markdown tables: WASM / in-process ratios from this same run, then the
//! backend-only costs.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;
use wasp_actors::Host;
use wasp_benches::{
    BareCall, Form, bin_payload, echo_busy, echo_instance, echo_passing, handle_directly, median, one_way,
    relay_payload, requests, runtime,
};
use wasp_runtime::Instance;

/// Payload sizes for request/reply, with labels.
const SIZES: [(usize, &str); 3] = [(16, "16 B"), (1024, "1 KiB"), (64 * 1024, "64 KiB")];

/// One-way messages per batch (each batch also ends with one request).
const BATCH: u64 = 1000;

/// Operations per round of the ratio table, rounds, and warm-up operations.
const TABLE_OPS: u64 = 20_000;
const TABLE_ROUNDS: usize = 9;
const TABLE_WARMUP: u64 = 2_000;

struct Setup {
    rt: Runtime,
    hosts: Vec<(Form, Host)>,
}

impl Setup {
    fn new() -> Self {
        let rt = runtime();
        let hosts = Form::ALL.iter().map(|&form| (form, wasp_benches::host(&rt, form))).collect();
        Self { rt, hosts }
    }
}

fn request_reply(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("request_reply");
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        group.throughput(Throughput::Bytes(size as u64));
        for (form, host) in &s.hosts {
            group.bench_function(BenchmarkId::new(form.label(), label), |b| {
                b.iter_custom(|iters| requests(&s.rt, host, "echo", "ping", &payload, iters));
            });
        }
    }
    group.finish();
}

/// The large payload of `large`: 1 MiB of data in a MessagePack `bin`.
const LARGE: usize = 1 << 20;

/// 1 MiB through `echo` and back, each request carrying the previous
/// answer (no copy on the caller's side); throughput counts the payload once.
fn large(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("large");
    let payload = bin_payload(LARGE);
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.sample_size(20);
    for (form, host) in &s.hosts {
        group.bench_function(BenchmarkId::new(form.label(), "echo 1 MiB"), |b| {
            b.iter_custom(|iters| echo_passing(&s.rt, host, &payload, iters));
        });
    }
    group.finish();
}

/// The 1 MiB echo of [`large`] in the same interleaved rounds as the ratio
/// table (fewer operations: each moves 2 MiB), with throughput.
fn large_table(s: &Setup) {
    const OPS: u64 = 500;
    let payload = bin_payload(LARGE);
    let mut rounds: Vec<Vec<Duration>> = vec![Vec::new(); s.hosts.len()];
    for (_, host) in &s.hosts {
        echo_passing(&s.rt, host, &payload, OPS / 5);
    }
    for _ in 0..TABLE_ROUNDS {
        for (i, (_, host)) in s.hosts.iter().enumerate() {
            rounds[i].push(echo_passing(&s.rt, host, &payload, OPS));
        }
    }
    println!(
        "1 MiB through echo and back, the answer sent again ({OPS} round trips per round, median of {TABLE_ROUNDS}):"
    );
    println!();
    println!("| form | µs per round trip | GB/s (payload once per round trip) |");
    println!("| --- | ---: | ---: |");
    for ((form, _), rounds) in s.hosts.iter().zip(rounds) {
        let per = median(rounds).as_secs_f64() / OPS as f64;
        println!("| {} | {:.1} | {:.2} |", form.label(), per * 1e6, payload.len() as f64 / per / 1e9);
    }
    println!();
}

fn one_way_throughput(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("one_way");
    let payload = bin_payload(16);
    // Each iteration: BATCH sends plus the request that closes the batch.
    group.throughput(Throughput::Elements(BATCH + 1));
    for (form, host) in &s.hosts {
        group.bench_function(BenchmarkId::new(form.label(), "16 B x 1000"), |b| {
            b.iter_custom(|iters| one_way(&s.rt, host, &payload, BATCH, iters));
        });
    }
    group.finish();
}

fn plugin_to_plugin(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("plugin_to_plugin");
    let payload = relay_payload(16);
    for (form, host) in &s.hosts {
        group.bench_function(BenchmarkId::new(form.label(), "relay-echo 16 B"), |b| {
            b.iter_custom(|iters| requests(&s.rt, host, "relay", "forward", &payload, iters));
        });
    }
    group.finish();
}

fn backend(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("backend");
    let mut instances: Vec<(Form, Instance)> = Form::ALL.iter().map(|&f| (f, echo_instance(&s.rt, f))).collect();
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        for (form, instance) in &mut instances {
            group.bench_function(BenchmarkId::new(format!("echo handle/{}", form.label()), label), |b| {
                b.iter_custom(|iters| handle_directly(&s.rt, instance, &payload, iters));
            });
        }
    }
    let mut bare = BareCall::new();
    group.bench_function("wasmtime identity call/sync", |b| b.iter_custom(|iters| bare.sync(iters)));
    group.bench_function("wasmtime identity call/call_async", |b| b.iter_custom(|iters| bare.on_fiber(&s.rt, iters)));
    group.finish();
}

/// Nanoseconds per operation: `TABLE_WARMUP` operations, then the median of
/// `TABLE_ROUNDS` rounds of `TABLE_OPS`. `run(ops)` returns the time taken.
fn median_ns(mut run: impl FnMut(u64) -> Duration) -> f64 {
    run(TABLE_WARMUP);
    let rounds = (0..TABLE_ROUNDS).map(|_| run(TABLE_OPS)).collect();
    median(rounds).as_nanos() as f64 / TABLE_OPS as f64
}

/// The cost of the backends alone, without actors or scheduling.
fn backend_table(s: &Setup) {
    let mut instances: Vec<Instance> = Form::ALL.iter().map(|&f| echo_instance(&s.rt, f)).collect();
    println!("Backend alone (echo's Instance::handle called directly, no actor, broker or waiting task), same method:");
    println!();
    println!("| case | in-process ns | WASM ns | WASM − in-process ns | native lib ns |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        let ns: Vec<f64> =
            instances.iter_mut().map(|i| median_ns(|ops| handle_directly(&s.rt, i, &payload, ops))).collect();
        println!("| handle request {label} | {:.0} | {:.0} | {:.0} | {:.0} |", ns[0], ns[1], ns[1] - ns[0], ns[2]);
    }
    let mut bare = BareCall::new();
    let sync = median_ns(|ops| bare.sync(ops));
    let fiber = median_ns(|ops| bare.on_fiber(&s.rt, ops));
    println!();
    println!("| wasmtime identity function | `call` ns | `call_async` ns | difference ns |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| (i32) -> i32 | {sync:.1} | {fiber:.1} | {:.1} |", fiber - sync);
    println!();
}

/// One case of the ratio table: nanoseconds per operation for `ops` operations.
type Case<'a> = Box<dyn Fn(&Host, u64) -> f64 + 'a>;

/// Measures every case in both forms and prints the ratio table.
fn ratio_table(s: &Setup) {
    let rt = &s.rt;
    let per_op = |d: Duration, ops: u64| d.as_nanos() as f64 / ops as f64;
    let mut cases: Vec<(String, Case<'_>)> = Vec::new();
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        cases.push((
            format!("request/reply {label}"),
            Box::new(move |host, ops| per_op(requests(rt, host, "echo", "ping", &payload, ops), ops)),
        ));
    }
    let note = bin_payload(16);
    cases.push((
        format!("one-way 16 B, per message (batches of {BATCH} + 1 request)"),
        Box::new(move |host, ops| {
            let batches = ops.div_ceil(BATCH + 1);
            per_op(one_way(rt, host, &note, BATCH, batches), batches * (BATCH + 1))
        }),
    ));
    let forward = relay_payload(16);
    cases.push((
        "plugin→plugin relay→echo 16 B".to_owned(),
        Box::new(move |host, ops| per_op(requests(rt, host, "relay", "forward", &forward, ops), ops)),
    ));

    println!();
    println!(
        "WASM / in-process and WASM / native library, same run: {TABLE_OPS} operations per round after {TABLE_WARMUP} warm-up, median of {TABLE_ROUNDS} rounds"
    );
    println!();
    println!(
        "| case | in-process ns | WASM ns | WASM / in-process | native lib ns | WASM / native lib | echo handle ns/msg, in-process | echo handle ns/msg, WASM |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, case) in &cases {
        let mut ns: Vec<Vec<Duration>> = vec![Vec::new(); s.hosts.len()];
        for (_, host) in &s.hosts {
            case(host, TABLE_WARMUP);
        }
        let before: Vec<(u64, u64)> = s.hosts.iter().map(|(_, h)| echo_busy(h)).collect();
        for _ in 0..TABLE_ROUNDS {
            for (i, (_, host)) in s.hosts.iter().enumerate() {
                ns[i].push(Duration::from_secs_f64(case(host, TABLE_OPS) / 1e9));
            }
        }
        let busy: Vec<f64> = s
            .hosts
            .iter()
            .zip(&before)
            .map(|((_, h), (micros, handled))| {
                let (m, n) = echo_busy(h);
                (m - micros) as f64 * 1e3 / (n - handled).max(1) as f64
            })
            .collect();
        let medians: Vec<f64> = ns.into_iter().map(|v| median(v).as_secs_f64() * 1e9).collect();
        let (native, wasm, lib) = (medians[0], medians[1], medians[2]);
        println!(
            "| {name} | {native:.0} | {wasm:.0} | {:.2} | {lib:.0} | {:.2} | {:.0} | {:.0} |",
            wasm / native,
            wasm / lib,
            busy[0],
            busy[1]
        );
    }
    println!();
}

fn main() {
    // Like criterion: without `--bench` (e.g. `cargo test --benches`) each
    // benchmark runs once as a test, and the table is skipped.
    let benching = wasp_benches::benching();
    let mut c = wasp_benches::criterion(30);
    let setup = Setup::new();
    request_reply(&mut c, &setup);
    one_way_throughput(&mut c, &setup);
    large(&mut c, &setup);
    plugin_to_plugin(&mut c, &setup);
    backend(&mut c, &setup);
    c.final_summary();
    if benching {
        ratio_table(&setup);
        large_table(&setup);
        backend_table(&setup);
    }
}
