//! 10,000 idle WASM plugin actors in one host: how long they take to
//! start, and how much memory they hold.
//!
//! ```sh
//! cargo run --release -p wasp-benches --example idle_plugins -- [COUNT] [POOL]
//! ```
//!
//! COUNT plugins (default 10,000) are loaded as copies of the `echo`
//! example (its module from a module cache primed by the first load), each
//! answers one request, then all sit idle. POOL is the instance pool
//! (default 1,000; 0 = none); instances beyond it are allocated on demand.
//! Prints the times and the resident and virtual memory from
//! `/proc/self/statm` (Linux). Figures in docs/performance.md.

use std::time::{Duration, Instant};

use wasp_actors::{Host, Load};

/// (resident, virtual) bytes of this process.
fn memory() -> (u64, u64) {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut fields = statm.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0) * 4096);
    let size = fields.next().unwrap_or(0);
    (fields.next().unwrap_or(0), size)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let pool: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rt = wasp_benches::runtime();
    let cache = std::env::temp_dir().join(format!("wasp-idle-cache-{}", std::process::id()));
    rt.block_on(async {
        let (rss0, vm0) = memory();
        let built = Instant::now();
        let host = Host::builder().module_cache(&cache).pooling_allocator(pool).build().expect("host builds");
        let built = built.elapsed();
        println!("host built in {:.1} ms, pool: {:?}", built.as_secs_f64() * 1e3, host.pooling_allocator());
        let (bytes, manifest) = wasp_benches::prime_echo(&host).await;
        let (rss1, vm1) = memory();
        let start = Instant::now();
        let mut lap = Instant::now();
        // Compiled (here: taken from the cache) once, started `count` times.
        let prepared = host.prepare(&manifest, &bytes).await.expect("prepares");
        for i in 0..count {
            let mut m = manifest.clone();
            m.name = format!("echo-{i}");
            host.load(Load::prepared(&prepared).described_by(m)).await.expect("starts");
            if (i + 1) % 1000 == 0 {
                let (rss, _) = memory();
                println!(
                    "{:>6} loaded: last 1,000 in {:>7.1} ms, resident {:>8.1} MiB",
                    i + 1,
                    lap.elapsed().as_secs_f64() * 1e3,
                    mib(rss)
                );
                lap = Instant::now();
            }
        }
        let loaded = start.elapsed();
        let payload = wasp_protocol::codec::to_payload(&"ping").expect("encodes");
        let answering = Instant::now();
        let mut waits = Vec::with_capacity(count);
        for i in 0..count {
            let (host, payload) = (host.clone(), payload.clone());
            waits.push(tokio::spawn(async move { host.request(&format!("echo-{i}"), "ping", payload).await }));
        }
        for wait in waits {
            wait.await.expect("task").expect("answer");
        }
        let answered = answering.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (rss2, vm2) = memory();
        println!(
            "{count} WASM plugins loaded in {:.2} s, answered one request each in {:.2} s",
            loaded.as_secs_f64(),
            answered.as_secs_f64()
        );
        println!(
            "resident: {:.1} MiB before the host, {:.1} MiB after priming, {:.1} MiB with {count} idle plugins",
            mib(rss0),
            mib(rss1),
            mib(rss2)
        );
        println!("resident per idle plugin: {:.1} KiB", (rss2.saturating_sub(rss1)) as f64 / count as f64 / 1024.0);
        println!(
            "virtual: {:.1} GiB before, {:.1} GiB after priming, {:.1} GiB with {count} plugins",
            vm0 as f64 / (1u64 << 30) as f64,
            vm1 as f64 / (1u64 << 30) as f64,
            vm2 as f64 / (1u64 << 30) as f64
        );
        let shut = Instant::now();
        host.shutdown().await;
        println!("shutdown in {:.2} s", shut.elapsed().as_secs_f64());
    });
    let _ = std::fs::remove_dir_all(&cache);
}
