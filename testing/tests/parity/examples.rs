//! Every example plugin, in every form, through one conversation each:
//! the forms must agree step by step, and the reference form must have
//! done what the plugin documents (so a script that fails the same way
//! everywhere does not pass).

use std::time::Duration;

use wasp_protocol::ErrorCode;
use wasp_testing::{Form, IncidentKind, Observation, Parity, Report, Script, Step, Value, redact};

use crate::subjects::{example, forms_of};

/// A parity run of example `plugin`, demanding every form it has.
fn parity(plugin: &str) -> Parity {
    Parity::new(example(plugin)).forms(forms_of(plugin))
}

/// Runs, prints the whole conversation, and checks the forms agree.
async fn agree(parity: Parity, script: &Script) -> Report {
    let report = parity.run(script).await.expect("the parity run completes");
    println!("{report}");
    report.assert_same();
    assert_eq!(report.forms(), forms_of(report.subject()));
    for t in report.transcripts() {
        assert_eq!(t.kind(), t.form().kind(), "each form is loaded as what it claims");
    }
    report
}

/// Step `step` of the first form (the others agree with it).
fn step(report: &Report, step: usize) -> &Observation {
    report.transcripts()[0].step(step).unwrap_or_else(|| panic!("no step {step}"))
}

fn reply(report: &Report, n: usize) -> String {
    let o = step(report, n);
    o.reply().unwrap_or_else(|| panic!("step {n} has no reply: {o}")).to_string()
}

fn code(report: &Report, n: usize) -> ErrorCode {
    let o = step(report, n);
    o.error().unwrap_or_else(|| panic!("step {n} has no error: {o}")).code
}

fn events(report: &Report, n: usize) -> Vec<String> {
    step(report, n).events.iter().map(ToString::to_string).collect()
}

fn denied(report: &Report, n: usize, permission: &str) -> bool {
    let permission: wasp_actors::Permission = permission.parse().expect("valid permission");
    step(report, n).incidents.iter().any(|i| i.kind == IncidentKind::PermissionDenied(permission.clone()))
}

fn faulted(report: &Report, n: usize, code: ErrorCode) -> bool {
    step(report, n).incidents.iter().any(|i| i.kind == IncidentKind::Fault(code))
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().map(|(k, v)| (Value::from(*k), v.clone())).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo() {
    let script = Script::new()
        .request("hi", &"hello")
        .request("len", &[1u8, 2, 3])
        .request_raw("raw", vec![0xc1])
        .request_raw("empty", Vec::new())
        .send("ping", &"hey")
        .revoke("publish:echo.seen")
        .send("ping", &"unheard")
        .grant("publish:echo.seen")
        .send("ping", &"back");
    let r = agree(parity("echo"), &script).await;
    assert_eq!(reply(&r, 1), r#""hello""#);
    assert_eq!(reply(&r, 2), "4");
    assert_eq!(step(&r, 3).to_string(), "reply (not MessagePack: c1)");
    assert_eq!(step(&r, 4).to_string(), "reply (empty)");
    assert_eq!(events(&r, 5), [r#"`echo.seen` from `echo`: "hey""#]);
    assert!(events(&r, 7).is_empty() && denied(&r, 7, "publish:echo.seen"), "{}", step(&r, 7));
    assert_eq!(events(&r, 9), [r#"`echo.seen` from `echo`: "back""#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter() {
    let script = Script::new()
        .request("get", &())
        .request("add", &5u64)
        .request("add", &2u64)
        .publish("counter.reset", &())
        .request("get", &())
        .request("add", &"five")
        .request("nope", &())
        .revoke("publish:counter.changed")
        .request("add", &1u64)
        .request("get", &());
    let r = agree(parity("counter"), &script).await;
    assert_eq!(reply(&r, 1), "0");
    assert_eq!((reply(&r, 2), events(&r, 2)), ("5".into(), vec!["`counter.changed` from `counter`: 5".into()]));
    assert_eq!(reply(&r, 3), "7");
    assert_eq!(reply(&r, 5), "0", "reset by the host's publish");
    assert_eq!(code(&r, 6), ErrorCode::InvalidMessage);
    assert_eq!(code(&r, 7), ErrorCode::NotFound);
    assert_eq!(code(&r, 9), ErrorCode::PermissionDenied);
    assert!(denied(&r, 9, "publish:counter.changed"), "{}", step(&r, 9));
    assert_eq!(reply(&r, 10), "1", "the add counted before its publish was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay() {
    use wasp_example_relay::Forward;
    let script = Script::new()
        .request("forward", &Forward::new("echo", "hi", "hello"))
        .request("forward_async", &Forward::new("echo", "hi", "hello"))
        .request("pending", &())
        .request("forward", &Forward::new("echo", "len", &[1u8, 2, 3]))
        .request("forward", &Forward::new("relay", "pending", &()))
        .request("forward", &Forward::new("nobody", "hi", &()))
        .request("forward_async", &Forward::new("nobody", "hi", &()))
        .revoke("request:*")
        .request("forward", &Forward::new("echo", "hi", "hello"));
    let r = agree(parity("relay").peer(example("echo")), &script).await;
    assert_eq!(reply(&r, 1), r#""hello""#);
    assert_eq!(reply(&r, 2), r#""hello""#);
    assert_eq!(reply(&r, 3), "0");
    assert_eq!(reply(&r, 4), "4");
    assert_eq!(code(&r, 5), ErrorCode::WouldDeadlock);
    assert_eq!(code(&r, 6), ErrorCode::NotFound);
    assert_eq!(code(&r, 7), ErrorCode::NotFound);
    assert_eq!(code(&r, 9), ErrorCode::PermissionDenied);
    assert!(denied(&r, 9, "request:echo"), "{}", step(&r, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinner() {
    let script = Script::new()
        .request("ping", &())
        .request("work", &1000u64)
        // Seconds of work, far past the budget: WASM is preempted, the native
        // watchdog answers (its thread finishes the work in the background;
        // `spin` would leave it spinning for the rest of the test run).
        .step(Step::request("work", &1_000_000_000u64).timeout(Duration::from_secs(20)).only(
            &[Form::Native, Form::Wasm, Form::Component],
            "in-process code has no watchdog and cannot be preempted",
        ))
        .request("ping", &())
        .request("work", &"many");
    let parity = parity("spinner").host(|b| b.cpu_budget(Duration::from_millis(200)));
    let r = agree(parity, &script).await;
    assert_eq!(reply(&r, 1), r#""pong""#);
    assert_eq!(reply(&r, 2), wasp_example_spinner::work(1000).to_string());
    assert_eq!(reply(&r, 4), r#""pong""#);
    assert_eq!(code(&r, 5), ErrorCode::InvalidMessage);
    for form in [Form::Native, Form::Wasm, Form::Component] {
        let Some(t) = r.transcript(form) else { continue };
        let spin = t.step(3).expect("step 3");
        assert_eq!(spin.error().map(|e| e.code), Some(ErrorCode::DeadlineExceeded), "{form}: {spin}");
        assert!(spin.incidents.iter().any(|i| i.kind == IncidentKind::Fault(ErrorCode::DeadlineExceeded)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty() {
    let script = Script::new()
        .request("ping", &())
        .request("panic", &"now")
        .request("ping", &())
        .request("garbage", &())
        .request("grow", &(1u64 << 20))
        .request("panic", &7u8)
        .request("nope", &());
    let r = agree(parity("faulty"), &script).await;
    assert_eq!(reply(&r, 1), r#""pong""#);
    assert_eq!(code(&r, 2), ErrorCode::PluginCrashed);
    assert!(faulted(&r, 2, ErrorCode::PluginCrashed), "{}", step(&r, 2));
    assert_eq!(reply(&r, 3), r#""pong""#, "answers again after the restart");
    assert_eq!(step(&r, 4).to_string(), "reply (not MessagePack: c1)");
    assert_eq!(reply(&r, 5), (1u64 << 20).to_string());
    assert_eq!(code(&r, 6), ErrorCode::InvalidMessage, "a payload it cannot decode is no crash");
    assert_eq!(code(&r, 7), ErrorCode::NotFound);
}

/// Blanks what differs from run to run in `notes`: ids, times, random bytes.
fn blank_notes(v: &mut Value) {
    redact(v, &["id", "created_ms", "unix_nanos", "monotonic_nanos"]);
    let is_id = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match v {
        Value::String(s) if s.as_str().is_some_and(is_id) => *v = Value::from("<id>"),
        Value::Binary(bytes) => *v = Value::from(format!("<{} random bytes>", bytes.len())),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes() {
    use wasp_example_notes::NewNote;
    // Step 4 adds the note the later steps name by its (random) id.
    let id = |e: &wasp_testing::Earlier<'_>| e.reply(4).cloned();
    let remind = move |after_ms: u64| {
        move |e: &wasp_testing::Earlier<'_>| Some(map(&[("id", id(e)?), ("after_ms", Value::from(after_ms))]))
    };
    let script = Script::new()
        .request("greeting", &())
        .request("config", &"max_notes")
        .request("usage", &())
        .request("add", &NewNote { text: "milk".into() })
        .step(Step::request_with("get", id))
        .request("list", &())
        .request("usage", &())
        // Due well after the step's settle time, and well within the wait.
        .step(Step::request_with("remind", remind(500)))
        .wait(Duration::from_millis(1500))
        .step(Step::request_with("remind_every", remind(60_000)))
        .step(Step::request_with("cancel", |e| e.reply(10).cloned()))
        .step(Step::request_with("cancel", |e| e.reply(10).cloned()))
        .request("random", &4u32)
        .request("now", &())
        .step(Step::request_with("delete", id))
        .step(Step::request_with("delete", id))
        // The message names the random id.
        .step(Step::request_with("get", id).codes_only())
        .request("http", &"http://example.invalid/")
        .request("nope", &());
    let r = agree(parity("notes").normalize(blank_notes), &script).await;
    assert_eq!(reply(&r, 1), r#""hello from notes""#);
    assert_eq!(reply(&r, 2), "100");
    assert_eq!(reply(&r, 3), r#"{"used": 0, "quota": 262144}"#);
    assert_eq!(reply(&r, 4), r#""<id>""#);
    let note = r#"{"id": "<id>", "text": "milk", "created_ms": "<created_ms>"}"#;
    assert_eq!(reply(&r, 5), note);
    assert_eq!(reply(&r, 6), format!("[{note}]"));
    assert_ne!(reply(&r, 7), reply(&r, 3), "the note takes room");
    assert_eq!(events(&r, 9), [format!("`notes.reminder` from `notes`: {note}")]);
    assert_eq!((reply(&r, 11), reply(&r, 12)), ("true".into(), "false".into()));
    assert_eq!(reply(&r, 13), r#""<4 random bytes>""#);
    assert_eq!(reply(&r, 14), r#"{"unix_nanos": "<unix_nanos>", "monotonic_nanos": "<monotonic_nanos>"}"#);
    assert_eq!((reply(&r, 15), reply(&r, 16)), ("true".into(), "false".into()));
    assert_eq!(code(&r, 17), ErrorCode::NotFound);
    assert_eq!(code(&r, 18), ErrorCode::PermissionDenied);
    assert!(denied(&r, 18, "net:example.invalid:80"), "{}", step(&r, 18));
    assert_eq!(code(&r, 19), ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal() {
    use wasp_example_journal::WriteFile;
    let write = WriteFile { path: "/data/note.txt".into(), text: "hi".into() };
    let script = Script::new()
        .request("read", &())
        .request("append", &"first")
        .request("append", &"second")
        .request("read", &())
        .request("append", &"two\nlines")
        .request("list", &"/data")
        .request("write_file", &write)
        .request("read_file", &"/data/note.txt")
        .request("list", &"/data")
        // The messages carry the system's error text, whose numbers differ
        // between WASI and the host's system.
        .step(Step::request("read_file", &"/data/missing.txt").codes_only());
    let r = agree(parity("journal").normalize(|v| redact(v, &["at_ms"])), &script).await;
    assert_eq!(reply(&r, 1), "[]");
    assert_eq!((reply(&r, 2), reply(&r, 3)), ("1".into(), "2".into()));
    assert_eq!(reply(&r, 4), r#"[{"at_ms": "<at_ms>", "text": "first"}, {"at_ms": "<at_ms>", "text": "second"}]"#);
    assert_eq!(code(&r, 5), ErrorCode::InvalidArgument);
    assert_eq!(reply(&r, 6), r#"["journal.log"]"#);
    assert_eq!(reply(&r, 8), r#""hi""#);
    assert_eq!(reply(&r, 9), r#"["journal.log", "note.txt"]"#);
    assert_eq!(code(&r, 10), ErrorCode::Plugin);
}

/// A directory `journal` was not granted: refused in every form, and — as
/// for every other permission — audited as a denial in every form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_outside_its_grants() {
    // Every form refuses with a `plugin` error. Natively the host refuses the
    // path (`fs.resolve`) and audits the denial; under WASI a directory that
    // was not granted does not exist for the guest — wasi-libc fails the
    // open without asking the host — so there is nothing to audit. Hence the
    // audited steps run in the two native forms, and WASM gets its own.
    const WASI: &str = "under WASI an ungranted directory does not exist: libc fails without a host call to audit";
    const NATIVE: &str = "natively the host refuses the path itself, and audits the denial";
    let script = Script::new()
        // The messages carry the system's error text (see `journal`).
        .step(Step::request("list", &"/etc").codes_only().only(&[Form::InProcess, Form::Native], WASI))
        .step(Step::request("read_file", &"/etc/hostname").codes_only().only(&[Form::InProcess, Form::Native], WASI))
        .step(Step::request("list", &"/etc").codes_only().only(&[Form::Wasm], NATIVE))
        .step(Step::request("read_file", &"/etc/hostname").codes_only().only(&[Form::Wasm], NATIVE));
    let r = agree(parity("journal"), &script).await;
    for t in r.transcripts() {
        let codes: Vec<ErrorCode> = (1..=4).filter_map(|n| t.step(n).and_then(|o| o.error()).map(|e| e.code)).collect();
        assert_eq!(codes, [ErrorCode::Plugin, ErrorCode::Plugin], "{:?}", t.form());
    }
}
