//! MessagePack nested thousands deep: every decoder the host runs on bytes
//! from a plugin refuses it with `invalid_message` naming the depth limit
//! (`codec::MAX_DEPTH`), instead of recursing until the thread's stack
//! runs out and the whole process dies.
//!
//! Each payload nests 10,000 arrays in an unknown map field; a decoder that
//! skips the field by recursing once per level needs megabytes of stack in
//! a debug build. The decoders run where they always do — a wasmtime fiber
//! (host calls), a tokio worker or blocking thread (native and in-process
//! plugins), each with a 2 MiB stack — or, for `Host::call`, on a thread
//! given a 2 MiB stack here.

use std::future::Future;

use serde::Deserialize;
use wasp_actors::{Host, LimitRequests, Limits};
use wasp_protocol::{ErrorCode, WireError};

use super::plugins::{DEEP_AT, deep_payload, deep_replier};
use super::probe::{Consts, probe, prober};
use super::{assert_echo_answers, host_with, load_with};
use crate::common::{FORMS, Form, load, load_wat};

/// A probe: builds the deep payload and passes it to host service `service`.
fn deep_call(c: &mut Consts, service: &str) -> String {
    format!("(i64.extend_i32_s (call $call {} (i32.const {DEEP_AT}) {}))", c.at(service), deep_payload(10_000))
}

/// Runs `f(host)` to completion on a thread with a 2 MiB stack.
fn on_small_stack<T, F>(host: &Host, f: impl FnOnce(Host) -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let host = host.clone();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(f(host))
        })
        .expect("thread starts")
        .join()
        .expect("no stack overflow")
}

fn assert_names_the_limit(what: &str, status: i64, slot: &str) {
    assert_eq!(status, i64::from(ErrorCode::InvalidMessage.as_u16()), "{what}: {slot}");
    assert!(slot.contains("deeper than the limit of 32 levels"), "{what}: {slot}");
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_payloads_nested_ten_thousand_deep_are_invalid_message_for_any_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let host = wasp_actors::Host::builder()
        .limits(Limits::default())
        .data_dir(dir.path())
        .policy(wasp_actors::Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    load(&host, Form::Wasm, "echo", "echo").await;
    let services = ["fs.resolve", "http.fetch", "kv.set", "timer.set_timeout"];

    // No permissions at all: `fs.resolve` and `http.fetch` decode the
    // payload to learn which permission they need; the others check first.
    let mut c = Consts::default();
    let probes: Vec<String> = services.iter().map(|s| deep_call(&mut c, s)).collect();
    load_with(&host, "nobody", &prober("", c, &probes), &[], LimitRequests::default()).await;
    let answers = probe(&host, "nobody").await;
    assert_eq!(answers.len(), services.len());
    for (service, (status, slot)) in services.iter().zip(&answers) {
        match *service {
            "fs.resolve" | "http.fetch" => assert_names_the_limit(service, *status, slot),
            _ => assert_eq!(*status, 3, "{service} without its permission: {slot}"),
        }
    }

    // With the permissions, every service decodes it.
    let mut c = Consts::default();
    let probes: Vec<String> = services.iter().map(|s| deep_call(&mut c, s)).collect();
    let grants = ["storage", "timers"];
    load_with(&host, "granted", &prober("", c, &probes), &grants, LimitRequests::default()).await;
    for (service, (status, slot)) in services.iter().zip(&probe(&host, "granted").await) {
        assert_names_the_limit(service, *status, slot);
    }

    // Nothing trapped; the plugins and the bystander keep answering.
    assert_echo_answers(&host, "after the deep host calls").await;
    for name in ["nobody", "granted"] {
        let () = host.call(name, "ping", &()).await.unwrap();
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Anything {
    n: Option<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_nested_ten_thousand_deep_is_an_invalid_message_to_host_call() {
    let host = host_with(Limits::default());
    load_wat(&host, "deep", &deep_replier()).await;
    let answer = on_small_stack(&host, |host| async move { host.call::<_, Anything>("deep", "deep", &()).await });
    let err = answer.expect_err("refused");
    assert_eq!(err.code, ErrorCode::InvalidMessage, "{err}");
    assert!(err.message.contains("deeper than the limit of 32 levels"), "{err}");
    // The raw bytes still reach a caller who asks for them.
    assert_eq!(host.request("deep", "deep", vec![0xc0]).await.map(|r| r.len()), Ok(10_004));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_refuses_bytes_after_the_reply_as_wasp_run_does() {
    let host = host_with(Limits::default());
    load_wat(&host, "deep", &deep_replier()).await;
    let err = host.call::<_, ()>("deep", "trailing", &()).await.expect_err("refused");
    assert_eq!(err.code, ErrorCode::InvalidMessage, "{err}");
    assert!(err.message.contains("trailing bytes after the value (1)"), "{err}");
    // `cargo wasp run` converts replies with the same check (`json::to_json`).
    let raw = host.request("deep", "trailing", vec![0xc0]).await.unwrap();
    assert_eq!(raw, [0xc0, 0xc0]);
    assert!(wasp_protocol::codec::check(&raw).is_err());
    let () = host.call("deep", "nil", &()).await.unwrap();
}

#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_nested_ten_thousand_deep_is_an_invalid_message_to_every_form_of_plugin() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    // `{"x": [[[…]]]}` for `add`, which decodes `{text}` with `Message::decode`.
    let deep = [&[0x81, 0xa1, b'x'][..], &vec![0x91; 10_000], &[0xc0]].concat();
    for form in FORMS {
        let name = format!("notes-{}", format!("{form:?}").to_lowercase());
        load(&host, form, "notes", &name).await;
        let err: WireError = host.request(&name, "add", deep.clone()).await.expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidMessage, "{form:?}: {err}");
        assert!(err.message.contains("deeper than the limit of 32 levels"), "{form:?}: {err}");
        // The plugin is unharmed: a well-formed message is handled as before.
        let err = host.request(&name, "add", crate::common::mp(&())).await.expect_err("not a note");
        assert_eq!(err.code, ErrorCode::InvalidMessage, "{form:?}: {err}");
    }
    assert_echo_answers(&host, "after the deep messages").await;
}
