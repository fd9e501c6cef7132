//! Epoch time slices: a runaway plugin yields and is stopped; others answer.

use std::time::{Duration, Instant};

use wasp_actors::{Host, Policy};
use wasp_protocol::ErrorCode;

use crate::common::{Form, load, mp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_plugin_is_preempted_and_others_keep_answering() {
    let host = Host::builder().cpu_budget(Duration::from_millis(400)).build().unwrap();
    load(&host, Form::Wasm, "spinner", "spinner").await;
    load(&host, Form::Wasm, "echo", "echo").await;
    load(&host, Form::InProcess, "echo", "native-echo").await;

    let spin = {
        let host = host.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            (host.request("spinner", "spin", mp(&())).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    // While the spinner burns its budget, every other plugin answers promptly.
    let mut answered = 0;
    let mut worst = Duration::ZERO;
    while !spin.is_finished() {
        for to in ["echo", "native-echo"] {
            let t = Instant::now();
            let reply = host.request(to, "ping", mp(&"hi")).await.unwrap();
            worst = worst.max(t.elapsed());
            assert_eq!(reply, mp(&"hi"));
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (result, took) = spin.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(took >= Duration::from_millis(350), "stopped after {took:?}, before its budget");
    assert!(answered >= 10, "only {answered} answers while spinning");
    assert!(worst < Duration::from_millis(300), "an answer took {worst:?} while the spinner ran");

    // The instance was recycled: the spinner answers its next message.
    let pong: String = host.call("spinner", "ping", &()).await.unwrap();
    assert_eq!(pong, "pong");
    let info = host.plugins().into_iter().find(|p| p.name == "spinner").unwrap();
    assert_eq!((info.faults, info.restarts), (1, 1), "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runaways_do_not_starve_a_third_plugin() {
    let policy = Policy::new().trust("*").unwrap();
    let host = Host::builder().cpu_budget(Duration::from_millis(300)).policy(policy).build().unwrap();
    load(&host, Form::Wasm, "spinner", "s1").await;
    load(&host, Form::Wasm, "spinner", "s2").await;
    load(&host, Form::Wasm, "counter", "counter").await;
    let spins: Vec<_> = ["s1", "s2"]
        .into_iter()
        .map(|s| {
            let host = host.clone();
            tokio::spawn(async move { host.request(s, "spin", mp(&())).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for i in 1..=10u64 {
        let v: u64 = host.call("counter", "add", &1u64).await.unwrap();
        assert_eq!(v, i);
    }
    for s in spins {
        assert_eq!(s.await.unwrap().unwrap_err().code, ErrorCode::DeadlineExceeded);
    }
}
