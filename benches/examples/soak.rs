//! The soak: a million requests across every form of plugin while faults,
//! reloads, grant changes and hostile floods happen beside them.
//!
//! ```sh
//! cargo run --release -p wasp-benches --example soak -- [REQUESTS] [CONCURRENCY]
//! ```
//!
//! REQUESTS (default 1,000,000) requests go from CONCURRENCY (default 64)
//! tasks to `echo` as WASM, as a native library, in process and as a pool of
//! four WASM instances, to `relay` (WASM, plugin → plugin), and to `faulty`
//! in all three forms (random panics, garbage answers) and `spinner` (a
//! spent CPU budget). Beside them a chaos task hot-reloads `echo`, revokes
//! and grants `relay`'s permission, restarts `faulty` and lifts the
//! quarantine of a hostile plugin, while two hostile WASM plugins flood: one
//! sends 4 KiB messages to a small mailbox as fast as it is poked, the other
//! makes denied calls until it is quarantined.
//!
//! Every request carries a unique payload; an answer is checked against the
//! request it answers. The run reports requests issued, answered, lost (no
//! answer within the request timeout plus 10 s) and mismatched (an answer
//! that belongs to another request: a duplicate or a cross-delivery), the
//! answers by kind, the answer-time percentiles, and the resident memory
//! every 10 % of the run (Linux, `/proc/self/statm`). It exits with status 1
//! when a request was lost or mismatched, an answer had a code the
//! operation cannot produce, or anything but a plugin panicked. Figures in docs/security.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasp_actors::{Host, Load, Manifest, ManifestKind, Policy, Supervision};
use wasp_protocol::{ErrorCode, WireError};

/// The request timeout of the soak's host.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Resident bytes of this process.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// A xorshift generator: the soak needs cheap, seeded randomness, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One kind of request the workers make, with the answers it may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// A unique payload to an `echo`; the answer must be that payload.
    Echo(&'static str),
    /// `relay` forwards a unique payload to the WASM `echo`.
    Relay,
    /// `faulty` panics: `plugin_crashed`.
    Panic(&'static str),
    /// `faulty` answers bytes that are not MessagePack (the broker passes
    /// payloads through undecoded: the caller gets them).
    Garbage(&'static str),
    /// `spinner` spins past its CPU budget: `deadline_exceeded`.
    Spin,
}

const ECHOES: [&str; 4] = ["echo-wasm", "echo-native", "echo-inproc", "echo-pool"];
const FAULTIES: [&str; 3] = ["faulty-wasm", "faulty-native", "faulty-inproc"];

impl Op {
    /// Picks an operation: mostly echo, a few faults, rare spins.
    fn pick(rng: &mut Rng) -> Op {
        let roll = rng.below(10_000);
        let pick = |rng: &mut Rng, names: &[&'static str]| names[rng.below(names.len() as u64) as usize];
        match roll {
            0..8_000 => Op::Echo(pick(rng, &ECHOES)),
            8_000..9_500 => Op::Relay,
            9_500..9_800 => Op::Panic(pick(rng, &FAULTIES)),
            9_800..9_998 => Op::Garbage(pick(rng, &FAULTIES)),
            _ => Op::Spin,
        }
    }

    /// Whether `code` is an answer this operation can legitimately get while
    /// chaos runs beside it.
    fn expects(self, code: ErrorCode) -> bool {
        // A reload or restart in progress, or a full mailbox, may answer any
        // request with one of these.
        let chaos = matches!(code, ErrorCode::Busy | ErrorCode::Unavailable | ErrorCode::PluginCrashed);
        match self {
            Op::Echo(_) => chaos,
            // The chaos task revokes `request:echo-wasm` for a moment.
            Op::Relay => chaos || code == ErrorCode::PermissionDenied,
            Op::Panic(_) => chaos,
            Op::Garbage(_) => chaos || code == ErrorCode::InvalidMessage,
            Op::Spin => chaos || code == ErrorCode::DeadlineExceeded,
        }
    }

    fn label(self) -> String {
        match self {
            Op::Echo(to) => format!("echo {to}"),
            Op::Relay => "relay → echo-wasm".into(),
            Op::Panic(to) => format!("panic {to}"),
            Op::Garbage(to) => format!("garbage {to}"),
            Op::Spin => "spin spinner".into(),
        }
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    answered: u64,
    lost: u64,
    mismatched: u64,
    unexpected: u64,
    outcomes: BTreeMap<(String, String), u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.answered += other.answered;
        self.lost += other.lost;
        self.mismatched += other.mismatched;
        self.unexpected += other.unexpected;
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
    }
}

fn unique_payload(worker: u64, seq: u64) -> Vec<u8> {
    wasp_protocol::codec::to_payload(&(worker, seq, "soak")).expect("encodes")
}

/// At most this many requests in flight to each `faulty`. Each of its
/// faults costs a restart and its backoff, one after another; with every
/// worker free to pile on, its queue grows until requests wait past the
/// request timeout, which measures the machine's speed, not the host.
const FAULTY_IN_FLIGHT: usize = 2;

/// The gates of [`FAULTY_IN_FLIGHT`], one per name in [`FAULTIES`].
static FAULTY_GATES: [tokio::sync::Semaphore; 3] = [const { tokio::sync::Semaphore::const_new(FAULTY_IN_FLIGHT) }; 3];

async fn one(host: &Host, op: Op, worker: u64, seq: u64, tally: &mut Tally) {
    let _gate = match op {
        Op::Panic(to) | Op::Garbage(to) => {
            let gate = &FAULTY_GATES[FAULTIES.iter().position(|f| *f == to).expect("a faulty plugin")];
            Some(gate.acquire().await.expect("never closed"))
        }
        _ => None,
    };
    let payload = unique_payload(worker, seq);
    let (to, topic, body) = match op {
        Op::Echo(to) => (to, "ping", payload.clone()),
        Op::Relay => {
            let forward =
                wasp_example_relay::Forward { to: "echo-wasm".into(), topic: "ping".into(), body: payload.clone() };
            ("relay", "forward", wasp_protocol::codec::to_payload(&forward).expect("encodes"))
        }
        Op::Panic(to) => (to, "panic", wasp_protocol::codec::to_payload("soak").expect("encodes")),
        Op::Garbage(to) => (to, "garbage", vec![0xc0]),
        Op::Spin => ("spinner", "spin", vec![0xc0]),
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(10), host.request(to, topic, body)).await;
    let took = started.elapsed();
    let Ok(answer) = answer else {
        tally.lost += 1;
        *tally.outcomes.entry((op.label(), "LOST".into())).or_default() += 1;
        return;
    };
    tally.answered += 1;
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    ANSWER_TIMES.lock().expect("not poisoned").entry(op.label()).or_default().record(micros);
    let outcome = match &answer {
        Ok(reply) => {
            let expected = match op {
                // relay answers with echo's answer, which is the payload.
                Op::Echo(_) | Op::Relay => Some(payload[..] == reply[..]),
                Op::Garbage(_) => Some(reply[..] == [0xc1]),
                // The others never answer successfully.
                _ => None,
            };
            match expected {
                Some(true) => "ok".to_owned(),
                Some(false) => {
                    tally.mismatched += 1;
                    "MISMATCHED".to_owned()
                }
                None => {
                    tally.unexpected += 1;
                    "UNEXPECTED ok".to_owned()
                }
            }
        }
        Err(WireError { code, .. }) => {
            if !op.expects(*code) {
                tally.unexpected += 1;
                if tally.unexpected <= 3 {
                    eprintln!("unexpected answer to {}: {:?}", op.label(), answer);
                }
            }
            code.to_string()
        }
    };
    *tally.outcomes.entry((op.label(), outcome)).or_default() += 1;
}

/// A hostile plugin that, for every event it is sent, sends 32 one-way
/// messages of 4 KiB to `sink` (whose mailbox holds 16), ignoring `busy`.
const FLOODER: &str = r#"(module
  (import "wasp" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "sinkflood")
  ;; a 4 KiB MessagePack bin at 64: c5 0f fc, then 4092 bytes
  (data (i32.const 64) "\c5\0f\fc")
  (func (export "wasp_alloc") (param i32) (result i32) (i32.const 8192))
  (func (export "wasp_dealloc") (param i32 i32))
  (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32)
    (local $i i32)
    (loop $again
      (drop (call $send (i32.const 0) (i32.const 4) (i32.const 4) (i32.const 5) (i32.const 64) (i32.const 4095)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 32))))
    (i32.const 0))
  (@custom "wasp:abi" "1.0"))"#;

/// A hostile plugin that, for every event, makes 16 calls it has no
/// permission for (a request to `echo-wasm`), until it is quarantined.
const VIOLATOR: &str = r#"(module
  (import "wasp" "request_async" (func $req (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "echo-wasmping\c0")
  (func (export "wasp_alloc") (param i32) (result i32) (i32.const 8192))
  (func (export "wasp_dealloc") (param i32 i32))
  (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32)
    (local $i i32)
    (loop $again
      (drop (call $req (i32.const 0) (i32.const 9) (i32.const 9) (i32.const 4) (i32.const 13) (i32.const 1) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 16))))
    (i32.const 0))
  (@custom "wasp:abi" "1.0"))"#;

async fn load_everything(host: &Host) {
    let manifest = |name: &str| Manifest::from_file(&wasp_fixtures::manifest_path(name)).expect("example manifest");
    let echo_bytes = wasp_fixtures::wasm_bytes("echo");

    host.load(Load::path(wasp_fixtures::wasm_bundle("echo")).named("echo-wasm")).await.expect("echo wasm");
    host.load(Load::path(wasp_fixtures::native_bundle("echo")).named("echo-native")).await.expect("echo native");
    let mut m = manifest("echo");
    m.name = "echo-inproc".into();
    host.load(Load::in_process(wasp_example_echo::Echo::default).described_by(m)).await.expect("echo in process");
    let mut m = manifest("echo");
    m.name = "echo-pool".into();
    m.instances = Some(4);
    host.load(Load::bytes(&echo_bytes).described_by(m)).await.expect("echo pool");

    let mut m = manifest("relay");
    m.permissions = vec!["request:echo-wasm".parse().expect("permission")];
    host.load(Load::bytes(wasp_fixtures::wasm_bytes("relay")).described_by(m)).await.expect("relay");

    host.load(Load::path(wasp_fixtures::wasm_bundle("faulty")).named("faulty-wasm")).await.expect("faulty wasm");
    host.load(Load::path(wasp_fixtures::native_bundle("faulty")).named("faulty-native")).await.expect("faulty native");
    let mut m = manifest("faulty");
    m.name = "faulty-inproc".into();
    host.load(Load::in_process(wasp_example_faulty::Faulty::default).described_by(m)).await.expect("faulty in process");

    let mut m = manifest("spinner");
    m.limits.cpu_budget = Some(Duration::from_millis(20));
    host.load(Load::bytes(wasp_fixtures::wasm_bytes("spinner")).described_by(m)).await.expect("spinner");

    let wasm = |name: &str| {
        let mut m = Manifest::new(name).expect("name");
        m.kind = ManifestKind::Wasm;
        m
    };
    let mut m = manifest("echo");
    m.name = "sink".into();
    m.limits.mailbox = Some(16);
    host.load(Load::bytes(&echo_bytes).described_by(m)).await.expect("sink");
    let mut m = wasm("flooder");
    m.permissions = vec!["send:sink".parse().expect("permission")];
    host.load(Load::bytes(wat::parse_str(FLOODER).expect("flooder assembles")).described_by(m)).await.expect("flooder");
    let m = wasm("violator");
    host.load(Load::bytes(wat::parse_str(VIOLATOR).expect("violator assembles")).described_by(m))
        .await
        .expect("violator");
}

/// Reloads, grant changes, restarts and quarantine lifts, every 50 ms, until `stop`.
async fn chaos(host: Host, stop: Arc<AtomicBool>, events: Arc<AtomicU64>) {
    let echo = wasp_fixtures::wasm_bytes("echo");
    let mut rng = Rng(0x5eed);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done = match rng.below(5) {
            0 => host.reload_bytes("echo-wasm", &echo).await.map(drop),
            1 => {
                async {
                    host.revoke("relay", "request:echo-wasm").await?;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    host.grant("relay", "request:echo-wasm").await?;
                    // Each request refused meanwhile is a violation of
                    // relay's, and enough of them quarantine it, as they
                    // should; the soak wants relay at work, so the host's
                    // operator lets it back in.
                    match host.lift_quarantine("relay").await {
                        Err(_) => Ok(()),
                        ok => ok,
                    }
                }
                .await
            }
            2 => host.restart("faulty-wasm").await,
            3 => match host.lift_quarantine("violator").await {
                // Not quarantined (yet): nothing to lift.
                Err(_) => Ok(()),
                ok => ok,
            },
            _ => host.restart("faulty-native").await,
        };
        if let Err(e) = done {
            eprintln!("chaos step failed: {e}");
        }
        events.fetch_add(1, Ordering::Relaxed);
    }
}

/// Pokes the hostile plugins with events, every millisecond, until `stop`.
async fn floods(host: Host, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let _ = host.send("flooder", "go", vec![0xc0]);
        let _ = host.send("violator", "go", vec![0xc0]);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Answer times by operation, shared by the workers. Histograms keep their
/// memory constant whatever the run's length (a list of a million times was
/// 7.6 MiB of the resident-memory curve), so the curve is the host's alone.
static ANSWER_TIMES: std::sync::Mutex<BTreeMap<String, Latencies>> = std::sync::Mutex::new(BTreeMap::new());

/// Answer times in microseconds: an HDR histogram with two significant
/// digits (1 % resolution), up to a minute (answers arrive within the
/// request timeout plus 10 s; a longer one is clamped to the top). It is
/// about 20 KiB, allocated and written whole when it is made.
struct Latencies(hdrhistogram::Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"))
    }
}

impl Latencies {
    fn record(&mut self, micros: u64) {
        self.0.saturating_record(micros);
    }

    fn add(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("same bounds");
    }

    fn percentile(&self, p: f64) -> u64 {
        self.0.value_at_quantile(p)
    }

    fn max(&self) -> u64 {
        self.0.max()
    }
}

/// Panics seen: the plugins' own (`faulty`'s "boom"), and any other, which
/// would be the host's.
static PLUGIN_PANICS: AtomicU64 = AtomicU64::new(0);
static HOST_PANICS: AtomicU64 = AtomicU64::new(0);

fn main() {
    // Count panics instead of printing a backtrace for each of the thousands
    // the faulty plugins cause in process; print any other.
    std::panic::set_hook(Box::new(|info| {
        let text = info.payload_as_str().unwrap_or_default();
        if text.starts_with("boom") || text.starts_with("grow") {
            PLUGIN_PANICS.fetch_add(1, Ordering::Relaxed);
        } else {
            HOST_PANICS.fetch_add(1, Ordering::Relaxed);
            eprintln!("host panic: {info}");
        }
    }));
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let concurrency: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let rt = wasp_benches::runtime();
    let data = tempfile::tempdir().expect("temporary directory");
    let code = rt.block_on(async {
        let host = Host::builder()
            .policy(Policy::new().trust("*").expect("valid rule"))
            .request_timeout(REQUEST_TIMEOUT)
            .data_dir(data.path())
            // Faults are the point: restart at once, quarantine only the violator.
            .supervision(Supervision {
                backoff_initial: Duration::from_millis(1),
                backoff_max: Duration::from_millis(20),
                max_failures: u32::MAX,
                ..Supervision::default()
            })
            .build()
            .expect("host builds");
        load_everything(&host).await;
        let rss_start = resident();
        println!("soak: {total} requests from {concurrency} tasks; resident after loading {:.1} MiB", mib(rss_start));

        let stop = Arc::new(AtomicBool::new(false));
        let chaos_steps = Arc::new(AtomicU64::new(0));
        let chaos_task = tokio::spawn(chaos(host.clone(), stop.clone(), chaos_steps.clone()));
        let flood_task = tokio::spawn(floods(host.clone(), stop.clone()));

        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for worker in 0..concurrency {
            let (host, next) = (host.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (worker + 1).wrapping_mul(0x1000_0001));
                let mut tally = Tally::default();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= total {
                        break;
                    }
                    one(&host, Op::pick(&mut rng), worker, seq, &mut tally).await;
                }
                tally
            }));
        }

        // The memory curve: a sample at every tenth of the run.
        let mut curve = Vec::new();
        let mut mark = 1;
        while workers.iter().any(|w| !w.is_finished()) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let done = next.load(Ordering::Relaxed).min(total);
            while mark <= 10 && done >= total * mark / 10 {
                let rss = resident();
                println!(
                    "{:>3} %  {:>9} requests  {:>7.1} s  resident {:>7.1} MiB",
                    mark * 10,
                    done,
                    started.elapsed().as_secs_f64(),
                    mib(rss)
                );
                curve.push(rss);
                mark += 1;
            }
        }
        let mut tally = Tally::default();
        for w in workers {
            tally.merge(w.await.expect("worker"));
        }
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let _ = chaos_task.await;
        let _ = flood_task.await;

        let metrics = host.metrics();
        let by_op = std::mem::take(&mut *ANSWER_TIMES.lock().expect("not poisoned"));
        let mut lat = Latencies::default();
        for times in by_op.values() {
            lat.add(times);
        }
        println!();
        println!("answers by operation:");
        for ((op, outcome), n) in &tally.outcomes {
            println!("  {op:<22} {outcome:<20} {n:>9}");
        }
        println!();
        println!(
            "issued {total}, answered {}, lost {}, mismatched {}, unexpected {}",
            tally.answered, tally.lost, tally.mismatched, tally.unexpected
        );
        println!(
            "answer time (µs): p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
            lat.percentile(0.5),
            lat.percentile(0.9),
            lat.percentile(0.99),
            lat.percentile(0.999),
            lat.max()
        );
        println!("answer time by operation (µs):");
        for (op, times) in &by_op {
            println!(
                "  {op:<22} p50 {:>8} · p99 {:>8} · max {:>8}",
                times.percentile(0.5),
                times.percentile(0.99),
                times.max()
            );
        }
        println!(
            "{:.1} s, {:.0} requests/s; {} chaos steps; host: {} dead letters, {} late replies, {} audit events",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            chaos_steps.load(Ordering::Relaxed),
            metrics.dead_letters,
            metrics.late_replies,
            metrics.audit_events
        );
        for p in metrics.plugins.iter().filter(|p| ["sink", "flooder", "violator"].contains(&p.name.as_str())) {
            println!(
                "  {:<9} state {:?}, handled {}, refused {}, denied {}, violations {}",
                p.name, p.state, p.handled, p.refused, p.denied, p.violations
            );
        }
        // Flat after warm-up: the last sample against the one at 20 %.
        if let (Some(&warm), Some(&last)) = (curve.get(1), curve.last()) {
            println!(
                "resident: {:.1} MiB after loading, {:.1} MiB at 20 %, {:.1} MiB at the end ({:+.1} MiB after warm-up)",
                mib(rss_start),
                mib(warm),
                mib(last),
                mib(last) - mib(warm)
            );
        }
        let host_panics = HOST_PANICS.load(Ordering::Relaxed);
        println!(
            "panics: {} in the plugins (in process), {host_panics} elsewhere",
            PLUGIN_PANICS.load(Ordering::Relaxed)
        );
        host.shutdown().await;
        let answered_once = tally.answered + tally.lost == total;
        if tally.lost == 0 && tally.mismatched == 0 && tally.unexpected == 0 && answered_once && host_panics == 0 {
            0
        } else {
            1
        }
    });
    std::process::exit(code);
}
