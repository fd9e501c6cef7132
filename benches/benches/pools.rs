//! Instance pools (`docs/pools.md`): throughput of a compute-bound plugin
//! run as one instance and as one instance per core, behind one address.
//!
//! The `compute` example's `matmul` request (a 64×64 f64 matrix product,
//! about a millisecond of CPU) is sent [`BATCH`] at a time, all in flight
//! at once, to `compute` loaded as WASM and as a native library, once with
//! `instances = 1` and once with `stateless = true` (one instance per
//! core). Criterion reports requests per second; with `--bench` a table
//! of the speed-up follows (see docs/performance.md).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;
use wasp_actors::{Host, Load, Manifest};
use wasp_benches::{benching, criterion, median, runtime};

/// Requests in flight at once.
const BATCH: u64 = 32;
/// The side of the matrices `matmul` multiplies.
const SIDE: u32 = 64;

/// The pool sizes compared: one instance, and one per core (what
/// `stateless = true` gives; 2 on a one-core machine, to compare anything).
fn sizes() -> [usize; 2] {
    [1, std::thread::available_parallelism().map_or(1, usize::from).max(2)]
}

/// A host with `compute` loaded as WASM and as a native library, each with
/// `n` instances, named `wasm-<n>` and `native-<n>`.
fn host(rt: &Runtime) -> Host {
    rt.block_on(async {
        let host = Host::builder().build().expect("host builds");
        for n in sizes() {
            for (form, dir) in
                [("wasm", wasp_fixtures::wasm_bundle("compute")), ("native", wasp_fixtures::native_bundle("compute"))]
            {
                let mut m = Manifest::from_file(&dir.join("plugin.toml")).expect("compute manifest").instances(n);
                m.name = format!("{form}-{n}");
                host.load(Load::manifest(m))
                    .await
                    .unwrap_or_else(|e| panic!("compute ({form}, {n} instances) loads: {e}"));
            }
        }
        host
    })
}

/// Sends `BATCH` requests at once to `to`, `iters` times; the total time.
fn batches(rt: &Runtime, host: &Host, to: &str, iters: u64) -> Duration {
    let (host, to) = (host.clone(), to.to_owned());
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                let tasks: Vec<_> = (0..BATCH)
                    .map(|_| {
                        let (host, to) = (host.clone(), to.clone());
                        tokio::spawn(async move { host.call::<_, u64>(&to, "matmul", &SIDE).await })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task").expect("compute answers");
                }
            }
            start.elapsed()
        })
        .await
        .expect("bench task")
    })
}

fn throughput(c: &mut Criterion, rt: &Runtime, host: &Host) {
    let mut group = c.benchmark_group("pool throughput");
    group.throughput(Throughput::Elements(BATCH));
    for form in ["wasm", "native"] {
        for n in sizes() {
            let to = format!("{form}-{n}");
            group.bench_function(format!("matmul_{SIDE}/{form}/{n}_instances"), |b| {
                b.iter_custom(|iters| batches(rt, host, &to, iters))
            });
        }
    }
    group.finish();
}

/// Time the instances of `to` spent handling messages so far.
fn busy(host: &Host, to: &str) -> Duration {
    let micros = host.plugins().iter().find(|p| p.name == to).map_or(0, |p| p.busy_micros);
    Duration::from_micros(micros)
}

/// CPU time this process has used (user and system, every thread), where
/// the platform tells it cheaply (Linux: `/proc/self/stat`, in clock ticks
/// of 10 ms); `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Requests per second, 1 instance against one per core, 9 interleaved
/// rounds of 4 batches each, median round; and how many instances were
/// busy at once on average (their summed handling time over wall time),
/// and how many cores the process got meanwhile (its CPU time over wall
/// time): on a machine busy with other work, that bounds the speed-up.
fn table(rt: &Runtime, host: &Host) {
    const ROUNDS: usize = 9;
    let [one, per_core] = sizes();
    println!("\n### Pools: `compute` matmul {SIDE}×{SIDE}, {BATCH} requests in flight, median of {ROUNDS} rounds\n");
    println!(
        "| form | 1 instance req/s | {per_core} instances req/s | speed-up | busy at once, 1 / {per_core} | cores used, 1 / {per_core} |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for form in ["wasm", "native"] {
        let names = [format!("{form}-{one}"), format!("{form}-{per_core}")];
        let mut times: [Vec<Duration>; 2] = Default::default();
        let mut overlap = [0.0; 2];
        let (mut cpu, mut wall_total) = ([Some(Duration::ZERO); 2], [Duration::ZERO; 2]);
        for _ in 0..ROUNDS {
            for (i, name) in names.iter().enumerate() {
                let (before, cpu_before) = (busy(host, name), cpu_time());
                let wall = batches(rt, host, name, 4);
                overlap[i] += (busy(host, name) - before).as_secs_f64() / wall.as_secs_f64() / ROUNDS as f64;
                cpu[i] = match (cpu[i], cpu_before, cpu_time()) {
                    (Some(sum), Some(a), Some(b)) => Some(sum + b.saturating_sub(a)),
                    _ => None,
                };
                wall_total[i] += wall;
                times[i].push(wall);
            }
        }
        let cores = |i: usize| {
            cpu[i].map_or("n/a".to_owned(), |c| format!("{:.2}", c.as_secs_f64() / wall_total[i].as_secs_f64()))
        };
        let [single, pooled] = times.map(|t| (4 * BATCH) as f64 / median(t).as_secs_f64());
        println!(
            "| {form} | {single:.0} | {pooled:.0} | {:.2} | {:.2} / {:.2} | {} / {} |",
            pooled / single,
            overlap[0],
            overlap[1],
            cores(0),
            cores(1)
        );
    }
    println!();
}

fn main() {
    let rt = runtime();
    let host = host(&rt);
    let mut c = criterion(20);
    throughput(&mut c, &rt, &host);
    c.final_summary();
    if benching() {
        table(&rt, &host);
    }
    rt.block_on(host.shutdown());
}
