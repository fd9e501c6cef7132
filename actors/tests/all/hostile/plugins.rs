//! The WAT offenders: one builder per hostile plugin, each documented with
//! what its requests do.

use crate::common::{WAT_ALLOC, wat, wat_handle, wat_plugin, wat_plugin_v11};

/// The module of a WAT plugin that should never get to run: its start
/// function traps, so a load failing with anything else proves that
/// instantiation never began.
pub(super) fn trapping_start_module(imports: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module {imports}
             (memory (export "memory") 2)
             {WAT_ALLOC}
             (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) (i32.const 0))
             (func $start unreachable) (start $start)
             (@custom "wasp:abi" "1.1"))"#
    ))
}

/// `bomb`: asks for 4 GiB at once, then grows one page at a time until
/// `memory.grow` returns -1; answers `[the 4 GiB grow's result, pages
/// grown, memory.size]`. `bomb-trap`: the same, then traps. `ping`: nil.
pub(super) fn bomber() -> Vec<u8> {
    let handle = wat_handle(
        "(local $n i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4))
          (then (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1))) (return (i32.const 0))))
        (call $put (i32.const 0) (i64.extend_i32_s (memory.grow (i32.const 65536))))
        (block $full
          (loop $more
            (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $more)))
        (if (call $is (i32.const 32) (i32.const 9)) (then unreachable))
        (call $put (i32.const 1) (i64.extend_i32_u (local.get $n)))
        (call $put (i32.const 2) (i64.extend_i32_u (memory.size)))
        (drop (call $reply_ints (local.get $id) (i32.const 3)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "ping")
        (data (i32.const 32) "bomb-trap")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// `recurse`: recurses without end. Anything else: echoes its payload.
pub(super) fn recurser() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 7)) (then (drop (call $recurse (i32.const 0)))))
        (drop (call $reply (local.get $id) (i32.const 0) (global.get $payload) (global.get $payload_len)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "recurse")
        (func $recurse (param i32) (result i32)
          (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Defers `hold` requests; any other request answers the held one and itself.
pub(super) fn gate() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4))
          (then (global.set $held (local.get $id)) (return (i32.const 1))))
        (drop (call $reply (global.get $held) (i32.const 0) (i32.const 48) (i32.const 1)))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $held (mut i64) (i64.const 0))
        (data (i32.const 16) "hold")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Event `block`: requests `gate`/`hold` and waits for the answer (its
/// mailbox waits too). Other events are counted. Request `count`: answers
/// `[events counted]`; other requests: echoes the payload.
pub(super) fn victim() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then
            (if (call $is (i32.const 16) (i32.const 5))
              (then (drop (call $request (i32.const 32) (i32.const 4) (i32.const 48) (i32.const 4) (i32.const 64) (i32.const 1) (i32.const 0))))
              (else (global.set $events (i32.add (global.get $events) (i32.const 1)))))
            (return (i32.const 0))))
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 80) (i32.const 5))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (global.get $events)))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (drop (call $reply (local.get $id) (i32.const 0) (global.get $payload) (global.get $payload_len)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $events (mut i32) (i32.const 0))
        (data (i32.const 16) "block")
        (data (i32.const 32) "gate")
        (data (i32.const 48) "hold")
        (data (i32.const 64) "\c0")
        (data (i32.const 80) "count")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Any request: sends 10 events `note` to `victim` as fast as it can and
/// answers `[accepted, busy, other]`.
pub(super) fn flooder() -> Vec<u8> {
    let handle = wat_handle(
        "(local $i i32) (local $s i32) (local $ok i64) (local $busy i64) (local $other i64)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (loop $again
          (local.set $s (call $send (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 4) (i32.const 48) (i32.const 1)))
          (if (i32.eqz (local.get $s))
            (then (local.set $ok (i64.add (local.get $ok) (i64.const 1))))
            (else (if (i32.eq (local.get $s) (i32.const 4))
              (then (local.set $busy (i64.add (local.get $busy) (i64.const 1))))
              (else (local.set $other (i64.add (local.get $other) (i64.const 1)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 10))))
        (call $put (i32.const 0) (local.get $ok))
        (call $put (i32.const 1) (local.get $busy))
        (call $put (i32.const 2) (local.get $other))
        (drop (call $reply_ints (local.get $id) (i32.const 3)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "victim")
        (data (i32.const 32) "note")
        (data (i32.const 48) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// `storm`: 50 `request_async` to `echo`/`ping` in a loop; answers
/// `[accepted, busy, other]`. `done`: answers `[replies, errors]` received
/// for them so far.
pub(super) fn stormer() -> Vec<u8> {
    let handle = wat_handle(
        "(local $i i32) (local $r i64) (local $ok i64) (local $busy i64) (local $other i64)",
        r#"
        (if (i32.eq (local.get $kind) (i32.const 2))
          (then (global.set $replies (i32.add (global.get $replies) (i32.const 1))) (return (i32.const 0))))
        (if (i32.eq (local.get $kind) (i32.const 3))
          (then (global.set $errors (i32.add (global.get $errors) (i32.const 1))) (return (i32.const 0))))
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 32) (i32.const 4))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (global.get $replies)))
            (call $put (i32.const 1) (i64.extend_i32_u (global.get $errors)))
            (drop (call $reply_ints (local.get $id) (i32.const 2)))
            (return (i32.const 0))))
        (loop $again
          (local.set $r (call $request_async (i32.const 16) (i32.const 4) (i32.const 48) (i32.const 4) (i32.const 64) (i32.const 1) (i32.const 0)))
          (if (i64.gt_s (local.get $r) (i64.const 0))
            (then (local.set $ok (i64.add (local.get $ok) (i64.const 1))))
            (else (if (i64.eq (local.get $r) (i64.const -4))
              (then (local.set $busy (i64.add (local.get $busy) (i64.const 1))))
              (else (local.set $other (i64.add (local.get $other) (i64.const 1)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 50))))
        (call $put (i32.const 0) (local.get $ok))
        (call $put (i32.const 1) (local.get $busy))
        (call $put (i32.const 2) (local.get $other))
        (drop (call $reply_ints (local.get $id) (i32.const 3)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $replies (mut i32) (i32.const 0))
        (global $errors (mut i32) (i32.const 0))
        (data (i32.const 16) "echo")
        (data (i32.const 32) "done")
        (data (i32.const 48) "ping")
        (data (i32.const 64) "\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// `attack`: up to 1000 times, publishes to `forbidden.topic` (not granted)
/// and sends `[i]` to the host on `tick`. `scribble`: 1000 times, has the
/// result slot copied outside its memory, then answers `[1000]`. `hold`:
/// defers. Anything else: answers nil.
pub(super) fn offender() -> Vec<u8> {
    let handle = wat_handle(
        "(local $i i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 6))
          (then
            (loop $again
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (drop (call $publish (i32.const 32) (i32.const 15) (i32.const 64) (i32.const 1)))
              (call $put (i32.const 0) (i64.extend_i32_u (local.get $i)))
              (drop (call $send_ints (i32.const 80) (i32.const 4) (i32.const 1)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (if (call $is (i32.const 112) (i32.const 8))
          (then
            (loop $again
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (drop (call $result_read (i32.const -16) (i32.const 16)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
            (call $put (i32.const 0) (i64.extend_i32_u (local.get $i)))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (if (call $is (i32.const 96) (i32.const 4)) (then (return (i32.const 1))))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 64) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "attack")
        (data (i32.const 32) "forbidden.topic")
        (data (i32.const 64) "\c0")
        (data (i32.const 80) "tick")
        (data (i32.const 96) "hold")
        (data (i32.const 112) "scribble")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// Where the WAT offenders below keep their large buffers: past the two
/// pages every WAT plugin starts with, in memory they grow first.
pub(super) const BIG_AT: usize = 131_072;

/// `(i32.store8 …)` instructions writing `bytes` at `at`.
pub(super) fn stores(at: usize, bytes: &[u8]) -> String {
    bytes.iter().enumerate().map(|(i, b)| format!("(i32.store8 (i32.const {}) (i32.const {b}))", at + i)).collect()
}

/// A victim with a real allocator: `wasp_alloc` grows memory by the pages
/// asked for (0 when `memory.grow` fails). Events are counted; request
/// `count` answers `[events counted]`; other requests: nil.
pub(super) fn taker() -> Vec<u8> {
    let handle = wat_handle(
        "",
        r#"
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then (global.set $events (i32.add (global.get $events) (i32.const 1))) (return (i32.const 0))))
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 5))
          (then
            (call $put (i32.const 0) (i64.extend_i32_u (global.get $events)))
            (drop (call $reply_ints (local.get $id) (i32.const 1)))
            (return (i32.const 0))))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin(&format!(
        r#"
        (global $events (mut i32) (i32.const 0))
        (data (i32.const 16) "count")
        (data (i32.const 48) "\c0")
        (func (export "wasp_alloc") (param $len i32) (result i32)
          (local $old i32)
          (local.set $old (memory.grow (i32.shr_u (i32.add (local.get $len) (i32.const 65535)) (i32.const 16))))
          (if (result i32) (i32.eq (local.get $old) (i32.const -1))
            (then (i32.const 0))
            (else (i32.shl (local.get $old) (i32.const 16)))))
        (func (export "wasp_dealloc") (param i32 i32))
        {handle}"#
    ))
}

/// One burst of a [`pusher`]: on request `topic`, `count` sends of a
/// `len`-byte payload to `to` on topic `note`.
pub(super) struct Burst {
    pub(super) topic: &'static str,
    pub(super) to: &'static str,
    pub(super) len: usize,
    pub(super) count: u32,
}

/// Answers each request named by one of `bursts` by sending that burst
/// (payload bytes from [`BIG_AT`], memory grown to hold the largest), then
/// `[accepted, too_large, busy, other]`. Anything else: nil.
pub(super) fn pusher(bursts: &[Burst]) -> Vec<u8> {
    let pages = (BIG_AT + bursts.iter().map(|b| b.len).max().unwrap_or(0)).div_ceil(65_536);
    let mut data = String::from(r#"(data (i32.const 16) "note") (data (i32.const 24) "\c0")"#);
    let mut branches = String::new();
    for (i, b) in bursts.iter().enumerate() {
        let (topic_at, to_at) = (64 + 64 * i, 96 + 64 * i);
        assert!(to_at + b.to.len() <= 1024 && b.topic.len() <= 32, "too many bursts");
        data.push_str(&format!(r#"(data (i32.const {topic_at}) "{}") (data (i32.const {to_at}) "{}")"#, b.topic, b.to));
        branches.push_str(&format!(
            r#"
            (if (call $is (i32.const {topic_at}) (i32.const {topic_len}))
              (then
                (block $done
                  (loop $again
                    (br_if $done (i32.ge_u (local.get $i) (i32.const {count})))
                    (local.set $s (call $send (i32.const {to_at}) (i32.const {to_len}) (i32.const 16) (i32.const 4)
                      (i32.const {BIG_AT}) (i32.const {len})))
                    (if (i32.eqz (local.get $s)) (then (local.set $ok (i64.add (local.get $ok) (i64.const 1))))
                      (else (if (i32.eq (local.get $s) (i32.const 14)) (then (local.set $big (i64.add (local.get $big) (i64.const 1))))
                        (else (if (i32.eq (local.get $s) (i32.const 4)) (then (local.set $busy (i64.add (local.get $busy) (i64.const 1))))
                          (else (local.set $other (i64.add (local.get $other) (i64.const 1)))))))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $again)))
                (call $put (i32.const 0) (local.get $ok))
                (call $put (i32.const 1) (local.get $big))
                (call $put (i32.const 2) (local.get $busy))
                (call $put (i32.const 3) (local.get $other))
                (drop (call $reply_ints (local.get $id) (i32.const 4)))
                (return (i32.const 0))))"#,
            topic_len = b.topic.len(),
            to_len = b.to.len(),
            count = b.count,
            len = b.len,
        ));
    }
    let handle = wat_handle(
        "(local $i i32) (local $s i32) (local $ok i64) (local $big i64) (local $busy i64) (local $other i64)",
        &format!(
            r#"
            (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
            (if (i32.lt_u (memory.size) (i32.const {pages}))
              (then (drop (memory.grow (i32.sub (i32.const {pages}) (memory.size))))))
            {branches}
            (drop (call $reply (local.get $id) (i32.const 0) (i32.const 24) (i32.const 1)))
            (i32.const 0)"#
        ),
    );
    wat_plugin(&format!("{data} {WAT_ALLOC} {handle}"))
}

/// Answers every request with an error (code 1000) whose message is
/// `len` bytes of `e`.
pub(super) fn long_winded(len: usize) -> Vec<u8> {
    let pages = (BIG_AT + len).div_ceil(65_536);
    let handle = wat_handle(
        "",
        &format!(
            r#"
            (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
            (if (i32.lt_u (memory.size) (i32.const {pages}))
              (then (drop (memory.grow (i32.sub (i32.const {pages}) (memory.size))))))
            (memory.fill (i32.const {BIG_AT}) (i32.const 101) (i32.const {len}))
            (drop (call $reply (local.get $id) (i32.const 1000) (i32.const {BIG_AT}) (i32.const {len})))
            (i32.const 0)"#
        ),
    );
    wat_plugin(&format!("{WAT_ALLOC} {handle}"))
}

/// A WAT `i32` expression that writes `{"x": [[[…nil…]]]}` with the arrays
/// nested `levels` deep at [`DEEP_AT`] and yields its length: a payload
/// whose unknown field a decoder recursing once per level cannot skip on a
/// 2 MiB stack.
pub(super) fn deep_payload(levels: u32) -> String {
    format!(
        r#"(block (result i32)
           (i32.store8 (i32.const {DEEP_AT}) (i32.const 0x81))
           (i32.store16 (i32.const {}) (i32.const 0x78a1))
           (memory.fill (i32.const {}) (i32.const 0x91) (i32.const {levels}))
           (i32.store8 (i32.const {}) (i32.const 0xc0))
           (i32.const {}))"#,
        DEEP_AT + 1,
        DEEP_AT + 3,
        DEEP_AT + 3 + levels,
        4 + levels
    )
}

/// Where [`deep_payload`] builds its bytes: clear of the probe harness and
/// below the message buffer at 64 KiB.
pub(super) const DEEP_AT: u32 = 32768;

/// `deep`: replies `{"x": [[[…nil…]]]}` nested 10,000 deep. `trailing`:
/// replies `c0 c0`, a value with a byte after it. Anything else: nil.
pub(super) fn deep_replier() -> Vec<u8> {
    let handle = wat_handle(
        "",
        &format!(
            r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (if (call $is (i32.const 16) (i32.const 4))
          (then
            (drop (call $reply (local.get $id) (i32.const 0) (i32.const {DEEP_AT}) {}))
            (return (i32.const 0))))
        (if (call $is (i32.const 32) (i32.const 8))
          (then (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 2))) (return (i32.const 0))))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 48) (i32.const 1)))
        (i32.const 0)"#,
            deep_payload(10_000)
        ),
    );
    wat_plugin(&format!(
        r#"
        (data (i32.const 16) "deep")
        (data (i32.const 32) "trailing")
        (data (i32.const 48) "\c0\c0")
        {WAT_ALLOC}
        {handle}"#
    ))
}

/// An ABI 1.1 plugin that sleeps with WASI's `poll_oneoff` (one relative
/// monotonic-clock subscription) `n` times `ms` milliseconds, where the
/// request's payload is `[n, ms]` as two positive fixints, then answers
/// the last errno (as a fixint).
pub(super) fn sleeper() -> Vec<u8> {
    let handle = wat_handle(
        "(local $n i32) (local $i i32) (local $status i32)",
        r#"
        (if (i32.ne (local.get $kind) (i32.const 0)) (then (return (i32.const 0))))
        (local.set $n (i32.load8_u (i32.add (global.get $payload) (i32.const 1))))
        ;; the subscription at 8192: userdata, tag 0 (clock), clock id 1
        ;; (monotonic), timeout in ns, precision 0, flags 0 (relative)
        (i64.store (i32.const 8192) (i64.const 1))
        (i32.store8 (i32.const 8200) (i32.const 0))
        (i32.store (i32.const 8208) (i32.const 1))
        (i64.store (i32.const 8216)
          (i64.mul (i64.extend_i32_u (i32.load8_u (i32.add (global.get $payload) (i32.const 2))))
                   (i64.const 1000000)))
        (i64.store (i32.const 8224) (i64.const 0))
        (i32.store16 (i32.const 8232) (i32.const 0))
        (block $done
          (loop $again
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $status (call $poll_oneoff (i32.const 8192) (i32.const 8256) (i32.const 1) (i32.const 8320)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $again)))
        (i32.store8 (i32.const 2000) (local.get $status))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 2000) (i32.const 1)))
        (i32.const 0)"#,
    );
    wat_plugin_v11(
        r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))"#,
        &format!("{WAT_ALLOC} {handle}"),
    )
}
