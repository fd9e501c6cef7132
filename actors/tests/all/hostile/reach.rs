//! Reaching beyond the grants: plugins, topics, files, hosts and services
//! the manifest did not ask for.

use std::net::TcpListener;

use wasp_actors::{LimitRequests, Limits};
use wasp_protocol::services::{ConfigGet, HttpRequest, KvKey, RandomBytes, TimerSet};

use super::probe::{Consts, probe, prober, status};
use super::{assert_echo_answers, audited, host_with, is_denial, load_with, logged};
use crate::common::{Form, info, info_after, load, mp};

// ---- 9. reaching beyond the grants ----------------------------------------

#[cfg(feature = "http")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaching_unpermitted_plugins_topics_files_hosts_and_services_is_denied_naming_the_permission() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    // A loopback server the intruder must not reach.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/secret");
    let fetch = HttpRequest { method: "GET".into(), url, headers: Vec::new(), body: Vec::new(), timeout_ms: Some(500) };

    let mut c = Consts::default();
    let (echo, ping, nil) = (c.at("echo"), c.at("ping"), c.at([0xc0u8]));
    let (secret, secrets) = (c.at("secret.topic"), c.at("secret.*"));
    let call = |c: &mut Consts, service: &str, payload: Vec<u8>| {
        status(&format!("(call $call {} {})", c.at(service), c.at(payload)))
    };
    let net = format!("net:127.0.0.1:{port}");
    let mut probes: Vec<(i64, String, String)> = vec![
        (3, "send:echo".into(), status(&format!("(call $send {echo} {ping} {nil})"))),
        (3, "request:echo".into(), status(&format!("(call $request {echo} {ping} {nil} (i32.const 0))"))),
        (-3, "request:echo".into(), format!("(call $request_async {echo} {ping} {nil} (i32.const 0))")),
        (3, "publish:secret.topic".into(), status(&format!("(call $publish {secret} {nil})"))),
        (3, "subscribe:secret.*".into(), status(&format!("(call $subscribe {secrets})"))),
        (3, net.clone(), call(&mut c, "http.fetch", mp(&fetch))),
        (3, "storage".into(), call(&mut c, "kv.get", mp(&KvKey { key: "k".into() }))),
        (3, "timers".into(), call(&mut c, "timer.set_timeout", mp(&TimerSet { ms: 10, topic: None, payload: None }))),
        (3, "clock".into(), call(&mut c, "clock.now", mp(&()))),
        (3, "random".into(), call(&mut c, "random.bytes", mp(&RandomBytes { len: 8 }))),
        (3, "config".into(), call(&mut c, "config.get", mp(&ConfigGet { key: "k".into() }))),
    ];
    // WASI: the clock and the random source answer EACCES (2) without
    // their permissions; with no fs grant there is no preopened directory,
    // so fd 3 does not exist (EBADF, 8), and the refused `path_open` is
    // audited naming the path.
    let (relative, absolute) = (c.at("etc/passwd"), c.at("/etc/passwd"));
    let open = |path: &str| {
        status(&format!(
            "(call $path_open (i32.const 3) (i32.const 0) {path} (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 3000))"
        ))
    };
    let wasi = [
        (2, "clock".to_owned(), status("(call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 3000))")),
        (2, "random".to_owned(), status("(call $random_get (i32.const 3000) (i32.const 8))")),
        (8, String::new(), status("(call $fd_prestat_get (i32.const 3) (i32.const 3000))")),
        (8, "fs.read:/etc/passwd".to_owned(), open(&relative)),
        (8, "fs.read:/etc/passwd".to_owned(), open(&absolute)),
    ];
    probes.extend(wasi);
    let imports = r#"
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let code: Vec<String> = probes.iter().map(|p| p.2.clone()).collect();
    // Narrow grants that cover none of the attempts.
    let grants = ["request:counter", "send:counter", "publish:public.*", "subscribe:public.*", "net:example.com"];
    load_with(&host, "intruder", &prober(imports, c, &code), &grants, LimitRequests::default()).await;
    let mut audit = host.audit_events();

    let answers = probe(&host, "intruder").await;
    assert_eq!(answers.len(), probes.len());
    for ((expected, permission, _), (status, slot)) in probes.iter().zip(&answers) {
        assert_eq!(status, expected, "`{permission}`: {slot}");
        if expected.abs() == 3 {
            let says = format!("plugin `intruder` lacks the permission `{permission}`");
            assert!(slot.contains(&says), "the result slot does not name `{permission}`: {slot:?}");
        }
    }
    // Each denial is audited, naming the permission.
    audited(&mut audit, "intruder", is_denial("send:echo")).await;
    for (_, permission, _) in probes.iter().filter(|p| !p.1.is_empty()) {
        let events = logged(&host, "intruder", is_denial(permission));
        let expected = probes.iter().filter(|p| &p.1 == permission).count();
        assert_eq!(events.len(), expected, "PermissionDenied events for `{permission}`: {events:?}");
        assert!(events.iter().all(|e| e.message.contains(&format!("`{permission}`"))), "{events:?}");
    }
    let i = info(&host, "intruder");
    assert_eq!((i.denied, i.faults), (15, 0), "{i:?}");

    // Nothing got through: no connection, nothing delivered to the echo.
    assert!(server.accept().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock), "the intruder connected");
    assert_echo_answers(&host, "after the intrusion").await;
    assert_eq!(info_after(&host, "echo", 3).await.handled, 3, "the echo received the intruder's messages");
    let () = host.call("intruder", "ping", &()).await.unwrap();
}
