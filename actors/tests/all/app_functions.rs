//! The app's own functions (`Host::serve`) and cancellation: every form of a
//! plugin calls a function the app offers, under `call:<function>`, waiting
//! or with `request_async`; timeouts, panics, withdrawal and denials answer
//! with their codes; a caller that cancels gets `cancelled`, a request still
//! queued never runs, and a plugin that has it already hears of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use wasp_actors::{AppCall, Host, Load, Policy};
use wasp_example_relay::Forward;
use wasp_protocol::{ErrorCode, WireError, codec};

use crate::common::{FORMS, Form, audit_where, info, is_denial, load, manifest, mp, wait_until};

/// A host granting every manifest what it asks, with `timeout` for requests.
fn host_with(timeout: Duration) -> Host {
    Host::builder()
        .request_timeout(timeout)
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds")
}

/// The relay example under `name` in `form`, granted `permissions` besides
/// its own `request:*`.
async fn relay(host: &Host, form: Form, name: &str, permissions: &[&str]) {
    load(host, form, "relay", name).await;
    for p in permissions {
        host.grant(name, p).await.unwrap_or_else(|e| panic!("grant {p}: {e}"));
    }
}

/// Asks relay `name` to forward `body` to the app's `function`.
async fn forward(host: &Host, name: &str, topic: &str, function: &str, body: &str) -> Result<Vec<u8>, WireError> {
    let forward = mp(&Forward::new("host", function, body));
    host.request_with_timeout(name, topic, forward, Duration::from_secs(60)).await
}

/// Serves `greet`: "hello <plugin>: <payload>".
fn serve_greet(host: &Host) -> Arc<AtomicU32> {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    host.serve("greet", move |call: AppCall| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let who: String = call.decode()?;
            Ok(codec::to_payload(&format!("hello {}: {who}", call.plugin()))?)
        }
    })
    .expect("serves greet");
    calls
}

fn text(bytes: &[u8]) -> String {
    codec::from_payload(bytes).expect("a string")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_calls_an_app_function_waiting_and_with_request_async() {
    let host = host_with(Duration::from_secs(10));
    let calls = serve_greet(&host);
    for form in FORMS {
        let name = format!("relay-{form:?}").to_lowercase();
        relay(&host, form, &name, &["call:greet"]).await;
        for topic in ["forward", "forward_async"] {
            let answer =
                forward(&host, &name, topic, "greet", "world").await.unwrap_or_else(|e| panic!("{name} {topic}: {e}"));
            assert_eq!(text(&answer), format!("hello {name}: world"), "{form:?} {topic}");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2 * FORMS.len() as u32);
}

#[cfg(feature = "components")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_calls_an_app_function() {
    let host = host_with(Duration::from_secs(10));
    serve_greet(&host);
    let mut m = manifest("relay", "relay-component");
    m.permissions.push("call:greet".parse().unwrap());
    host.load(Load::bytes(wasp_fixtures::component_bytes("relay")).described_by(m)).await.expect("loads");
    let answer = forward(&host, "relay-component", "forward", "greet", "wit").await.expect("answers");
    assert_eq!(text(&answer), "hello relay-component: wit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_call_permission_the_function_never_runs_and_the_denial_is_audited() {
    let host = host_with(Duration::from_secs(10));
    let calls = serve_greet(&host);
    let mut audit = host.audit_events();
    // `request:*` covers plugins, not the app's functions; `call:other` not this one.
    relay(&host, Form::Wasm, "relay", &["call:other"]).await;
    for topic in ["forward", "forward_async"] {
        let err = forward(&host, "relay", topic, "greet", "x").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied, "{topic}: {err}");
        assert!(err.message.contains("call:greet"), "{err}");
        audit_where(&mut audit, is_denial("relay", "call:greet")).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_grants_a_family_of_functions_and_withdrawn_ones_are_not_found() {
    let host = host_with(Duration::from_secs(10));
    host.serve("files.pick", |_: AppCall| async { Ok(mp("/home/me/notes.txt")) }).unwrap();
    relay(&host, Form::Wasm, "relay", &["call:files.*"]).await;
    assert_eq!(text(&forward(&host, "relay", "forward", "files.pick", "").await.unwrap()), "/home/me/notes.txt");
    let err = forward(&host, "relay", "forward", "files.save", "").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err}");
    assert!(err.message.contains("no function `files.save`"), "{err}");
    assert!(host.withdraw("files.pick"));
    assert!(!host.withdraw("files.pick"));
    for topic in ["forward", "forward_async"] {
        let err = forward(&host, "relay", topic, "files.pick", "").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound, "{topic}: {err}");
    }
    // Names plugins could not call, and a second handler, are refused.
    assert_eq!(host.serve("a*", |_: AppCall| async { Ok(Vec::new()) }).unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(host.serve("", |_: AppCall| async { Ok(Vec::new()) }).unwrap_err().code, ErrorCode::InvalidArgument);
    host.serve("x", |_: AppCall| async { Ok(Vec::new()) }).unwrap();
    assert_eq!(host.serve("x", |_: AppCall| async { Ok(Vec::new()) }).unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(host.served(), ["x"]);
}

/// Sets its flag when dropped: proves a handler's future was dropped.
struct Dropped(Arc<AtomicU32>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_function_times_out_and_is_dropped_a_panicking_one_answers_internal() {
    // Here plugins wait 1 s for the app (the relay's own request); the test
    // waits longer for the relay, so each answer is the app's.
    let host = host_with(Duration::from_secs(1));
    let dropped = Arc::new(AtomicU32::new(0));
    let flag = dropped.clone();
    host.serve("slow", move |_: AppCall| {
        let guard = Dropped(flag.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(Vec::new())
        }
    })
    .unwrap();
    relay(&host, Form::Wasm, "relay", &["call:*"]).await;
    for topic in ["forward", "forward_async"] {
        let err = forward(&host, "relay", topic, "slow", "").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Timeout, "{topic}: {err}");
    }
    wait_until(|| dropped.load(Ordering::SeqCst) == 2).await;

    // Answers that are not timeouts, with time to spare on a loaded machine.
    let host = host_with(Duration::from_secs(30));
    host.serve("boom", |_: AppCall| async { panic!("the app's bug") }).unwrap();
    host.serve("huge", |_: AppCall| async { Ok(vec![0xc4; 17 << 20]) }).unwrap();
    relay(&host, Form::Wasm, "relay", &["call:*"]).await;
    for topic in ["forward", "forward_async"] {
        let err = forward(&host, "relay", topic, "boom", "").await.unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (ErrorCode::Internal, "the app's `boom` panicked"), "{topic}");
        let err = forward(&host, "relay", topic, "huge", "").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge, "{topic}: {err}");
    }
    // The host and the plugin go on.
    host.serve("ok", |_: AppCall| async { Ok(mp(&1u8)) }).unwrap();
    assert_eq!(forward(&host, "relay", "forward", "ok", "").await.unwrap(), mp(&1u8));
}

/// Serves `hold`, which answers only when `release` is notified; counts
/// the calls that reached it.
fn serve_hold(host: &Host) -> (Arc<Notify>, Arc<AtomicU32>) {
    let (release, entered) = (Arc::new(Notify::new()), Arc::new(AtomicU32::new(0)));
    let (waiting, counted) = (release.clone(), entered.clone());
    host.serve("hold", move |_: AppCall| {
        let waiting = waiting.clone();
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            waiting.notified().await;
            Ok(mp("released"))
        }
    })
    .unwrap();
    (release, entered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cancelled_while_queued_answers_cancelled_and_never_runs() {
    let host = host_with(Duration::from_secs(10));
    let (release, entered) = serve_hold(&host);
    relay(&host, Form::Wasm, "relay", &["call:hold"]).await;
    // The relay waits in `hold`; the next request queues behind it.
    let busy = {
        let host = host.clone();
        tokio::spawn(async move { forward(&host, "relay", "forward", "hold", "").await })
    };
    wait_until(|| entered.load(Ordering::SeqCst) == 1).await;
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let queued = {
        let host = host.clone();
        tokio::spawn(async move {
            host.request_cancellable("relay", "pending", mp(&()), async move {
                let _ = cancelled.await;
            })
            .await
        })
    };
    wait_until(|| info(&host, "relay").queued == 1).await;
    cancel.send(()).unwrap();
    let err = queued.await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::Cancelled, "{err}");
    assert_eq!(err.code.name(), "cancelled");
    release.notify_one();
    assert_eq!(text(&busy.await.unwrap().unwrap()), "released");
    // Only the forward ran: the cancelled request was skipped.
    wait_until(|| info(&host, "relay").queued == 0).await;
    let n: u64 = host.call("relay", "pending", &()).await.unwrap();
    assert_eq!(n, 0);
    // The forward and the last `pending`, not the cancelled one (counted
    // just after their answers).
    wait_until(|| info(&host, "relay").handled == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(info(&host, "relay").handled, 2, "the cancelled request ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_holding_a_cancelled_request_hears_of_it_in_every_form() {
    let host = host_with(Duration::from_secs(10));
    let (_release, entered) = serve_hold(&host);
    for (n, form) in (1..).zip(FORMS) {
        let name = format!("relay-{form:?}").to_lowercase();
        relay(&host, form, &name, &["call:hold"]).await;
        let body = codec::to_payload(&Forward::new("host", "hold", "")).unwrap();
        // Cancelled once the relay has it: it has called `hold` and deferred.
        let entered = entered.clone();
        let cancel = async move { wait_until(|| entered.load(Ordering::SeqCst) == n).await };
        let err = host.request_cancellable(&name, "forward_async", body, cancel).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Cancelled, "{form:?}: {err}");
        // The relay deferred the request, then dropped it on the notice.
        let pending = || {
            let host = host.clone();
            let name = name.clone();
            async move { host.call::<_, u64>(&name, "pending", &()).await.unwrap() }
        };
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while pending().await != 0 {
            assert!(std::time::Instant::now() < give_up, "{form:?}: the relay never heard of the cancellation");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_for_an_older_abi_is_not_sent_notices() {
    let host = host_with(Duration::from_secs(10));
    // ABI 1.2: defers every request, counts every event it gets, and
    // answers the count to a request on any topic but `wait`.
    let events = r#"
      (global $events (mut i32) (i32.const 0))
      (func (export "wasp_handle")
            (param $ptr i32) (param $kind i32) (param $id i64)
            (param $from_len i32) (param $topic_len i32) (param $payload_len i32) (result i32)
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then (global.set $events (i32.add (global.get $events) (i32.const 1))) (return (i32.const 0))))
        (if (i32.eq (local.get $topic_len) (i32.const 4)) (then (return (i32.const 1))))
        (i32.store8 (i32.const 60000) (global.get $events))
        (drop (call $reply (local.get $id) (i32.const 0) (i32.const 60000) (i32.const 1)))
        (i32.const 0))"#;
    let module = crate::common::wat_plugin_v12(&format!("{} {events}", crate::common::WAT_ALLOC));
    crate::common::load_wat(&host, "old", &module).await;
    let cancel = tokio::time::sleep(Duration::from_millis(100));
    let err = host.request_cancellable("old", "wait", mp(&()), cancel).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Cancelled);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events: u8 = host.call("old", "count", &()).await.unwrap();
    assert_eq!(events, 0, "a plugin built for ABI 1.2 got a cancellation notice");
}

#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notes_example_imports_a_file_the_app_picks_in_every_form() {
    use wasp_example_notes::{Note, PickedFile};
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .request_timeout(Duration::from_secs(10))
        .data_dir(dir.path())
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    // The app's "open a file chosen by the user": here, always the same file.
    host.serve("files.pick", |call: AppCall| async move {
        let file = PickedFile { name: "todo.txt".into(), text: format!("asked by {}", call.plugin()) };
        Ok(codec::to_payload(&file)?)
    })
    .unwrap();
    for form in FORMS {
        let name = format!("notes-{form:?}").to_lowercase();
        load(&host, form, "notes", &name).await;
        let id: String = host.call(&name, "import", &()).await.unwrap_or_else(|e| panic!("{form:?}: {e}"));
        let note: Note = host.call(&name, "get", &id).await.unwrap();
        assert_eq!(note.text, format!("todo.txt: asked by {name}"), "{form:?}");
    }
    // Without the function, `import` fails with the app's answer.
    host.withdraw("files.pick");
    let err = host.call::<_, String>("notes-wasm", "import", &()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err}");
}
