//! One case of the bundle loader under attack, shared by the `bundle_load`
//! property tests and the `bundle_load` fuzz target
//! (`fuzz/fuzz_targets/bundle_load.rs` includes this file), so CI runs the
//! fuzz target's checks on every test run.
//!
//! An input is a plugin folder in one byte string: bytes `0..2` are the
//! manifest's length `n` (little-endian `u16`), bytes `2..2+n` are
//! `plugin.toml` (any bytes, UTF-8 or not), and the rest is written as every
//! file a manifest is likely to name: `plugin.wasm`, `logic.wasm`,
//! `plugin.so` and `ui/index.html`. [`Bundles::check`] loads the folder into
//! a real [`Host`] and asserts what must hold whatever the bytes: the load
//! finishes (within [`LOAD_WITHIN`]); a refusal is an error with a message;
//! a plugin that loads answers a request (with anything) and unloads; the
//! bystander `echo` still answers; no host thread panicked.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasp_actors::{Host, Load, Manifest, ManifestKind, Policy, Supervision};

/// How long one load may take before the case fails. Generous: CI runs this
/// beside the other tests on two cores, and under wine for the Windows leg.
pub(crate) const LOAD_WITHIN: Duration = Duration::from_secs(60);
/// The host's request timeout: how long the bystander may take to answer on
/// a loaded machine (a 2 s timeout failed CI's Windows leg once).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request to a loaded plugin may take before the case fails:
/// longer than [`REQUEST_TIMEOUT`], so the host's own answer (a timeout is
/// an answer) always comes first.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// The files an input's body is written as.
pub(crate) const FILES: &[&str] = &["plugin.wasm", "logic.wasm", "plugin.so", "ui/index.html"];

/// The bystander: answers every request with its payload (`docs/abi.md` §5).
pub(crate) const ECHO_WAT: &str = r#"(module
  (import "wasp" "reply" (func $reply (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "wasp_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.le_u (local.get $len) (i32.const 65536))
      (then (i32.const 65536)) (else (i32.const 0))))
  (func (export "wasp_dealloc") (param i32 i32))
  (func (export "wasp_handle")
        (param $ptr i32) (param $kind i32) (param $id i64)
        (param $from_len i32) (param $topic_len i32) (param $payload_len i32)
        (result i32)
    (if (i32.eqz (local.get $kind))
      (then
        (drop (call $reply (local.get $id) (i32.const 0)
          (i32.add (local.get $ptr) (i32.add (local.get $from_len) (local.get $topic_len)))
          (local.get $payload_len)))))
    (i32.const 0))
  (@custom "wasp:abi" "1.0"))"#;

/// Splits an input into the manifest's bytes and the files' body.
pub(crate) fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let n = match data {
        [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
        _ => 0,
    };
    let rest = data.get(2..).unwrap_or_default();
    rest.split_at(n.min(rest.len()))
}

/// Joins a manifest and a body into an input ([`split`] undoes it).
pub(crate) fn join(manifest: &[u8], body: &[u8]) -> Vec<u8> {
    let n = u16::try_from(manifest.len()).unwrap_or(u16::MAX);
    let mut data = n.to_le_bytes().to_vec();
    data.extend_from_slice(&manifest[..usize::from(n)]);
    data.extend_from_slice(body);
    data
}

/// A host that grants every manifest what it asks for, with its bystander,
/// and a folder to write bundles in.
pub(crate) struct Bundles {
    pub(crate) host: Host,
    root: PathBuf,
    next: AtomicU64,
    /// How many inputs loaded, and how many were refused.
    pub(crate) loaded: AtomicU64,
    pub(crate) refused: AtomicU64,
}

/// The tokio runtime the host runs on.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

impl Bundles {
    /// Starts the host; bundles and the data directory go under `root`.
    pub(crate) async fn start(root: &Path) -> Self {
        let host = Host::builder()
            .policy(Policy::new().trust("*").expect("valid rule"))
            .data_dir(root.join("data"))
            .http(false)
            .request_timeout(REQUEST_TIMEOUT)
            .cpu_budget(Duration::from_millis(200))
            // Loads that fault are the point: no quarantine, quick restarts.
            .supervision(Supervision {
                backoff_initial: Duration::from_millis(1),
                backoff_max: Duration::from_millis(10),
                max_failures: u32::MAX,
                max_violations: u32::MAX,
                ..Supervision::default()
            })
            .build()
            .expect("host builds");
        let echo = wat::parse_str(ECHO_WAT).expect("echo assembles");
        let mut manifest = Manifest::new("echo").expect("name");
        manifest.kind = ManifestKind::Wasm;
        host.load(Load::bytes(&echo).described_by(manifest)).await.expect("echo loads");
        Self {
            host,
            root: root.to_owned(),
            next: AtomicU64::new(0),
            loaded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Writes `data` as a plugin folder, loads it, and checks what must hold.
    ///
    /// # Errors
    ///
    /// What did not hold, in words.
    pub(crate) async fn check(&self, data: &[u8]) -> Result<(), String> {
        let (manifest, body) = split(data);
        let dir = self.root.join(format!("bundle-{}", self.next.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(dir.join("ui")).map_err(|e| format!("making the bundle: {e}"))?;
        std::fs::write(dir.join("plugin.toml"), manifest).map_err(|e| format!("writing plugin.toml: {e}"))?;
        for file in FILES {
            std::fs::write(dir.join(file), body).map_err(|e| format!("writing {file}: {e}"))?;
        }
        let loaded = tokio::time::timeout(LOAD_WITHIN, self.host.load(&dir)).await;
        let outcome = match loaded {
            Err(_) => Err(format!("the load took longer than {LOAD_WITHIN:?}")),
            Ok(Err(e)) if e.to_string().trim().is_empty() => Err(format!("a refusal without a message: {e:?}")),
            Ok(Err(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Ok(plugin)) => {
                self.loaded.fetch_add(1, Ordering::Relaxed);
                self.exercise(plugin.name()).await
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        outcome?;
        let echo = tokio::time::timeout(ANSWER_WITHIN, self.host.request("echo", "ping", vec![0xc0])).await;
        match echo {
            Ok(Ok(reply)) if reply == [0xc0] => Ok(()),
            other => Err(format!("the bystander stopped answering: {other:?}")),
        }
    }

    /// A plugin that loaded answers a request, with anything, and unloads.
    async fn exercise(&self, name: &str) -> Result<(), String> {
        let answer = tokio::time::timeout(ANSWER_WITHIN, self.host.request(name, "ping", vec![0xc0])).await;
        if answer.is_err() {
            return Err(format!("`{name}` loaded but left a request unanswered"));
        }
        // A hybrid's components unload with it.
        self.host.unload(name).await.map_err(|e| format!("`{name}` loaded but does not unload: {e}"))
    }
}
