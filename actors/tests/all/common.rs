//! Shared set-up: hosts, and the example plugins in both forms.

use std::time::Duration;

use wasp_actors::{Host, Load, Manifest, PluginInfo, Policy};

/// Which form of an example plugin to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Wasm,
    /// The example built as a `cdylib` and loaded from its native bundle.
    Native,
    InProcess,
}

#[cfg(feature = "native")]
pub(crate) const FORMS: [Form; 3] = [Form::Wasm, Form::Native, Form::InProcess];
/// Without the `native` feature a host has no native form.
#[cfg(not(feature = "native"))]
pub(crate) const FORMS: [Form; 2] = [Form::Wasm, Form::InProcess];

/// A host that grants every plugin what its manifest requests.
pub(crate) fn host() -> Host {
    Host::builder()
        .request_timeout(Duration::from_secs(10))
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds")
}

/// The manifest of an example plugin, renamed.
pub(crate) fn manifest(plugin: &str, name: &str) -> Manifest {
    let mut m = Manifest::from_file(&wasp_fixtures::manifest_path(plugin)).expect("example manifest parses");
    name.clone_into(&mut m.name);
    m
}

/// Loads example plugin `plugin` under `name` in the given form, with its
/// manifest (the WASM form from its bundle folder, as a user would).
pub(crate) async fn load(host: &Host, form: Form, plugin: &str, name: &str) {
    match form {
        Form::Wasm => {
            host.load(Load::path(wasp_fixtures::wasm_bundle(plugin)).named(name))
                .await
                .unwrap_or_else(|e| panic!("load {plugin}: {e}"));
        }
        Form::Native => {
            host.load(Load::path(wasp_fixtures::native_bundle(plugin)).named(name))
                .await
                .unwrap_or_else(|e| panic!("load native {plugin}: {e}"));
        }
        Form::InProcess => {
            let m = manifest(plugin, name);
            let r = match plugin {
                "echo" => host.load(Load::in_process(wasp_example_echo::Echo::default).described_by(m)).await,
                "counter" => host.load(Load::in_process(wasp_example_counter::Counter::default).described_by(m)).await,
                "relay" => host.load(Load::in_process(wasp_example_relay::Relay::default).described_by(m)).await,
                "spinner" => host.load(Load::in_process(wasp_example_spinner::Spinner::default).described_by(m)).await,
                "faulty" => host.load(Load::in_process(wasp_example_faulty::Faulty::default).described_by(m)).await,
                "notes" => host.load(Load::in_process(wasp_example_notes::Notes::default).described_by(m)).await,
                other => panic!("no example plugin `{other}`"),
            };
            r.unwrap_or_else(|e| panic!("register {plugin}: {e}"));
        }
    }
}

pub(crate) fn mp<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    wasp_protocol::codec::to_payload(value).expect("encodes")
}

/// Assembles WAT text into a module; a typo in a test's WAT fails loudly.
pub(crate) fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).unwrap_or_else(|e| panic!("test WAT does not assemble: {e}\n{src}"))
}

/// The snapshot of one plugin's counters.
pub(crate) fn info(host: &Host, name: &str) -> PluginInfo {
    host.plugins().into_iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no plugin `{name}` is loaded"))
}

/// A plugin's counters once it has handled `n` messages. The counters are
/// updated after a message's answer is sent, so a caller holding the answer
/// may look a moment too early; this waits (at most 5 s).
pub(crate) async fn info_after(host: &Host, name: &str, n: u64) -> PluginInfo {
    let give_up = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let i = info(host, name);
        if i.handled >= n || std::time::Instant::now() > give_up {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Loads a test plugin from bytes (usually assembled WAT).
/// Loads a test plugin from bytes (usually assembled WAT), allowed to
/// message anyone and log: these tests are about the ABI, not permissions.
pub(crate) async fn load_wat(host: &Host, name: &str, bytes: &[u8]) {
    let mut m = Manifest::new(name).expect("valid name");
    m.kind = wasp_actors::ManifestKind::Wasm;
    let m = m.permissions(
        ["send:*", "request:*", "publish:*", "subscribe:*", "log"].map(|p| p.parse().expect("valid permission")),
    );
    host.load(Load::bytes(bytes).described_by(m)).await.unwrap_or_else(|e| panic!("load {name}: {e}"));
}

/// Everything a WAT test plugin shares, written from `docs/abi.md` alone:
/// every `wasp` import (section 4), the memory and the helpers below.
///
/// Memory (2 pages): `0..1024` constant strings (`host` at 0), `1024..4096`
/// scratch for encoded answers, `4096..65536` free for the plugin (the
/// result slot is read to 4096 by convention), `65536..131072` the message
/// buffer [`WAT_ALLOC`] hands out.
///
/// Helpers:
/// - `$enter (ptr from_len topic_len payload_len)` remembers where the
///   current message's parts are, in globals `$from`, `$from_len`, `$topic`,
///   `$topic_len`, `$payload`, `$payload_len` ([`wat_handle`] calls it);
/// - `$eq (a a_len b b_len) -> i32`: byte-wise string equality;
/// - `$is (str len) -> i32`: whether the current topic equals that string;
/// - `$from_is (str len) -> i32`: whether the current sender is that string;
/// - `$put (i v: i64)`: element `i` of a MessagePack array at scratch, as an
///   int64 (`d3` + 8 bytes big-endian);
/// - `$reply_ints (id n) -> status`: replies with the array of the first `n`
///   elements put;
/// - `$send_ints (topic len n) -> status`: sends that array to `host`.
const WAT_PRELUDE: &str = r#"
  (import "wasp" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasp" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "wasp" "subscribe" (func $subscribe (param i32 i32) (result i32)))
  (import "wasp" "unsubscribe" (func $unsubscribe (param i32 i32) (result i32)))
  (import "wasp" "request" (func $request (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasp" "request_async" (func $request_async (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "wasp" "reply" (func $reply (param i64 i32 i32 i32) (result i32)))
  (import "wasp" "result_len" (func $result_len (result i32)))
  (import "wasp" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasp" "log" (func $log (param i32 i32 i32)))
  (import "wasp" "panic" (func $panic (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "host")
  (global $from (mut i32) (i32.const 0))
  (global $from_len (mut i32) (i32.const 0))
  (global $topic (mut i32) (i32.const 0))
  (global $topic_len (mut i32) (i32.const 0))
  (global $payload (mut i32) (i32.const 0))
  (global $payload_len (mut i32) (i32.const 0))
  (func $enter (param $ptr i32) (param $from_len i32) (param $topic_len i32) (param $payload_len i32)
    (global.set $from (local.get $ptr))
    (global.set $from_len (local.get $from_len))
    (global.set $topic (i32.add (local.get $ptr) (local.get $from_len)))
    (global.set $topic_len (local.get $topic_len))
    (global.set $payload (i32.add (global.get $topic) (local.get $topic_len)))
    (global.set $payload_len (local.get $payload_len)))
  (func $eq (param $a i32) (param $a_len i32) (param $b i32) (param $b_len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $a_len) (local.get $b_len)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $a_len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))
  (func $is (param $s i32) (param $len i32) (result i32)
    (call $eq (global.get $topic) (global.get $topic_len) (local.get $s) (local.get $len)))
  (func $from_is (param $s i32) (param $len i32) (result i32)
    (call $eq (global.get $from) (global.get $from_len) (local.get $s) (local.get $len)))
  (func $put (param $i i32) (param $v i64)
    (local $at i32) (local $b i32)
    (local.set $at (i32.add (i32.const 1025) (i32.mul (local.get $i) (i32.const 9))))
    (i32.store8 (local.get $at) (i32.const 0xd3))
    (loop $byte
      (i64.store8 (i32.add (local.get $at) (i32.add (local.get $b) (i32.const 1)))
        (i64.shr_u (local.get $v) (i64.extend_i32_u (i32.sub (i32.const 56) (i32.shl (local.get $b) (i32.const 3))))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $byte (i32.lt_u (local.get $b) (i32.const 8)))))
  (func $ints (param $n i32) (result i32)
    (i32.store8 (i32.const 1024) (i32.or (i32.const 0x90) (local.get $n)))
    (i32.add (i32.const 1) (i32.mul (local.get $n) (i32.const 9))))
  (func $reply_ints (param $id i64) (param $n i32) (result i32)
    (call $reply (local.get $id) (i32.const 0) (i32.const 1024) (call $ints (local.get $n))))
  (func $send_ints (param $topic i32) (param $len i32) (param $n i32) (result i32)
    (call $send (i32.const 0) (i32.const 4) (local.get $topic) (local.get $len) (i32.const 1024) (call $ints (local.get $n))))
"#;

/// `wasp_alloc`/`wasp_dealloc` over one static 64 KiB buffer, as in
/// `docs/abi.md` section 5.
pub(crate) const WAT_ALLOC: &str = r#"
  (func (export "wasp_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.le_u (local.get $len) (i32.const 65536))
      (then (i32.const 65536)) (else (i32.const 0))))
  (func (export "wasp_dealloc") (param i32 i32))
"#;

/// A WAT test plugin: [`WAT_PRELUDE`], then `items` (which must define
/// `wasp_alloc`, `wasp_dealloc` and `wasp_handle`), then `wasp:abi` 1.0.
pub(crate) fn wat_plugin(items: &str) -> Vec<u8> {
    wat(&format!("(module {WAT_PRELUDE} {items} (@custom \"wasp:abi\" \"1.0\"))"))
}

/// A `wasp_handle` export (named `$handle`) with the parameters of
/// `docs/abi.md` section 3 (`$ptr $kind $id $from_len $topic_len
/// $payload_len`): declares `locals`, calls `$enter`, then runs `body`,
/// which must leave the status on the stack.
pub(crate) fn wat_handle(locals: &str, body: &str) -> String {
    format!(
        r#"(func $handle (export "wasp_handle")
             (param $ptr i32) (param $kind i32) (param $id i64)
             (param $from_len i32) (param $topic_len i32) (param $payload_len i32) (result i32)
             {locals}
             (call $enter (local.get $ptr) (local.get $from_len) (local.get $topic_len) (local.get $payload_len))
             {body})"#
    )
}

/// A WAT test plugin for ABI 1.1: `imports` (WASI ones, say; the text
/// format wants every import before the first definition), the 1.1 `call`
/// import as `$call`, [`WAT_PRELUDE`], then `items`, then `wasp:abi` 1.1.
pub(crate) fn wat_plugin_v11(imports: &str, items: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
             {imports}
             (import "wasp" "call" (func $call (param i32 i32 i32 i32) (result i32)))
             {WAT_PRELUDE} {items} (@custom "wasp:abi" "1.1"))"#
    ))
}

/// The next audit event satisfying `pred`, waiting at most 5 s.
pub(crate) async fn audit_where(
    rx: &mut tokio::sync::broadcast::Receiver<wasp_actors::AuditEvent>,
    pred: impl Fn(&wasp_actors::AuditEvent) -> bool,
) -> wasp_actors::AuditEvent {
    use tokio::sync::broadcast::error::RecvError;
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("audit stream closed"),
            }
        }
    })
    .await
    .expect("the audit event within 5 s")
}

/// Matches the audit event of `plugin` being denied `permission`.
pub(crate) fn is_denial(plugin: &str, permission: &str) -> impl Fn(&wasp_actors::AuditEvent) -> bool {
    let plugin = plugin.to_owned();
    let permission: wasp_actors::Permission = permission.parse().expect("valid permission");
    move |e| e.plugin == plugin && e.kind == wasp_actors::AuditKind::PermissionDenied { permission: permission.clone() }
}

/// A copy of an example's WASM bundle (plugin.toml and module) in a folder
/// the test may change.
pub(crate) fn bundle_copy(plugin: &str, into: &std::path::Path) -> std::path::PathBuf {
    copy_files(&wasp_fixtures::wasm_bundle(plugin), &into.join(plugin))
}

/// A copy of an example's native bundle (plugin.toml and library).
pub(crate) fn native_bundle_copy(plugin: &str, into: &std::path::Path) -> std::path::PathBuf {
    copy_files(&wasp_fixtures::native_bundle(plugin), &into.join(format!("{plugin}-native")))
}

fn copy_files(from: &std::path::Path, to: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to.to_owned()
}

/// A WAT test plugin for ABI 1.2 (it receives `unload` and `restore`):
/// [`WAT_PRELUDE`], then `items`, then `wasp:abi` 1.2.
pub(crate) fn wat_plugin_v12(items: &str) -> Vec<u8> {
    wat(&format!("(module {WAT_PRELUDE} {items} (@custom \"wasp:abi\" \"1.2\"))"))
}

/// Polls `cond` every 2 ms, for at most 10 s.
pub(crate) async fn wait_until(cond: impl Fn() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < give_up, "condition not met within 10 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
