//! The harness itself: it must notice when two forms differ — in a reply,
//! an event, an error code, an audit event — and say where, and it must not
//! flag what its rules say is form-dependent.
//!
//! Two in-process plugins stand in for two forms: `Tally` as written, and
//! `Tally` with one quirk.

use std::sync::atomic::{AtomicU64, Ordering};

use wasp_actors::Manifest;
use wasp_sdk::prelude::*;
use wasp_testing::{Error, Form, IncidentKind, Outcome, Parity, Script, Step, Subject, Value, redact};

/// How a `Tally` departs from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    /// `add` adds one too many.
    OffByOne,
    /// `add` publishes on `tally.moved` instead of `tally.changed`.
    OtherEventTopic,
    /// `add` publishes nothing.
    NoEvent,
    /// An unknown topic is answered `invalid_argument` instead of `not_found`.
    OtherCode,
    /// `fail` says something else.
    OtherPluginMessage,
    /// `crash` panics with another text.
    OtherPanicText,
    /// `shout` publishes on `elsewhere`, which it may not.
    ShoutsElsewhere,
}

/// A counter that publishes its changes, fails and crashes on request.
struct Tally {
    value: u64,
    quirk: Quirk,
}

/// The reply of `stamp`.
#[derive(serde::Serialize)]
struct Stamp {
    id: u64,
    text: &'static str,
}

/// Differs between instances: stands for ids and timestamps.
static SERIAL: AtomicU64 = AtomicU64::new(1);

impl Plugin for Tally {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        let q = self.quirk;
        match msg.topic {
            "add" => {
                self.value += msg.decode::<u64>()? + u64::from(q == Quirk::OffByOne);
                match q {
                    Quirk::NoEvent => {}
                    Quirk::OtherEventTopic => ctx.publish("tally.moved", &self.value)?,
                    _ => ctx.publish("tally.changed", &self.value)?,
                }
                Reply::encode(&self.value)
            }
            "get" => Reply::encode(&self.value),
            "fail" => {
                Err(WireError::plugin(if q == Quirk::OtherPluginMessage { "tally declines" } else { "tally refuses" }))
            }
            "crash" => panic!("{}", if q == Quirk::OtherPanicText { "tally broke" } else { "tally crashed" }),
            "shout" => {
                // The outcome is the same either way: only the audit differs.
                let _ = ctx.publish(if q == Quirk::ShoutsElsewhere { "elsewhere" } else { "tally.shout" }, &"hey");
                Ok(Reply::empty())
            }
            "stamp" => Reply::encode(&Stamp { id: SERIAL.fetch_add(1, Ordering::Relaxed), text: "stamped" }),
            topic => {
                let code = if q == Quirk::OtherCode { ErrorCode::InvalidArgument } else { ErrorCode::NotFound };
                Err(WireError::new(code, format!("tally has no topic `{topic}`")))
            }
        }
    }
}

fn manifest() -> Manifest {
    Manifest::new("tally").expect("valid name").permissions(["publish:tally.*".parse().expect("valid permission")])
}

/// The reference `Tally` in process, and one with `quirk` standing in for the
/// WASM form.
fn pair(quirk: Quirk) -> Subject {
    Subject::new("tally").in_process(manifest(), || Tally { value: 0, quirk: Quirk::None }).stand_in(
        Form::Wasm,
        manifest(),
        move || Tally { value: 0, quirk },
    )
}

async fn run(subject: Subject, script: &Script) -> wasp_testing::Report {
    Parity::new(subject).run(script).await.expect("the run completes")
}

fn int(n: u64) -> Value {
    Value::from(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_plugins_agree() {
    let script = Script::new()
        .request("add", &1u64)
        .request("add", &2u64)
        .request("get", &())
        .request("fail", &())
        .request("nope", &())
        .request("crash", &())
        .request("get", &());
    let report = run(pair(Quirk::None), &script).await;
    report.assert_same();
    assert_eq!(report.forms(), [Form::InProcess, Form::Wasm]);
    for t in report.transcripts() {
        assert_eq!(t.kind(), "in-process", "a stand-in is in process");
        assert_eq!(t.step(3).and_then(|o| o.reply()), Some(&int(3)), "{}", t.form());
        let added = &t.step(2).expect("step 2").events;
        assert_eq!(added.len(), 1, "{}: {added:?}", t.form());
        assert_eq!((added[0].topic.as_str(), added[0].payload.value()), ("tally.changed", Some(&int(3))));
        assert_eq!(t.step(4).and_then(|o| o.error()).map(|e| e.code), Some(ErrorCode::Plugin));
        let crash = t.step(6).expect("step 6");
        assert_eq!(crash.error().map(|e| e.code), Some(ErrorCode::PluginCrashed));
        assert!(
            crash.incidents.iter().any(|i| i.kind == IncidentKind::Fault(ErrorCode::PluginCrashed)),
            "the fault is audited: {crash}"
        );
        assert_eq!(t.step(7).and_then(|o| o.reply()), Some(&int(0)), "a fresh instance after the crash");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_reply_is_caught_at_its_step() {
    let script = Script::new().request("get", &()).request("add", &1u64).request("get", &());
    let mismatch = run(pair(Quirk::OffByOne), &script).await.check().expect_err("off by one is caught");
    let steps: Vec<Option<usize>> = mismatch.differences().iter().map(|d| d.step()).collect();
    assert_eq!(steps, [Some(2), Some(3)], "step 1 agrees; {mismatch}");
    let first = mismatch.first().expect("a difference");
    assert_eq!(first.description(), "request `add` 1");
    assert_eq!(first.parts(), ["outcome", "events"]);
    assert_eq!(first.observation(Form::InProcess).and_then(|o| o.reply()), Some(&int(1)));
    assert_eq!(first.observation(Form::Wasm).and_then(|o| o.reply()), Some(&int(2)));
    let text = mismatch.to_string();
    assert!(text.contains("plugin `tally` behaves differently in in-process, wasm: 2 steps differ"), "{text}");
    assert!(text.contains("step 2: request `add` 1 (outcome, events differ)"), "{text}");
    assert!(text.contains("in-process: reply 1; events [`tally.changed` from `tally`: 1]"), "{text}");
    assert!(text.contains("wasm      : reply 2; events [`tally.changed` from `tally`: 2]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_another_topic_is_caught() {
    let script = Script::new().request("add", &4u64);
    let mismatch = run(pair(Quirk::OtherEventTopic), &script).await.check().expect_err("caught");
    let d = mismatch.first().expect("a difference");
    assert_eq!((d.step(), d.parts()), (Some(1), &["events"][..]), "{mismatch}");
    let text = mismatch.to_string();
    assert!(
        text.contains("`tally.changed` from `tally`: 4") && text.contains("`tally.moved` from `tally`: 4"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_event_is_caught() {
    let script = Script::new().request("add", &4u64);
    let mismatch = run(pair(Quirk::NoEvent), &script).await.check().expect_err("caught");
    let d = mismatch.first().expect("a difference");
    assert_eq!(d.parts(), ["events"]);
    assert!(d.observation(Form::Wasm).expect("ran").events.is_empty());
    assert_eq!(d.observation(Form::InProcess).expect("ran").events.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_error_code_is_caught() {
    let script = Script::new().request("add", &1u64).request("nope", &());
    let mismatch = run(pair(Quirk::OtherCode), &script).await.check().expect_err("caught");
    let d = mismatch.first().expect("a difference");
    assert_eq!((d.step(), d.parts()), (Some(2), &["outcome"][..]), "{mismatch}");
    let text = mismatch.to_string();
    assert!(text.contains("in-process: error not_found: tally has no topic `nope`"), "{text}");
    assert!(text.contains("wasm      : error invalid_argument: tally has no topic `nope`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_authored_message_is_compared() {
    let script = Script::new().request("fail", &());
    let mismatch = run(pair(Quirk::OtherPluginMessage), &script).await.check().expect_err("caught");
    assert!(mismatch.to_string().contains("error plugin: tally declines"), "{mismatch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_only_steps_ignore_the_message() {
    let script = Script::new().step(Step::request("fail", &()).codes_only());
    run(pair(Quirk::OtherPluginMessage), &script).await.assert_same();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_made_messages_are_compared_by_code() {
    let script = Script::new().request("crash", &()).request("get", &());
    let report = run(pair(Quirk::OtherPanicText), &script).await;
    report.assert_same();
    let message = |form| report.transcript(form).and_then(|t| t.step(1)?.error().cloned()).expect("an error");
    let (a, b) = (message(Form::InProcess), message(Form::Wasm));
    assert_eq!((a.code, b.code), (ErrorCode::PluginCrashed, ErrorCode::PluginCrashed));
    assert_ne!(a.message, b.message, "the panic texts show in the messages, which differ and are not compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_difference_is_caught() {
    let script = Script::new().request("shout", &());
    let mismatch = run(pair(Quirk::ShoutsElsewhere), &script).await.check().expect_err("caught");
    let d = mismatch.first().expect("a difference");
    assert!(d.parts().contains(&"audit"), "{mismatch}");
    let wasm = d.observation(Form::Wasm).expect("ran");
    assert_eq!(wasm.outcome, Outcome::Reply(wasp_testing::Data::Value(Value::Nil)), "`Reply::empty()` is nil");
    assert_eq!(wasm.incidents.len(), 1, "{wasm}");
    assert_eq!(wasm.incidents[0].kind, IncidentKind::PermissionDenied("publish:elsewhere".parse().expect("valid")));
    assert!(mismatch.to_string().contains("audit [`tally` denied `publish:elsewhere`]"), "{mismatch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_steps_are_not_compared_and_are_reported() {
    let script = Script::new()
        .step(Step::request("add", &1u64).only(&[Form::InProcess], "only the reference adds"))
        .request("get", &());
    let report = run(pair(Quirk::None), &script).await;
    let wasm = report.transcript(Form::Wasm).expect("ran");
    assert_eq!(wasm.step(1).expect("step 1").outcome, Outcome::Excluded);
    assert!(report.to_string().contains("(limited: only the reference adds)"), "{report}");
    // The add ran in one form only, so the states differ after it.
    let mismatch = report.check().expect_err("the get differs");
    assert_eq!(mismatch.differences().iter().map(|d| d.step()).collect::<Vec<_>>(), [Some(2)]);
    assert!(
        mismatch.to_string().contains("step 1 (request `add` 1) not run in wasm: only the reference adds"),
        "{mismatch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_normalizer_blanks_what_differs_by_run() {
    let script = Script::new().request("stamp", &());
    let plain = run(pair(Quirk::None), &script).await;
    assert!(plain.check().is_err(), "the serial differs between the instances: {plain}");
    let normalized = Parity::new(pair(Quirk::None)).normalize(|v| redact(v, &["id"])).run(&script).await.expect("runs");
    normalized.assert_same();
    let reply = normalized.transcripts()[0].step(1).and_then(|o| o.reply()).expect("a reply");
    assert_eq!(reply.to_string(), r#"{"id": "<id>", "text": "stamped"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_can_be_built_from_earlier_replies() {
    let script = Script::new()
        .request("add", &5u64)
        .step(Step::request_with("add", |earlier| earlier.reply(1).cloned()))
        .step(Step::request_with("add", |earlier| earlier.reply(9).cloned()));
    let report = run(pair(Quirk::None), &script).await;
    report.assert_same();
    let t = &report.transcripts()[1];
    assert_eq!(t.step(2).and_then(|o| o.reply()), Some(&int(10)), "5 + 5");
    assert_eq!(t.step(3).expect("step 3").outcome, Outcome::Unbuilt, "step 9 has no reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_needs_two_forms_and_every_form_it_demands() {
    let one = Subject::new("tally").in_process(manifest(), || Tally { value: 0, quirk: Quirk::None });
    let err = Parity::new(one).run(&Script::new()).await.expect_err("one form is not a comparison");
    assert!(matches!(err, Error::TooFewForms { ref have, .. } if have == "in-process"), "{err}");
    let err = Parity::new(pair(Quirk::None))
        .forms(&Form::ALL)
        .run(&Script::new())
        .await
        .expect_err("there is no native form");
    assert!(matches!(err, Error::MissingForm { form: Form::Native, .. }), "{err}");
    assert_eq!(err.to_string(), "plugin `tally` has no native form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_cannot_be_encoded_is_refused_before_running() {
    struct Unencodable;
    impl serde::Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no way"))
        }
    }
    let script = Script::new().request("get", &()).request("add", &Unencodable);
    let err = Parity::new(pair(Quirk::None)).run(&script).await.expect_err("refused");
    assert!(matches!(err, Error::Payload { step: 2, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_of_another_kind_is_refused() {
    let subject = Subject::new("echo")
        .in_process(crate::subjects::manifest("echo"), wasp_example_echo::Echo::default)
        .native(wasp_fixtures::wasm_bundle("echo"));
    let err = Parity::new(subject).run(&Script::new()).await.expect_err("a WASM bundle is not native");
    assert!(matches!(err, Error::WrongKind { form: Form::Native, ref kind, .. } if kind == "wasm"), "{err}");
}
