//! Loading plugins (issue 7): a WASM plugin from the module cache against
//! compiling it, and spawning 1,000 WASM plugin actors that each answer
//! one request, with the resident memory each idle plugin adds.
//!
//! `cargo bench -p wasp-benches --bench loading`; figures and machine in
//! docs/performance.md. 10,000 idle plugins: `examples/idle_plugins.rs`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use wasp_actors::{Host, Load};
use wasp_runtime::{Engine, EngineOptions, Limits, Pool, Schedule, WasmPlugin};

/// Every example plugin built for wasm32 (WASI ones included).
fn examples() -> Vec<&'static str> {
    wasp_fixtures::PLUGINS.iter().chain(wasp_fixtures::WASI_PLUGINS).copied().collect()
}

fn engine(cache: Option<&std::path::Path>) -> Engine {
    let options = EngineOptions {
        module_cache: cache.map(Into::into),
        pool: Some(Pool::new(1000, &Limits::default())),
        ..EngineOptions::default()
    };
    Engine::with_options(Schedule::default(), options).expect("engine builds")
}

/// `WasmPlugin::compile` with no cache (Cranelift compiles) and with an
/// intact entry in the cache (read, checked, deserialized); both include
/// the ABI checks and linking.
fn load(c: &mut Criterion, cache_dir: &std::path::Path) {
    let compiling = engine(None);
    let cached = engine(Some(cache_dir));
    let limits = Limits::default();
    let mut group = c.benchmark_group("load");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    for name in examples() {
        let bytes = wasp_fixtures::wasm_bytes(name);
        // Prime the cache.
        WasmPlugin::compile(&cached, name, &bytes, &limits).expect("compiles");
        group.bench_function(BenchmarkId::new("compile", name), |b| {
            b.iter(|| black_box(WasmPlugin::compile(&compiling, name, &bytes, &limits).expect("compiles")));
        });
        group.bench_function(BenchmarkId::new("cache", name), |b| {
            b.iter(|| black_box(WasmPlugin::compile(&cached, name, &bytes, &limits).expect("loads")));
        });
    }
    group.finish();
    let stats = cached.module_cache().expect("has a cache").stats();
    assert_eq!((stats.rejected, stats.write_failures), (0, 0), "{stats:?}");
}

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What spawning `n` echo actors took, and the resident memory they added.
struct Spawned {
    load: Duration,
    answer: Duration,
    resident: Option<u64>,
}

/// How a benchmark starts its copies of echo.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// `Host::prepare` once, then `Load::prepared` for each copy.
    Prepared,
    /// `Load::bytes` (with a manifest) for each copy: every load hashes the bytes
    /// to find the shared module.
    Bytes,
}

/// Starts `n` copies of `echo` under different names in a fresh host (its
/// module from the cache, primed beforehand), then sends each one request.
async fn spawn(n: usize, cache: &std::path::Path, pool: u32, how: Start) -> (Host, Spawned) {
    let host = Host::builder().module_cache(cache).pooling_allocator(pool).build().expect("host builds");
    // Prime: one load compiles or hits; the rest hit.
    let (bytes, manifest) = wasp_benches::prime_echo(&host).await;
    let before = resident_bytes();
    let start = Instant::now();
    let prepared = match how {
        Start::Prepared => Some(host.prepare(&manifest, &bytes).await.expect("prepares")),
        Start::Bytes => None,
    };
    for i in 0..n {
        let mut m = manifest.clone();
        m.name = format!("echo-{i}");
        match &prepared {
            Some(prepared) => host.load(Load::prepared(prepared).described_by(m)).await.expect("starts"),
            None => host.load(Load::bytes(&bytes).described_by(m)).await.expect("loads"),
        };
    }
    let loaded = Instant::now();
    let payload = wasp_protocol::codec::to_payload(&"ping").expect("encodes");
    let mut waits = Vec::with_capacity(n);
    for i in 0..n {
        let host = host.clone();
        let payload = payload.clone();
        waits.push(tokio::spawn(async move { host.request(&format!("echo-{i}"), "ping", payload).await }));
    }
    for wait in waits {
        wait.await.expect("task").expect("answer");
    }
    let answered = Instant::now();
    let resident = before.zip(resident_bytes()).map(|(b, a)| a.saturating_sub(b));
    (host, Spawned { load: loaded - start, answer: answered - loaded, resident })
}

fn spawn_1000(c: &mut Criterion, rt: &tokio::runtime::Runtime, cache: &std::path::Path) {
    let mut group = c.benchmark_group("spawn");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
    group.bench_function("1000_wasm_actors_one_request_each", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (host, s) = rt.block_on(spawn(1000, cache, 1000, Start::Prepared));
                total += s.load + s.answer;
                rt.block_on(host.shutdown());
            }
            total
        });
    });
    group.finish();
}

/// The table printed after criterion: one spawn of 1,000 each way, split.
fn spawn_table(rt: &tokio::runtime::Runtime, cache: &std::path::Path) {
    println!("\nspawn 1,000 WASM echo actors (module from the cache), one request each:");
    println!("| start | pool | load 1,000 | answer 1,000 | total | resident added | per idle plugin |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (how, pool) in [(Start::Prepared, 1000), (Start::Prepared, 0), (Start::Bytes, 1000)] {
        let (host, s) = rt.block_on(spawn(1000, cache, pool, how));
        let per = s.resident.map_or("n/a".into(), |r| format!("{:.0} KiB", r as f64 / 1000.0 / 1024.0));
        let total = s.resident.map_or("n/a".into(), |r| format!("{:.1} MiB", r as f64 / (1 << 20) as f64));
        let how = match how {
            Start::Prepared => "`prepare` + `Load::prepared`",
            Start::Bytes => "`Load::bytes` each",
        };
        println!(
            "| {how} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {total} | {per} |",
            if pool == 0 { "off (on demand)".to_owned() } else { pool.to_string() },
            s.load.as_secs_f64() * 1e3,
            s.answer.as_secs_f64() * 1e3,
            (s.load + s.answer).as_secs_f64() * 1e3,
        );
        rt.block_on(host.shutdown());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benching =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a.starts_with("--profile-time"));
    let mut c = Criterion::default().warm_up_time(Duration::from_secs(1)).configure_from_args();
    let rt = wasp_benches::runtime();
    let cache = std::env::temp_dir().join(format!("wasp-bench-cache-{}", std::process::id()));
    load(&mut c, &cache);
    spawn_1000(&mut c, &rt, &cache);
    c.final_summary();
    if benching {
        spawn_table(&rt, &cache);
    }
    let _ = std::fs::remove_dir_all(&cache);
}
