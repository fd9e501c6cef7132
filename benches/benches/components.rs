//! Component plugins against core modules: the same `echo` and `relay`
//! sources, built once for the core ABI and once as components of the
//! `wasp:plugin` world (`docs/components.md`).
//!
//! - `component_request_reply`: host → `echo` → host, payload a MessagePack
//!   `bin` of 16 B, 1 KiB and 64 KiB, core module vs component;
//! - `component_backend`: `echo`'s `Instance::handle` called directly (no
//!   actor, no broker): what each binding costs per message.
//!
//! Under `cargo bench` it then prints a Markdown table of both, measured
//! interleaved (20,000 operations per round after a warm-up, median of 9
//! rounds), with the component / core ratio.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;
use wasp_actors::Host;
use wasp_benches::{Form, bin_payload, echo_instance, handle_directly, median, relay_payload, requests, runtime};
use wasp_runtime::Instance;

const SIZES: [(usize, &str); 3] = [(16, "16 B"), (1024, "1 KiB"), (64 * 1024, "64 KiB")];
const TABLE_OPS: u64 = 20_000;
const TABLE_ROUNDS: usize = 9;
const TABLE_WARMUP: u64 = 2_000;

struct Setup {
    rt: Runtime,
    /// (label, host): the core module first, then the component.
    hosts: Vec<(&'static str, Host)>,
}

fn request_reply(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("component_request_reply");
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        group.throughput(Throughput::Bytes(size as u64));
        for (form, host) in &s.hosts {
            group.bench_function(BenchmarkId::new(*form, label), |b| {
                b.iter_custom(|iters| requests(&s.rt, host, "echo", "ping", &payload, iters));
            });
        }
    }
    group.finish();
}

fn backend(c: &mut Criterion, s: &Setup, instances: &mut [(&'static str, Instance)]) {
    let mut group = c.benchmark_group("component_backend");
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        for (form, instance) in instances.iter_mut() {
            group.bench_function(BenchmarkId::new(format!("echo handle/{form}"), label), |b| {
                b.iter_custom(|iters| handle_directly(&s.rt, instance, &payload, iters));
            });
        }
    }
    group.finish();
}

fn median_ns(mut run: impl FnMut(u64) -> Duration) -> f64 {
    run(TABLE_WARMUP);
    let rounds = (0..TABLE_ROUNDS).map(|_| run(TABLE_OPS)).collect();
    median(rounds).as_nanos() as f64 / TABLE_OPS as f64
}

fn table(s: &Setup, instances: &mut [(&'static str, Instance)]) {
    println!();
    println!("Core module vs component, same sources, same run (median of {TABLE_ROUNDS} rounds of {TABLE_OPS}):");
    println!();
    println!("| case | core module ns | component ns | component / core |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, core: f64, component: f64| {
        println!("| {name} | {core:.0} | {component:.0} | {:.2} |", component / core);
    };
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        let mut ns = [Vec::new(), Vec::new()];
        for _ in 0..TABLE_ROUNDS {
            for (i, (_, host)) in s.hosts.iter().enumerate() {
                ns[i].push(requests(&s.rt, host, "echo", "ping", &payload, TABLE_OPS));
            }
        }
        let [core, component] = ns.map(|v| median(v).as_nanos() as f64 / TABLE_OPS as f64);
        row(&format!("request/reply {label}"), core, component);
    }
    let forward = relay_payload(16);
    let ns: Vec<f64> = s
        .hosts
        .iter()
        .map(|(_, host)| median_ns(|ops| requests(&s.rt, host, "relay", "forward", &forward, ops)))
        .collect();
    row("plugin→plugin relay→echo 16 B", ns[0], ns[1]);
    for (size, label) in SIZES {
        let payload = bin_payload(size);
        let ns: Vec<f64> =
            instances.iter_mut().map(|(_, i)| median_ns(|ops| handle_directly(&s.rt, i, &payload, ops))).collect();
        row(&format!("echo handle alone {label}"), ns[0], ns[1]);
    }
    println!();
}

fn main() {
    let benching = wasp_benches::benching();
    let mut c = wasp_benches::criterion(30);
    let rt = runtime();
    let hosts = vec![("wasm", wasp_benches::host(&rt, Form::Wasm)), ("component", wasp_benches::component_host(&rt))];
    let mut instances =
        vec![("wasm", echo_instance(&rt, Form::Wasm)), ("component", wasp_benches::component_echo_instance(&rt))];
    let setup = Setup { rt, hosts };
    request_reply(&mut c, &setup);
    backend(&mut c, &setup, &mut instances);
    c.final_summary();
    if benching {
        table(&setup, &mut instances);
    }
}
