//! CPU-bound work in a plugin: the same source (`examples/plugins/compute`)
//! compiled to WASM and natively, and what epoch interruption costs.
//!
//! Two levels:
//! - **kernel**: the plugin's `wasp_kernel_*` functions called directly —
//!   in a bare wasmtime instance configured like wasp's engine, with epoch
//!   interruption on (wasp's setting) and off, and in the native library
//!   (`dlopen`). Nothing but the compiled code differs.
//! - **plugin**: a request to the `compute` plugin through a `Host`, as WASM
//!   and as a native library, epoch on (what an app sees).
//!
//! With `--bench` a ratio table follows criterion's groups (see
//! docs/performance.md).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use wasmtime::{Config, Engine, Instance, Linker, Module, OptLevel, Store, TypedFunc};
use wasp_actors::Load;
use wasp_benches::{benching, criterion, median, runtime};

/// SHA-256 input, matrix side, JSON records.
const SHA_LEN: u32 = 1 << 20;
const MAT_N: u32 = 128;
const JSON_COPIES: u32 = 1_000;

/// How a WASM kernel runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Interrupt {
    /// Epoch interruption, wasp's setting: a check at every loop header and
    /// function entry.
    Epoch,
    /// No interruption: what a trusted plugin could run with.
    None,
    /// Fuel metering, wasmtime's other way to bound execution, for reference.
    Fuel,
}

/// One compiled instance of the compute module.
struct Wasm {
    store: Store<()>,
    sha: TypedFunc<u32, u64>,
    mat: TypedFunc<u32, f64>,
    json: TypedFunc<u32, u64>,
}

impl Wasm {
    fn new(bytes: &[u8], interrupt: Interrupt) -> Self {
        // The flags of wasp's engine (runtime/src/engine.rs) that change code.
        let mut config = Config::new();
        config
            .cranelift_opt_level(OptLevel::Speed)
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            .wasm_bulk_memory(true)
            .wasm_multi_value(true)
            .wasm_tail_call(true)
            .epoch_interruption(interrupt == Interrupt::Epoch)
            .consume_fuel(interrupt == Interrupt::Fuel);
        let engine = Engine::new(&config).expect("engine");
        let module = Module::new(&engine, bytes).expect("compute compiles");
        let mut linker = Linker::new(&engine);
        // The kernels call no import; the plugin ABI's imports trap if called.
        linker.define_unknown_imports_as_traps(&module).expect("stub imports");
        let mut store = Store::new(&engine, ());
        match interrupt {
            Interrupt::Epoch => store.set_epoch_deadline(u64::MAX / 2),
            Interrupt::Fuel => store.set_fuel(u64::MAX / 2).expect("fuel"),
            Interrupt::None => {}
        }
        let instance: Instance = linker.instantiate(&mut store, &module).expect("instantiates");
        let sha = instance.get_typed_func(&mut store, "wasp_kernel_sha256").expect("sha export");
        let mat = instance.get_typed_func(&mut store, "wasp_kernel_matmul").expect("matmul export");
        let json = instance.get_typed_func(&mut store, "wasp_kernel_transform").expect("transform export");
        Self { store, sha, mat, json }
    }

    fn run(&mut self, kernel: Kernel) -> u64 {
        match kernel {
            Kernel::Sha => self.sha.call(&mut self.store, SHA_LEN).expect("sha runs"),
            Kernel::Mat => self.mat.call(&mut self.store, MAT_N).expect("matmul runs").to_bits(),
            Kernel::Json => self.json.call(&mut self.store, JSON_COPIES).expect("transform runs"),
        }
    }
}

/// The same kernels in the native library, compiled from the same source.
struct Native {
    _lib: libloading::Library,
    sha: extern "C" fn(u32) -> u64,
    mat: extern "C" fn(u32) -> f64,
    json: extern "C" fn(u32) -> u64,
}

impl Native {
    fn new() -> Self {
        let path = wasp_fixtures::native_library("compute");
        // SAFETY: the library is the workspace's own compute example, built
        // for this platform by wasp-fixtures; its initializers are Rust's.
        let lib = unsafe { libloading::Library::new(&path) }.expect("the compute library loads");
        // SAFETY: each symbol is an `extern "C"` function of exactly this
        // type (examples/plugins/compute/src/lib.rs); `_lib` keeps them loaded.
        unsafe {
            let sha = *lib.get::<extern "C" fn(u32) -> u64>(b"wasp_kernel_sha256").expect("sha symbol");
            let mat = *lib.get::<extern "C" fn(u32) -> f64>(b"wasp_kernel_matmul").expect("matmul symbol");
            let json = *lib.get::<extern "C" fn(u32) -> u64>(b"wasp_kernel_transform").expect("transform symbol");
            Self { _lib: lib, sha, mat, json }
        }
    }

    fn run(&self, kernel: Kernel) -> u64 {
        match kernel {
            Kernel::Sha => (self.sha)(SHA_LEN),
            Kernel::Mat => (self.mat)(MAT_N).to_bits(),
            Kernel::Json => (self.json)(JSON_COPIES),
        }
    }
}

/// SHA-256 of the same input with the hardware's SHA extensions (ring's
/// assembly): what a native plugin can do that WASM cannot.
fn sha_hw() -> u64 {
    let data: Vec<u8> = (0..SHA_LEN as usize).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    let d = digest.as_ref();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

#[derive(Clone, Copy, Debug)]
enum Kernel {
    Sha,
    Mat,
    Json,
}

impl Kernel {
    const ALL: [Kernel; 3] = [Kernel::Sha, Kernel::Mat, Kernel::Json];

    fn label(self) -> &'static str {
        match self {
            Kernel::Sha => "SHA-256 of 1 MiB",
            Kernel::Mat => "128×128 f64 matrix product",
            Kernel::Json => "JSON → MessagePack, 1,000 records",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Kernel::Sha => "sha256_1MiB",
            Kernel::Mat => "matmul_128",
            Kernel::Json => "transform_1000",
        }
    }

    fn request(self) -> (&'static str, u32) {
        match self {
            Kernel::Sha => ("sha256", SHA_LEN),
            Kernel::Mat => ("matmul", MAT_N),
            Kernel::Json => ("transform", JSON_COPIES),
        }
    }
}

struct Setup {
    wasm: Vec<u8>,
    native: Native,
}

fn kernels(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("compute kernel");
    for kernel in Kernel::ALL {
        for interrupt in [Interrupt::Epoch, Interrupt::None] {
            let mut wasm = Wasm::new(&s.wasm, interrupt);
            let name =
                format!("{}/wasm epoch {}", kernel.id(), if interrupt == Interrupt::Epoch { "on" } else { "off" });
            group.bench_function(name, |b| b.iter(|| black_box(wasm.run(kernel))));
        }
        group.bench_function(format!("{}/native", kernel.id()), |b| b.iter(|| black_box(s.native.run(kernel))));
    }
    group.bench_function("sha256_1MiB/native, SHA extensions (ring)", |b| b.iter(|| black_box(sha_hw())));
    group.finish();
}

fn plugin(c: &mut Criterion, s: &Setup) {
    let _ = s;
    let rt = runtime();
    let host = rt.block_on(async { wasp_actors::Host::builder().build() }).expect("host");
    rt.block_on(async {
        host.load(Load::path(wasp_fixtures::wasm_bundle("compute")).named("compute-wasm"))
            .await
            .expect("WASM compute loads");
        host.load(Load::path(wasp_fixtures::native_bundle("compute")).named("compute-native"))
            .await
            .expect("native compute loads");
    });
    let mut group = c.benchmark_group("compute plugin");
    group.sample_size(20);
    for kernel in Kernel::ALL {
        let (topic, arg) = kernel.request();
        for to in ["compute-wasm", "compute-native"] {
            group.bench_function(format!("{}/{to}", kernel.id()), |b| {
                b.iter(|| rt.block_on(host.call::<_, u64>(to, topic, &arg)).expect("answers"))
            });
        }
    }
    group.finish();
}

/// Runs `f` `reps` times and returns the time per run.
fn per_run(reps: u32, mut f: impl FnMut() -> u64) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        black_box(f());
    }
    t.elapsed() / reps
}

/// The ratio table: every variant of a kernel measured in the same loop,
/// interleaved, 9 rounds, median round.
fn ratio_table(s: &Setup) {
    const ROUNDS: usize = 9;
    println!("\n### Compute: WASM / native, same source, one run (median of {ROUNDS} interleaved rounds)\n");
    println!(
        "| kernel | native µs | WASM epoch on µs | WASM / native | WASM epoch off µs | epoch cost | WASM fuel µs | fuel cost |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for kernel in Kernel::ALL {
        let mut variants = [
            Wasm::new(&s.wasm, Interrupt::Epoch),
            Wasm::new(&s.wasm, Interrupt::None),
            Wasm::new(&s.wasm, Interrupt::Fuel),
        ];
        let expected = s.native.run(kernel);
        for v in &mut variants {
            assert_eq!(v.run(kernel), expected, "{kernel:?}: WASM and native compute the same");
        }
        let reps = match kernel {
            Kernel::Sha => 5,
            Kernel::Mat => 20,
            Kernel::Json => 20,
        };
        let mut times: [Vec<Duration>; 4] = Default::default();
        for _ in 0..ROUNDS {
            times[0].push(per_run(reps, || s.native.run(kernel)));
            for (i, v) in variants.iter_mut().enumerate() {
                times[i + 1].push(per_run(reps, || v.run(kernel)));
            }
        }
        let [native, on, off, fuel] = times.map(|t| median(t).as_secs_f64() * 1e6);
        println!(
            "| {} | {native:.0} | {on:.0} | {:.2} | {off:.0} | {:+.1} % | {fuel:.0} | {:+.1} % |",
            kernel.label(),
            on / native,
            (on / off - 1.0) * 100.0,
            (fuel / off - 1.0) * 100.0
        );
    }
    let hw = median((0..ROUNDS).map(|_| per_run(5, sha_hw)).collect()).as_secs_f64() * 1e6;
    println!("\nSHA-256 of 1 MiB natively with the CPU's SHA extensions (ring): {hw:.0} µs\n");
}

fn main() {
    let benching = benching();
    let mut c = criterion(20);
    let setup = Setup { wasm: wasp_fixtures::wasm_bytes("compute"), native: Native::new() };
    assert_eq!(setup.native.run(Kernel::Sha), sha_hw(), "both SHA-256 implementations agree");
    kernels(&mut c, &setup);
    plugin(&mut c, &setup);
    c.final_summary();
    if benching {
        ratio_table(&setup);
    }
}
