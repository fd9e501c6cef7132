//! One case of the host-import boundary, shared by the `import_boundary`
//! property tests and the `host_imports` fuzz target
//! (`fuzz/fuzz_targets/host_imports.rs` includes this file), so CI runs the
//! fuzz target's checks on every test run.
//!
//! A WAT plugin, `fuzz`, reads one instruction from each request's payload
//! and makes that host call: any `wasp` import, or one of a few WASI ones,
//! with up to eight fuzzer-chosen arguments. [`Boundary::check`] sends the
//! instruction and asserts what must hold whatever the arguments: the request
//! is answered, a `wasp` import reports bad arguments with a status (never a
//! trap), every status is a stable [`ErrorCode`] or WASI errno, a second
//! plugin (`echo`) still answers, both stay loaded, and no host thread
//! panicked.
//!
//! The instruction (see [`Call`]): byte 0 picks the import (modulo
//! [`imports`]`().len()`), byte 1 has one bit per argument marking it
//! *relative*, bytes `2..66` are eight little-endian `i64` arguments (an
//! `i32` parameter takes the low half), and the rest is free data. A relative
//! `i32` argument is added to the payload's address in guest memory (so
//! `HEADER_LEN + k` points at data byte `k`); a relative `i64` argument is
//! added to the request's id (so `0` is "this request", for `reply`). Bytes
//! missing from a short payload read as zero. The plugin answers with its
//! call's result as a MessagePack integer (0 for imports without one).

use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasp_actors::{Host, Limits, Load, Manifest, ManifestKind, PluginState, Policy, Supervision};
use wasp_protocol::abi::{self, FuncSig, ValType};
use wasp_protocol::{ApiVersion, ErrorCode, WireError, codec};

/// The plugin that makes the fuzzed host calls.
pub(crate) const FUZZ: &str = "fuzz";
/// The bystander that must keep answering.
pub(crate) const ECHO: &str = "echo";
/// The topic requests to [`FUZZ`] carry.
pub(crate) const TOPIC: &str = "call";
/// Bytes of an instruction before its free data.
pub(crate) const HEADER_LEN: usize = 2 + 8 * ARGS;
/// The arguments an instruction carries.
pub(crate) const ARGS: usize = 8;
/// The plugin's linear memory, in bytes (two pages; it never grows).
pub(crate) const MEMORY_SIZE: i64 = 2 * 65536;
/// Where the host writes incoming messages in the plugin (its `wasp_alloc`
/// always answers this).
pub(crate) const BUFFER_AT: i64 = 65536;
/// Where a request's payload lands in the plugin's memory: after the sender
/// (`host`) and the topic.
pub(crate) const PAYLOAD_AT: i64 = BUFFER_AT + (wasp_protocol::HOST.len() + TOPIC.len()) as i64;
/// Memory the plugin leaves alone, for calls that write results.
pub(crate) const SCRATCH: i64 = 8192;
/// How long a request may wait for its answer before the case fails. The
/// host's own request timeout (for the plugin's nested requests) is shorter.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// What the plugin is granted: everything a call could need except `net`.
pub(crate) const PERMISSIONS: &[&str] = &[
    "send:*",
    "request:*",
    "publish:*",
    "subscribe:*",
    "log",
    "storage",
    "timers",
    "clock",
    "random",
    "config",
    "fs.write:$DATA",
];

/// The WASI functions the plugin imports, besides every `wasp` import.
const WASI: &[FuncSig] = {
    use ValType::{I32, I64};
    &[
        FuncSig { name: "fd_write", params: &[I32, I32, I32, I32], results: &[I32] },
        FuncSig { name: "fd_read", params: &[I32, I32, I32, I32], results: &[I32] },
        FuncSig { name: "fd_fdstat_get", params: &[I32, I32], results: &[I32] },
        FuncSig { name: "fd_prestat_get", params: &[I32, I32], results: &[I32] },
        FuncSig { name: "fd_prestat_dir_name", params: &[I32, I32, I32], results: &[I32] },
        FuncSig { name: "fd_seek", params: &[I32, I64, I32, I32], results: &[I32] },
        FuncSig { name: "fd_close", params: &[I32], results: &[I32] },
        FuncSig { name: "path_filestat_get", params: &[I32, I32, I32, I32, I32], results: &[I32] },
        FuncSig { name: "path_create_directory", params: &[I32, I32, I32], results: &[I32] },
        FuncSig { name: "random_get", params: &[I32, I32], results: &[I32] },
        FuncSig { name: "clock_time_get", params: &[I32, I64, I32], results: &[I32] },
        FuncSig { name: "args_sizes_get", params: &[I32, I32], results: &[I32] },
        FuncSig { name: "environ_get", params: &[I32, I32], results: &[I32] },
        FuncSig { name: "sched_yield", params: &[], results: &[I32] },
        FuncSig { name: "proc_exit", params: &[I32], results: &[] },
    ]
};

/// One import the plugin can call: its module and signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Import {
    /// `wasp` or `wasi_snapshot_preview1`.
    pub(crate) module: &'static str,
    /// Name and signature.
    pub(crate) sig: &'static FuncSig,
}

impl Import {
    fn is_wasi(self) -> bool {
        self.module == abi::WASI_MODULE
    }
}

/// Every import the plugin can call, in instruction order: all of
/// [`abi::IMPORTS`] (so a new import is fuzzed as soon as it exists), then
/// the WASI ones.
pub(crate) fn imports() -> &'static [Import] {
    static ALL: LazyLock<Vec<Import>> = LazyLock::new(|| {
        let wasp = abi::IMPORTS.iter().map(|sig| Import { module: abi::IMPORT_MODULE, sig });
        wasp.chain(WASI.iter().map(|sig| Import { module: abi::WASI_MODULE, sig })).collect()
    });
    &ALL
}

/// The import an instruction calls (what the plugin computes).
pub(crate) fn import_of(payload: &[u8]) -> Import {
    let all = imports();
    all[usize::from(payload.first().copied().unwrap_or(0)) % all.len()]
}

/// The index of the import named `name`.
pub(crate) fn index_of(name: &str) -> u8 {
    let i = imports().iter().position(|i| i.sig.name == name).unwrap_or_else(|| panic!("no import `{name}`"));
    u8::try_from(i).expect("fewer than 256 imports")
}

/// An instruction for the plugin, built field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// Index into [`imports`] (taken modulo its length).
    pub(crate) import: u8,
    /// Bit `i` set: argument `i` is relative.
    pub(crate) relative: u8,
    /// The arguments; an `i32` parameter takes the low 32 bits.
    pub(crate) args: [i64; ARGS],
    /// Free bytes after the header, for relative pointers to point at.
    pub(crate) data: Vec<u8>,
}

impl Call {
    /// A call of the import `name` with every argument 0.
    pub(crate) fn new(name: &str) -> Self {
        Self { import: index_of(name), relative: 0, args: [0; ARGS], data: Vec::new() }
    }

    /// Sets argument `i`.
    pub(crate) fn arg(mut self, i: usize, value: i64) -> Self {
        self.args[i] = value;
        self
    }

    /// Appends `bytes` to the data and points arguments `i` (pointer,
    /// relative) and `i + 1` (length) at them.
    pub(crate) fn bytes(mut self, i: usize, bytes: &[u8]) -> Self {
        let at = HEADER_LEN + self.data.len();
        self.data.extend_from_slice(bytes);
        self.relative |= 1 << i;
        self.args[i] = at as i64;
        self.args[i + 1] = bytes.len() as i64;
        self
    }

    /// Appends `bytes` to the data, 8-byte aligned, and returns their
    /// absolute address in guest memory (for structures that hold pointers,
    /// such as iovecs: WASI traps on a misaligned one).
    pub(crate) fn place(&mut self, bytes: &[u8]) -> i64 {
        while !(PAYLOAD_AT as usize + HEADER_LEN + self.data.len()).is_multiple_of(8) {
            self.data.push(0);
        }
        let at = PAYLOAD_AT + (HEADER_LEN + self.data.len()) as i64;
        self.data.extend_from_slice(bytes);
        at
    }

    /// Makes `i64` argument `i` the id of the request carrying the call.
    pub(crate) fn this_request(mut self, i: usize) -> Self {
        self.relative |= 1 << i;
        self.args[i] = 0;
        self
    }

    /// The payload the plugin reads.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len());
        out.push(self.import);
        out.push(self.relative);
        for a in self.args {
            out.extend_from_slice(&a.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }
}

fn wat_type(t: ValType) -> &'static str {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
    }
}

/// The `fuzz` plugin's WAT: imports [`imports`], dispatches on byte 0 of a
/// request's payload, replies with the call's result as a MessagePack
/// int64. Events and completions are ignored.
pub(crate) fn fuzz_wat() -> String {
    let all = imports();
    let mut decls = String::new();
    for imp in all {
        let params: Vec<_> = imp.sig.params.iter().map(|t| wat_type(*t)).collect();
        let params = if params.is_empty() { String::new() } else { format!("(param {})", params.join(" ")) };
        let result = imp.sig.results.first().map(|t| format!("(result {})", wat_type(*t))).unwrap_or_default();
        decls.push_str(&format!(
            "  (import \"{}\" \"{}\" (func ${} {params} {result}))\n",
            imp.module, imp.sig.name, imp.sig.name
        ));
    }
    // Case k: call import k with its arguments, leave an i64 on the stack.
    let case = |imp: &Import| {
        let args: Vec<_> = imp
            .sig
            .params
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                ValType::I32 => format!("(call $a32 (i32.const {i}))"),
                ValType::I64 => format!("(call $a64 (i32.const {i}))"),
            })
            .collect();
        let call = format!("(call ${} {})", imp.sig.name, args.join(" "));
        match imp.sig.results.first() {
            Some(ValType::I32) => format!("(i64.extend_i32_s {call})"),
            Some(ValType::I64) => call,
            None => format!("{call} (i64.const 0)"),
        }
    };
    let labels: Vec<_> = (0..all.len()).map(|k| format!("$c{k}")).collect();
    let mut dispatch = format!("(block $c0 (br_table {} (local.get $which)))", labels.join(" "));
    for k in 1..all.len() {
        dispatch = format!("(block $c{k} {dispatch} (br $done {}))", case(&all[k - 1]));
    }
    let dispatch = format!("(block $done (result i64) {dispatch} {})", case(&all[all.len() - 1]));
    let n = all.len();
    format!(
        r#"(module
{decls}
  (memory (export "memory") 2)
  ;; The payload's address, the request's id, the relative-argument bits.
  (global $base (mut i32) (i32.const 0))
  (global $id (mut i64) (i64.const 0))
  (global $rel (mut i32) (i32.const 0))
  (func (export "wasp_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.le_u (local.get $len) (i32.const 65536))
      (then (i32.const 65536)) (else (i32.const 0))))
  (func (export "wasp_dealloc") (param i32 i32))
  ;; Argument $n (header copy at 4096: import, flags, then 8 x i64 at 4098).
  (func $a32 (param $n i32) (result i32)
    (i32.add
      (i32.load (i32.add (i32.const 4098) (i32.shl (local.get $n) (i32.const 3))))
      (select (global.get $base) (i32.const 0)
        (i32.and (global.get $rel) (i32.shl (i32.const 1) (local.get $n))))))
  (func $a64 (param $n i32) (result i64)
    (i64.add
      (i64.load (i32.add (i32.const 4098) (i32.shl (local.get $n) (i32.const 3))))
      (select (global.get $id) (i64.const 0)
        (i32.and (global.get $rel) (i32.shl (i32.const 1) (local.get $n))))))
  (func $dispatch (param $which i32) (result i64)
    {dispatch})
  (func (export "wasp_handle")
    (param $ptr i32) (param $kind i32) (param $id i64)
    (param $from_len i32) (param $topic_len i32) (param $payload_len i32) (result i32)
    (local $r i64) (local $i i32)
    (if (local.get $kind) (then (return (i32.const 0))))
    (global.set $base (i32.add (local.get $ptr) (i32.add (local.get $from_len) (local.get $topic_len))))
    (global.set $id (local.get $id))
    (memory.fill (i32.const 4096) (i32.const 0) (i32.const {HEADER_LEN}))
    (memory.copy (i32.const 4096) (global.get $base)
      (select (local.get $payload_len) (i32.const {HEADER_LEN})
        (i32.lt_u (local.get $payload_len) (i32.const {HEADER_LEN}))))
    (global.set $rel (i32.load8_u (i32.const 4097)))
    (local.set $r (call $dispatch (i32.rem_u (i32.load8_u (i32.const 4096)) (i32.const {n}))))
    ;; Reply with $r as a MessagePack int64 (d3, 8 bytes big-endian) at 1024.
    (i32.store8 (i32.const 1024) (i32.const 0xd3))
    (loop $byte
      (i64.store8 (i32.add (i32.const 1025) (local.get $i))
        (i64.shr_u (local.get $r) (i64.extend_i32_u (i32.sub (i32.const 56) (i32.shl (local.get $i) (i32.const 3))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $byte (i32.lt_u (local.get $i) (i32.const 8))))
    (drop (call $reply (global.get $id) (i32.const 0) (i32.const 1024) (i32.const 9)))
    (i32.const 0))
  (@custom "wasp:abi" "{}"))"#,
        ApiVersion::CURRENT
    )
}

/// The `echo` plugin's WAT: replies to each request with its payload.
pub(crate) const ECHO_WAT: &str = r#"(module
  (import "wasp" "reply" (func $reply (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "wasp_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.le_u (local.get $len) (i32.const 65536))
      (then (i32.const 65536)) (else (i32.const 0))))
  (func (export "wasp_dealloc") (param i32 i32))
  (func (export "wasp_handle")
    (param $ptr i32) (param $kind i32) (param $id i64)
    (param $from_len i32) (param $topic_len i32) (param $payload_len i32) (result i32)
    (if (local.get $kind) (then (return (i32.const 0))))
    (drop (call $reply (local.get $id) (i32.const 0)
      (i32.add (local.get $ptr) (i32.add (local.get $from_len) (local.get $topic_len)))
      (local.get $payload_len)))
    (i32.const 0))
  (@custom "wasp:abi" "1.0"))"#;

/// The `fuzz` plugin, assembled once.
pub(crate) fn fuzz_wasm() -> &'static [u8] {
    static WASM: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let src = fuzz_wat();
        wat::parse_str(&src).unwrap_or_else(|e| panic!("the fuzz plugin's WAT does not assemble: {e}\n{src}"))
    });
    &WASM
}

/// Panics on threads of [`runtime`] (counted by a panic hook, since tokio
/// catches a task's panic and a property test would not see it).
static PANICS: AtomicUsize = AtomicUsize::new(0);
const THREAD_NAME: &str = "wasp-import-boundary";

/// Panics seen so far on the threads of any [`runtime`].
pub(crate) fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// A multi-thread tokio runtime for a [`Boundary`], whose threads' panics
/// are counted in [`panics`].
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(THREAD_NAME) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A host running `fuzz` and `echo`.
pub(crate) struct Boundary {
    /// The host; both plugins are loaded.
    pub(crate) host: Host,
    probes: AtomicUsize,
}

impl Boundary {
    /// Builds the host (keeping its data under `data_dir`) and loads both
    /// plugins. Run it on a [`runtime`]: the plugins' actors live there.
    ///
    /// Faults and violations never quarantine `fuzz` (it would answer
    /// `unavailable` from then on, and the cases after would test nothing),
    /// and it restarts without delay; `net` is not granted and the host
    /// makes no HTTP requests at all.
    pub(crate) async fn start(data_dir: &Path) -> Self {
        let supervision = Supervision {
            backoff_initial: Duration::ZERO,
            backoff_max: Duration::ZERO,
            max_failures: u32::MAX,
            max_violations: u32::MAX,
            ..Supervision::default()
        };
        let host = Host::builder()
            // Few timers, so intervals cannot flood the plugin with events;
            // no effective call rate limit, so a well-formed call never
            // meets `busy` however fast the cases run.
            .limits(Limits { max_timers: 2, host_call_rate: 1_000_000, ..Limits::default() })
            .request_timeout(Duration::from_secs(5))
            .supervision(supervision)
            .policy(Policy::new().trust("*").expect("a valid rule"))
            .data_dir(data_dir)
            .http(false)
            .config(FUZZ, "greeting", &"hello")
            .expect("a valid config value")
            .build()
            .expect("the host builds");
        let mut manifest = Manifest::new(FUZZ).expect("a valid name");
        manifest.kind = ManifestKind::Wasm;
        let manifest = manifest.permissions(PERMISSIONS.iter().map(|p| p.parse().expect("a valid permission")));
        host.load(Load::bytes(fuzz_wasm()).described_by(manifest)).await.unwrap_or_else(|e| panic!("load {FUZZ}: {e}"));
        let echo = wat::parse_str(ECHO_WAT).expect("the echo plugin's WAT assembles");
        host.load(Load::bytes(&echo).named(ECHO)).await.unwrap_or_else(|e| panic!("load {ECHO}: {e}"));
        Self { host, probes: AtomicUsize::new(0) }
    }

    /// Sends `payload` to `fuzz` and checks the boundary held; returns the
    /// answer for the caller's own expectations.
    pub(crate) async fn check(&self, payload: &[u8]) -> Result<Result<Vec<u8>, WireError>, String> {
        let panics_before = panics();
        let import = import_of(payload);
        let name = import.sig.name;
        let answer = self.host.request_with_timeout(FUZZ, TOPIC, payload.to_vec(), ANSWER_WITHIN).await;
        match &answer {
            // `reply` to the request itself answers it with whatever code
            // and bytes the call names (`timeout` included).
            _ if name == "reply" => {}
            Err(e) if e.code == ErrorCode::Timeout => {
                return Err(format!("`{name}`: no answer within {ANSWER_WITHIN:?}: {e}"));
            }
            // Too large for the plugin's buffer: its wasp_alloc refuses.
            _ if payload.len() > (MEMORY_SIZE - PAYLOAD_AT) as usize => {}
            Ok(reply) => {
                let status = codec::from_payload::<i64>(reply)
                    .map_err(|e| format!("`{name}`: the plugin's reply {reply:02x?} is not an integer: {e}"))?;
                check_status(import, status)?;
            }
            // A WASI call may end the instance (`proc_exit`); the host restarts it.
            Err(e) if import.is_wasi() && e.code == ErrorCode::PluginCrashed => {}
            Err(e) => return Err(format!("`{name}` ended the request with an error, not a status: {e}")),
        }
        let n = self.probes.fetch_add(1, Ordering::Relaxed);
        let probe = codec::to_payload(&n).map_err(|e| e.to_string())?;
        match self.host.request_with_timeout(ECHO, "ping", probe.clone(), ANSWER_WITHIN).await {
            Ok(back) if back == probe => {}
            other => return Err(format!("after `{name}`, `{ECHO}` answered {other:?} instead of its probe")),
        }
        let plugins = self.host.plugins();
        for wanted in [ECHO, FUZZ] {
            match plugins.iter().find(|p| p.name == wanted) {
                None => return Err(format!("after `{name}`, `{wanted}` is no longer loaded")),
                Some(p) if p.state == PluginState::Quarantined => {
                    return Err(format!("after `{name}`, `{wanted}` is quarantined: {p:?}"));
                }
                Some(_) => {}
            }
        }
        if panics() != panics_before {
            return Err(format!("a host thread panicked during `{name}`"));
        }
        Ok(answer)
    }
}

/// Whether `n` is the number of an [`ErrorCode`].
fn is_code(n: i64) -> bool {
    ErrorCode::ALL.iter().any(|c| i64::from(c.as_u16()) == n)
}

/// What a status returned by `import` may be, whatever its arguments.
fn check_status(import: Import, status: i64) -> Result<(), String> {
    let name = import.sig.name;
    let ok = match name {
        // WASI errnos are 0 (success) to 76 (ENOTCAPABLE).
        _ if import.is_wasi() => (0..=76).contains(&status),
        "request_async" => status > 0 || is_code(-status),
        "result_len" => (0..=i64::from(i32::MAX)).contains(&status),
        "result_read" => status >= 0 || is_code(-status),
        "log" | "panic" => status == 0,
        _ => status == 0 || is_code(status),
    };
    if ok { Ok(()) } else { Err(format!("`{name}` returned {status}, which is no status it may return")) }
}
