//! The probe harness: a WAT plugin that runs a list of host calls and
//! answers each call's status together with what the result slot then holds.

use serde_bytes::ByteBuf;
use wasp_actors::Host;

use crate::common::{WAT_ALLOC, wat_handle, wat_plugin_v11};

/// Where [`Consts`] are placed in a probe plugin's memory.
const CONSTS_AT: usize = 4096;
/// Where the probe harness writes its answer (up to the message buffer at 64 KiB).
const OUT_AT: usize = 16384;

/// Constant bytes for a WAT plugin, placed from [`CONSTS_AT`] up.
#[derive(Default)]
pub(super) struct Consts {
    bytes: Vec<u8>,
}

impl Consts {
    /// Places `bytes`; returns the WAT operands `(i32.const ptr) (i32.const len)`.
    pub(super) fn at(&mut self, bytes: impl AsRef<[u8]>) -> String {
        let bytes = bytes.as_ref();
        let ptr = CONSTS_AT + self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        assert!(CONSTS_AT + self.bytes.len() <= OUT_AT, "too many constants");
        format!("(i32.const {ptr}) (i32.const {})", bytes.len())
    }

    /// The data segment holding them.
    fn data(&self) -> String {
        let escaped: String = self.bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        format!("(data (i32.const {CONSTS_AT}) \"{escaped}\")")
    }
}

/// `$begin` starts an answer at [`OUT_AT`]; `$rec (status i64)` appends
/// `[status, bin(the first 120 bytes of the result slot)]`; `$finish (id)`
/// replies with the MessagePack array of everything appended.
const PROBE_HARNESS: &str = r#"
  (global $out (mut i32) (i32.const 0))
  (global $count (mut i32) (i32.const 0))
  (func $begin
    (global.set $out (i32.const 16387))
    (global.set $count (i32.const 0)))
  (func $rec (param $status i64)
    (local $at i32) (local $b i32) (local $n i32)
    (local.set $at (global.get $out))
    (i32.store8 (local.get $at) (i32.const 0x92))
    (i32.store8 offset=1 (local.get $at) (i32.const 0xd3))
    (loop $byte
      (i64.store8 offset=2 (i32.add (local.get $at) (local.get $b))
        (i64.shr_u (local.get $status) (i64.extend_i32_u (i32.sub (i32.const 56) (i32.shl (local.get $b) (i32.const 3))))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $byte (i32.lt_u (local.get $b) (i32.const 8))))
    (local.set $n (call $result_len))
    (if (i32.gt_u (local.get $n) (i32.const 120)) (then (local.set $n (i32.const 120))))
    (local.set $n (call $result_read (i32.add (local.get $at) (i32.const 12)) (local.get $n)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (i32.store8 offset=10 (local.get $at) (i32.const 0xc4))
    (i32.store8 offset=11 (local.get $at) (local.get $n))
    (global.set $out (i32.add (local.get $at) (i32.add (i32.const 12) (local.get $n))))
    (global.set $count (i32.add (global.get $count) (i32.const 1))))
  (func $finish (param $id i64)
    (i32.store8 (i32.const 16384) (i32.const 0xdc))
    (i32.store8 (i32.const 16385) (i32.shr_u (global.get $count) (i32.const 8)))
    (i32.store8 (i32.const 16386) (global.get $count))
    (drop (call $reply (local.get $id) (i32.const 0) (i32.const 16384) (i32.sub (global.get $out) (i32.const 16384)))))
"#;

/// An ABI 1.1 plugin (with `imports` besides `wasp`'s) that answers a
/// `ping` request with nil and any other request by evaluating `probes` in
/// order — WAT expressions leaving an `i64` status; they may use `$id` and
/// `consts` — and answering `[[status, result slot], …]`.
pub(super) fn prober(imports: &str, mut consts: Consts, probes: &[String]) -> Vec<u8> {
    let (ping, nil) = (consts.at("ping"), consts.at([0xc0u8]));
    let body: Vec<String> = probes.iter().map(|p| format!("(call $rec {p})")).collect();
    let handle = wat_handle(
        "",
        &format!(
            r#"
            (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
            (if (call $is {ping})
              (then (drop (call $reply (local.get $id) (i32.const 0) {nil})) (return (i32.const 0))))
            (call $begin)
            {}
            (call $finish (local.get $id))
            (i32.const 0)"#,
            body.join("\n")
        ),
    );
    wat_plugin_v11(imports, &format!("{} {PROBE_HARNESS} {WAT_ALLOC} {handle}", consts.data()))
}

/// A status-returning `i32` call as a probe.
pub(super) fn status(call: &str) -> String {
    format!("(i64.extend_i32_s {call})")
}

/// A call returning nothing as a probe: status 0 if it returns at all.
pub(super) fn void(call: &str) -> String {
    format!("(block (result i64) {call} (i64.const 0))")
}

/// Runs `name`'s probes: each status with the result slot as text.
pub(super) async fn probe(host: &Host, name: &str) -> Vec<(i64, String)> {
    let answers: Vec<(i64, ByteBuf)> =
        host.call(name, "probe", &()).await.unwrap_or_else(|e| panic!("probing `{name}`: {e}"));
    answers.into_iter().map(|(s, slot)| (s, String::from_utf8_lossy(&slot).into_owned())).collect()
}
