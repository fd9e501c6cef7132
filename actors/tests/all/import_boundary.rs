//! The host-import boundary under proptest: a WAT plugin makes host calls
//! with generated arguments (edge values, pointers at and past the end of
//! its memory, valid pointers into its payload), and the host must answer
//! every request, report bad arguments as statuses, and keep another plugin
//! answering. The checks live in `import_boundary/case.rs`, which the
//! `host_imports` fuzz target runs too (`fuzz/README.md`).

#[path = "import_boundary/case.rs"]
mod case;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use wasp_protocol::services::{self as svc, ConfigGet, HttpRequest, KvKey, KvList, KvSet, RandomBytes, TimerCancel};
use wasp_protocol::{ErrorCode, WireError, codec};

use case::{Boundary, Call, MEMORY_SIZE, SCRATCH};

/// What a well-formed call must lead to.
#[derive(Debug, Clone)]
enum Expect {
    /// Whatever the boundary allows ([`Boundary::check`] already judged it).
    Any,
    /// The plugin replied with one of these statuses.
    Status(Vec<i64>),
    /// The plugin replied with a status in this range.
    Range(i64, i64),
    /// The call itself answered the request (`reply` to it).
    Answer(Result<Vec<u8>, (ErrorCode, String)>),
    /// The call ended the instance.
    Crash,
}

impl Expect {
    fn check(&self, answer: &Result<Vec<u8>, WireError>) -> Result<(), String> {
        let status = || match answer {
            Ok(reply) => codec::from_payload::<i64>(reply).map_err(|e| format!("reply {reply:02x?}: {e}")),
            Err(e) => Err(format!("expected a status, got {e}")),
        };
        let fits = match self {
            Self::Any => true,
            Self::Status(wanted) => wanted.contains(&status()?),
            Self::Range(lo, hi) => (*lo..=*hi).contains(&status()?),
            Self::Answer(Ok(body)) => answer.as_ref().is_ok_and(|a| a == body),
            Self::Answer(Err((code, message))) => {
                answer.as_ref().is_err_and(|e| e.code == *code && e.message == *message)
            }
            Self::Crash => answer.as_ref().is_err_and(|e| e.code == ErrorCode::PluginCrashed),
        };
        if fits { Ok(()) } else { Err(format!("expected {self:?}, got {answer:?}")) }
    }
}

/// Runs `cases` generated calls (or `PROPTEST_CASES`, when set) against one
/// fresh host, then shuts it down.
fn run(cases: u32, strategy: impl Strategy<Value = (Vec<u8>, Expect)>) {
    let rt = case::runtime();
    let dir = tempfile::tempdir().unwrap();
    let boundary = rt.block_on(Boundary::start(dir.path()));
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    let result = TestRunner::new(config).run(&strategy, |(payload, expect)| {
        let answer = rt.block_on(boundary.check(&payload)).map_err(TestCaseError::fail)?;
        expect.check(&answer).map_err(|e| TestCaseError::fail(format!("{:?}: {e}", case::import_of(&payload))))
    });
    rt.block_on(boundary.host.shutdown());
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// An `i32` argument, biased toward the values bounds checks get wrong.
fn edge_i32() -> impl Strategy<Value = i64> {
    let m = MEMORY_SIZE;
    prop_oneof![
        3 => prop::sample::select(vec![
            0,
            1,
            -1,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            65536,
            m,
            m - 1,
            case::PAYLOAD_AT,
            SCRATCH,
        ]),
        2 => (-16..=16i64).prop_map(move |d| m + d),
        1 => (-16..=16i64).prop_map(|d| 65536 + d),
        2 => 0..128i64,
        2 => any::<i32>().prop_map(i64::from),
    ]
}

/// An `i64` argument (an `i32` parameter reads its low half).
fn edge_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => edge_i32(),
        1 => prop::sample::select(vec![i64::MAX, i64::MIN, i64::from(u32::MAX), 1 << 32]),
        1 => any::<i64>(),
    ]
}

prop_compose! {
    /// An instruction with arbitrary arguments.
    fn arbitrary_call()(
        import in prop_oneof![3 => 0..case::imports().len() as u8, 1 => any::<u8>()],
        relative in prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
        args in prop::array::uniform8(edge_i64()),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) -> Call {
        Call { import, relative, args, data }
    }
}

/// The number of well-formed calls [`well_formed`] knows.
const WELL_FORMED: usize = 41;

/// Well-formed call number `i`, with `blob` and `word` as its data, and
/// what it must do.
fn well_formed(i: usize, blob: &[u8], word: &str) -> (Call, Expect) {
    use Expect::{Answer, Crash, Range, Status};
    let code = |c: ErrorCode| i64::from(c.as_u16());
    let service = |name: &str, payload: Vec<u8>| Call::new("call").bytes(0, name.as_bytes()).bytes(2, &payload);
    let ok = || Status(vec![0]);
    match i {
        0 => (Call::new("send").bytes(0, b"echo").bytes(2, b"note").bytes(4, blob), ok()),
        1 => (Call::new("send").bytes(0, b"host").bytes(2, b"fuzz.out").bytes(4, blob), ok()),
        2 => (Call::new("publish").bytes(0, b"fuzz.out").bytes(2, blob), ok()),
        3 => (Call::new("subscribe").bytes(0, b"fuzz.in"), ok()),
        4 => (Call::new("unsubscribe").bytes(0, b"fuzz.in"), ok()),
        5 => (Call::new("request").bytes(0, b"echo").bytes(2, b"ping").bytes(4, blob).arg(6, 5000), ok()),
        6 => (Call::new("request_async").bytes(0, b"echo").bytes(2, b"ping").bytes(4, blob), Range(1, i64::MAX)),
        7 => (Call::new("reply").this_request(0).bytes(2, blob), Answer(Ok(blob.to_vec()))),
        8 => (
            Call::new("reply").this_request(0).arg(1, code(ErrorCode::InvalidArgument)).bytes(2, word.as_bytes()),
            Answer(Err((ErrorCode::InvalidArgument, word.to_owned()))),
        ),
        9 => (Call::new("result_len"), Range(0, i64::from(i32::MAX))),
        10 => (Call::new("result_read").arg(0, SCRATCH).arg(1, 64), Range(0, 64)),
        11 => (Call::new("log").arg(0, 2).bytes(1, word.as_bytes()), ok()),
        12 => (Call::new("panic").bytes(0, word.as_bytes()), ok()),
        13 => (service(svc::CLOCK_NOW, vec![0xc0]), ok()),
        14 => (service(svc::RANDOM_BYTES, mp(&RandomBytes { len: blob.len() as u32 })), ok()),
        15 => (service(svc::CONFIG_GET, mp(&ConfigGet { key: "greeting".into() })), ok()),
        16 => (service(svc::KV_SET, mp(&KvSet { key: word.into(), value: blob.to_vec() })), ok()),
        17 => (service(svc::KV_GET, mp(&KvKey { key: word.into() })), ok()),
        18 => (service(svc::KV_DELETE, mp(&KvKey { key: word.into() })), ok()),
        19 => (service(svc::KV_LIST, mp(&KvList { prefix: String::new() })), ok()),
        20 => (service(svc::KV_USAGE, vec![0xc0]), ok()),
        21 => {
            let set = svc::TimerSet { ms: 1, topic: Some("tick".into()), payload: None };
            // At most two timers may be active (`Boundary::start`).
            (service(svc::TIMER_SET_TIMEOUT, mp(&set)), Status(vec![0, code(ErrorCode::Busy)]))
        }
        22 => (service(svc::TIMER_CANCEL, mp(&TimerCancel { id: u64::MAX })), ok()),
        23 => {
            let req = HttpRequest {
                method: "GET".into(),
                url: "http://127.0.0.1:9/".into(),
                headers: Vec::new(),
                body: Vec::new(),
                timeout_ms: None,
            };
            (service(svc::HTTP_FETCH, mp(&req)), Status(vec![code(ErrorCode::PermissionDenied)]))
        }
        24 => (service("no.such.service", vec![0xc0]), Status(vec![code(ErrorCode::NotFound)])),
        25 => (
            Call::new("request").bytes(0, b"nobody").bytes(2, b"ping").bytes(4, blob),
            Status(vec![code(ErrorCode::NotFound)]),
        ),
        26 => (
            Call::new("request").bytes(0, case::FUZZ.as_bytes()).bytes(2, b"ping").bytes(4, blob),
            Status(vec![code(ErrorCode::WouldDeadlock)]),
        ),
        27 => (Call::new("unsubscribe").bytes(0, b"\xff\xfe"), Status(vec![code(ErrorCode::InvalidArgument)])),
        28 => (
            Call::new("send").arg(0, MEMORY_SIZE - 2).arg(1, 4).bytes(2, b"note"),
            Status(vec![code(ErrorCode::InvalidArgument)]),
        ),
        29 => (
            Call::new("result_read").arg(0, MEMORY_SIZE + 16).arg(1, 8),
            Status(vec![-code(ErrorCode::InvalidArgument)]),
        ),
        // WASI (errno 0: success; 8: EBADF; 20: EEXIST; 28: EINVAL).
        30 => (Call::new("random_get").arg(0, SCRATCH).arg(1, blob.len() as i64), ok()),
        31 => (Call::new("clock_time_get").arg(0, 1).arg(1, 1).arg(2, SCRATCH), ok()),
        32 => (Call::new("clock_time_get").arg(0, 7).arg(1, 1).arg(2, SCRATCH), Status(vec![28])),
        33 => {
            let mut call = Call::new("fd_write");
            let body = call.place(blob);
            let iovec = call.place(&[(body as u32).to_le_bytes(), (blob.len() as u32).to_le_bytes()].concat());
            (call.arg(0, 1).arg(1, iovec).arg(2, 1).arg(3, SCRATCH), ok())
        }
        34 => (Call::new("fd_prestat_get").arg(0, 3).arg(1, SCRATCH), ok()),
        35 => (Call::new("fd_prestat_dir_name").arg(0, 3).arg(1, SCRATCH).arg(2, 64), ok()),
        36 => (Call::new("path_create_directory").arg(0, 3).bytes(1, word.as_bytes()), Status(vec![0, 20])),
        37 => (Call::new("args_sizes_get").arg(0, SCRATCH).arg(1, SCRATCH + 4), ok()),
        38 => (Call::new("environ_get").arg(0, SCRATCH).arg(1, SCRATCH + 64), ok()),
        39 => (Call::new("sched_yield"), ok()),
        40 => (Call::new("proc_exit").arg(0, 3), Crash),
        _ => unreachable!("{i} >= WELL_FORMED"),
    }
}

fn mp<T: serde::Serialize>(value: &T) -> Vec<u8> {
    codec::to_payload(value).unwrap()
}

fn well_formed_call() -> impl Strategy<Value = (Vec<u8>, Expect)> {
    (0..WELL_FORMED, prop::collection::vec(any::<u8>(), 0..64), "[a-z]{1,12}").prop_map(|(i, blob, word)| {
        let (call, expect) = well_formed(i, &blob, &word);
        (call.encode(), expect)
    })
}

#[cfg(feature = "storage")]
#[test]
fn arbitrary_host_calls_are_answered_and_the_other_plugin_keeps_answering() {
    run(256, arbitrary_call().prop_map(|call| (call.encode(), Expect::Any)));
}

#[cfg(feature = "storage")]
#[test]
fn arbitrary_payloads_are_answered() {
    // Short payloads leave the header partly zero; long ones carry junk data.
    run(128, prop::collection::vec(any::<u8>(), 0..(case::HEADER_LEN + 32)).prop_map(|p| (p, Expect::Any)));
}

#[cfg(feature = "storage")]
#[test]
fn well_formed_host_calls_do_what_they_say() {
    run(192, well_formed_call());
}

#[cfg(feature = "storage")]
#[test]
fn every_well_formed_call_runs_once() {
    let rt = case::runtime();
    let dir = tempfile::tempdir().unwrap();
    let boundary = rt.block_on(Boundary::start(dir.path()));
    for i in 0..WELL_FORMED {
        let (call, expect) = well_formed(i, b"\x92\x01\x02", "word");
        let answer = rt.block_on(boundary.check(&call.encode())).unwrap_or_else(|e| panic!("call {i}: {e}"));
        expect.check(&answer).unwrap_or_else(|e| panic!("call {i} ({:?}): {e}", case::import_of(&call.encode())));
    }
    rt.block_on(boundary.host.shutdown());
}

#[cfg(feature = "storage")]
/// Descriptors are the guest's to choose: ones far below the preopens
/// (found by the proptest above as `i32::MIN`) are refused like any other
/// bad descriptor, not an arithmetic overflow in the host.
#[test]
fn wasi_path_calls_on_extreme_descriptors_are_answered() {
    let rt = case::runtime();
    let dir = tempfile::tempdir().unwrap();
    let boundary = rt.block_on(Boundary::start(dir.path()));
    for fd in [i64::from(i32::MIN), -1, 0, 2, i64::from(i32::MAX)] {
        let call = Call::new("path_create_directory").arg(0, fd).bytes(1, b"x");
        let answer = rt.block_on(boundary.check(&call.encode())).unwrap_or_else(|e| panic!("fd {fd}: {e}"));
        // Whatever WASI's errno, it is a status, not a fault.
        Expect::Range(1, 76).check(&answer).unwrap_or_else(|e| panic!("fd {fd}: {e}"));
    }
    rt.block_on(boundary.host.shutdown());
}
