//! How quickly other plugins answer while a runaway WASM plugin spins.
//!
//! A `spinner` plugin runs `spin` (an endless loop) with a CPU budget longer
//! than the measurement, so it yields at the end of every time slice (10 ms)
//! and never stops meanwhile. A client on its own OS thread sends `echo`
//! requests at random moments and records each round trip. With one tokio
//! worker the spinner holds it for a whole slice, so a request waits for the
//! slice to end: the latency beyond one slice is what the scheduler adds
//! between the slice's end and `echo`'s reply. With two workers the other
//! worker is free and answers at once.
//!
//! Not a criterion group: what matters is the tail of a distribution, not a
//! mean. With `--bench` it samples for 3 s per case and prints percentiles;
//! under `cargo test --benches` it samples briefly and checks every request
//! was answered.

use std::time::{Duration, Instant};

use wasp_actors::{Host, Policy, Schedule};
use wasp_protocol::ErrorCode;

struct Case {
    workers: usize,
    latencies: Vec<Duration>,
    spinner_outcome: Option<ErrorCode>,
}

fn run(workers: usize, sample_for: Duration) -> Case {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
    let schedule = Schedule::default();
    let host: Host = rt.block_on(async {
        let host = Host::builder()
            .policy(Policy::new().trust("*").expect("rule"))
            .cpu_budget(sample_for + Duration::from_secs(2))
            .request_timeout(sample_for + Duration::from_secs(10))
            .schedule(schedule)
            .build()
            .expect("host");
        host.load(wasp_fixtures::wasm_bundle("echo")).await.expect("echo loads");
        host.load(wasp_fixtures::wasm_bundle("spinner")).await.expect("spinner loads");
        host
    });
    // Warm echo up before the spinner starts.
    for _ in 0..100 {
        rt.block_on(host.call::<_, String>("echo", "ping", &"warm")).expect("echo answers");
    }
    let spinning = {
        let host = host.clone();
        rt.spawn(async move { host.call::<_, ()>("spinner", "spin", &()).await })
    };
    // Let the spinner take its first slice.
    std::thread::sleep(Duration::from_millis(20));
    let handle = rt.handle().clone();
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    while started.elapsed() < sample_for {
        let t = Instant::now();
        handle
            .block_on(host.call::<_, String>("echo", "ping", &"are you there"))
            .expect("echo answers while the spinner spins");
        latencies.push(t.elapsed());
        // A pseudo-random pause of 0–3 ms, so requests land at every point of a slice.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 3_000));
    }
    let spinner_outcome = rt.block_on(spinning).expect("task").err().map(|e| e.code);
    rt.block_on(host.shutdown());
    Case { workers, latencies, spinner_outcome }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let sample_for = if benching { Duration::from_secs(3) } else { Duration::from_millis(300) };
    let slice = Schedule::default().slice;
    let mut rows = Vec::new();
    for workers in [2, 1] {
        let mut case = run(workers, sample_for);
        assert_eq!(
            case.spinner_outcome,
            Some(ErrorCode::DeadlineExceeded),
            "the spinner spun until its budget ran out"
        );
        assert!(!case.latencies.is_empty());
        case.latencies.sort_unstable();
        rows.push(case);
    }
    if !benching {
        println!("preemption: smoke run done");
        return;
    }
    println!("\n### Other plugins while a runaway WASM plugin spins (slice {} ms)\n", slice.as_millis());
    println!(
        "| tokio workers | requests | p50 | p90 | p99 | max | p99 beyond one slice | waited over one slice + 1 ms |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for case in &rows {
        let l = &case.latencies;
        let p99 = percentile(l, 0.99);
        let over = l.iter().filter(|d| **d > slice + Duration::from_millis(1)).count();
        println!(
            "| {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {over} ({:.1} %) |",
            case.workers,
            l.len(),
            percentile(l, 0.5).as_secs_f64() * 1e3,
            percentile(l, 0.9).as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            l[l.len() - 1].as_secs_f64() * 1e3,
            p99.saturating_sub(slice).as_secs_f64() * 1e3,
            over as f64 * 100.0 / l.len() as f64,
        );
    }
    println!();
}
