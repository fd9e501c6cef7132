//! Shared library modules (issue 10, docs/libraries.md): N different
//! plugins that each embed serde_json (`jsonpack-embedded`) against N
//! plugins that use the shared `json` library (`jsonpack`): the time to
//! compile one of each, and for N plugins the time to load them and answer
//! one request each (cold: an empty module cache, so everything compiles;
//! warm: from the cache), the resident memory that adds, and the size of
//! the compiled code cached on disk.
//!
//! `cargo bench -p wasp-benches --bench libraries`; figures and machine in
//! docs/libraries.md. Each scenario of the table runs in a child process of
//! its own (this binary, with `WASP_BENCH_LIBRARIES` set), so one's freed
//! memory does not flatter the other's resident figure.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use wasp_actors::{Host, Load, Manifest, Policy};
use wasp_runtime::{Engine, EngineOptions, Library, Limits, Schedule, WasmPlugin};

/// How many plugins a scenario loads.
const N: usize = 20;

/// The environment variable that makes this binary run one scenario.
const SCENARIO: &str = "WASP_BENCH_LIBRARIES";

/// `bytes` with a custom section naming `i`: a different module (another
/// cache key, another compile) with the same code, standing in for the
/// `i`-th of N different plugins.
fn distinct(bytes: &[u8], i: usize) -> Vec<u8> {
    let name = b"wasp:bench-id";
    let id = i.to_string();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(id.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(section.len() as u8);
    out.extend(section);
    out
}

fn engine() -> Engine {
    Engine::with_options(Schedule::default(), EngineOptions::default()).expect("engine builds")
}

/// Compiling one plugin of each kind, and the library, with no cache.
fn compile(c: &mut criterion::Criterion) {
    let engine = engine();
    let limits = Limits::default();
    let mut group = c.benchmark_group("libraries/compile");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    for name in ["jsonpack-embedded", "jsonpack"] {
        let bytes = wasp_fixtures::wasm_bytes(name);
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                black_box(WasmPlugin::compile(&engine, name, &distinct(&bytes, i), &limits).expect("compiles"))
            });
        });
    }
    let library = std::fs::read(wasp_fixtures::wasm_library("json")).expect("json.wasm");
    let mut i = 0;
    group.bench_function("json library", |b| {
        b.iter(|| {
            i += 1;
            black_box(Library::compile(&engine, "json", &distinct(&library, i)).expect("compiles"))
        });
    });
    group.finish();
}

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Total size of the files in `dir`.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
}

/// Builds a host on `cache` and loads N plugins of `scenario` (`embedded`
/// or `shared`), each answering one `pack`; the time that took.
async fn run(scenario: &str, cache: &Path) -> Duration {
    let (plugin, uses) = if scenario == "shared" { ("jsonpack", true) } else { ("jsonpack-embedded", false) };
    let bytes = wasp_fixtures::wasm_bytes(plugin);
    let manifest = Manifest::from_file(&wasp_fixtures::manifest_path(plugin)).expect("manifest");
    let start = Instant::now();
    let mut builder = Host::builder().module_cache(cache).policy(Policy::new().trust("*").expect("rule"));
    if uses {
        builder = builder.library(wasp_fixtures::wasm_library("json"));
    }
    let host = builder.build().expect("host builds");
    let payload = wasp_protocol::codec::to_payload(&r#"{"a": [1, 2, 3], "b": {"c": "d"}}"#).expect("encodes");
    for i in 0..N {
        let mut m = manifest.clone();
        m.name = format!("p{i}");
        host.load(Load::bytes(distinct(&bytes, i)).described_by(m)).await.expect("loads");
        host.request(&format!("p{i}"), "pack", payload.clone()).await.expect("packs");
    }
    let took = start.elapsed();
    // Kept alive (not shut down) so that the parent's reading of resident
    // memory below includes every instance.
    std::mem::forget(host);
    took
}

/// In the child: one scenario, cold then warm on the same cache, printed as
/// `cold_ms warm_ms resident_bytes cache_bytes`.
fn child(scenario: &str) {
    let rt = wasp_benches::runtime();
    let cache = std::env::temp_dir().join(format!("wasp-bench-libraries-{}", std::process::id()));
    let before = resident_bytes().unwrap_or(0);
    let cold = rt.block_on(run(scenario, &cache));
    let resident = resident_bytes().unwrap_or(0).saturating_sub(before);
    let warm = rt.block_on(run(scenario, &cache));
    println!("{} {} {resident} {}", cold.as_secs_f64() * 1e3, warm.as_secs_f64() * 1e3, folder_bytes(&cache));
    let _ = std::fs::remove_dir_all(&cache);
}

/// The table printed after criterion: each scenario in a child process.
fn table() {
    let exe = std::env::current_exe().expect("own executable");
    println!("\n{N} plugins, each loaded and answering one `pack` (machine shared with other builds):");
    println!(
        "| plugins | cold: compile + load + answer | warm: from the cache | resident added (cold) | compiled code cached |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (scenario, label) in [("embedded", "each embeds serde_json"), ("shared", "share the json library")] {
        let out = std::process::Command::new(&exe).env(SCENARIO, scenario).output().expect("child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        let f: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if f.len() != 4 {
            println!("| {label} | failed: {} |", String::from_utf8_lossy(&out.stderr).trim());
            continue;
        }
        println!(
            "| {label} | {:.0} ms | {:.0} ms | {:.1} MiB | {:.1} MiB |",
            f[0],
            f[1],
            f[2] / (1 << 20) as f64,
            f[3] / (1 << 20) as f64
        );
    }
}

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO) {
        child(&scenario);
        return;
    }
    let mut c = wasp_benches::criterion(10);
    compile(&mut c);
    c.final_summary();
    if wasp_benches::benching() {
        table();
    }
}
