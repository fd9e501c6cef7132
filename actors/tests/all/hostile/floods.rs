//! Floods: events into a bounded mailbox, and a storm of requests.

use std::time::{Duration, Instant};

use wasp_actors::{Host, LimitRequests, Limits, PluginState};
use wasp_protocol::ErrorCode;

use super::plugins::{flooder, gate, stormer, victim};
use super::{assert_echo_answers, audited, host_with, is_limit, load_with, logged};
use crate::common::{Form, info, info_after, load, mp};

// ---- 7. a flood into a bounded mailbox ------------------------------------

/// Blocks `victim` on the gate; returns once it waits with an empty mailbox.
async fn block_victim(host: &Host, gate_handled: u64) {
    host.send("victim", "block", mp(&())).unwrap();
    let g = info_after(host, "gate", gate_handled).await;
    assert_eq!(g.handled, gate_handled, "the victim never reached the gate: {g:?}");
    assert_eq!(info(host, "victim").queued, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_into_a_bounded_mailbox_is_answered_busy_and_nothing_is_lost() {
    const DEPTH: usize = 4;
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "gate", &gate(), &[], LimitRequests::default()).await;
    let limits = LimitRequests { mailbox: Some(DEPTH), ..LimitRequests::default() };
    load_with(&host, "victim", &victim(), &["request:gate"], limits).await;
    load_with(&host, "flooder", &flooder(), &["send:victim"], LimitRequests::default()).await;

    // A plugin floods the blocked victim: 4 events fit, 6 are refused busy.
    block_victim(&host, 1).await;
    let counts: Vec<i64> = host.call("flooder", "flood", &()).await.unwrap();
    assert_eq!(counts, [DEPTH as i64, 6, 0], "accepted, busy, other");
    // The full mailbox refuses the host too, at once and saying why.
    let err = host.send("victim", "note", mp(&())).unwrap_err();
    assert_eq!(err.code, ErrorCode::Busy, "{err}");
    assert!(err.message.contains("`victim` has 4 messages queued, its mailbox limit is 4"), "{err}");
    let err = host.request("victim", "ping", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Busy, "{err}");
    assert_echo_answers(&host, "while the victim's mailbox is full").await;
    // Open the gate: every accepted event is handled, none was dropped.
    let () = host.call("gate", "release", &()).await.unwrap();
    // (Asking before the 4 are handled could find the mailbox still full.)
    assert_eq!(info_after(&host, "victim", 1 + DEPTH as u64).await.queued, 0);
    let counted: Vec<i64> = host.call("victim", "count", &()).await.unwrap();
    assert_eq!(counted, [DEPTH as i64], "events the flooder was told were accepted");

    // The host floods it with requests: each gets exactly one answer.
    block_victim(&host, 3).await;
    let asks: Vec<_> = (0..10u32)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move { (i, host.request("victim", "ping", mp(&i)).await) })
        })
        .collect();
    let give_up = Instant::now() + Duration::from_secs(5);
    while info(&host, "victim").refused < 6 + 2 + 6 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let () = host.call("gate", "release", &()).await.unwrap();
    let (mut replies, mut busy) = (0, 0);
    for ask in asks {
        match ask.await.unwrap() {
            (i, Ok(reply)) => {
                assert_eq!(reply, mp(&i), "request {i} got another's answer");
                replies += 1;
            }
            (_, Err(e)) if e.code == ErrorCode::Busy => busy += 1,
            (i, Err(e)) => panic!("request {i}: neither its reply nor busy: {e}"),
        }
    }
    assert_eq!((replies, busy), (DEPTH, 6));
    let v = info(&host, "victim");
    assert_eq!((v.refused, v.dropped, v.faults), (14, 0, 0), "{v:?}");
    assert_eq!(host.metrics().dead_letters, 0, "a message was dropped without an answer");
    assert_echo_answers(&host, "after the flood").await;
}

// ---- 8. a request storm ---------------------------------------------------

/// Waits until `name` has received `n` answers to its storm; returns
/// `[replies, errors]`.
async fn storm_answers(host: &Host, name: &str, n: i64) -> Vec<i64> {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let done: Vec<i64> = host.call(name, "done", &()).await.unwrap();
        if done.iter().sum::<i64>() >= n || Instant::now() > give_up {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_storm_is_refused_busy_and_audited_and_the_victim_keeps_answering() {
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let few = LimitRequests { outstanding_requests: Some(8), ..LimitRequests::default() };
    load_with(&host, "storm-out", &stormer(), &["request:echo"], few).await;
    let slow = LimitRequests { host_calls_per_second: Some(20), ..LimitRequests::default() };
    load_with(&host, "storm-rate", &stormer(), &["request:echo"], slow).await;
    let mut audit = host.audit_events();

    // Meanwhile the host keeps asking the victim.
    let asking = {
        let host = host.clone();
        tokio::spawn(async move {
            for i in 0..20u32 {
                assert_eq!(host.request("echo", "ping", mp(&i)).await.unwrap(), mp(&i), "the victim lost request {i}");
            }
        })
    };
    // 8 requests may await answers at once; within one message none can
    // come back, so the other 42 are refused.
    let counts: Vec<i64> = host.call("storm-out", "storm", &()).await.unwrap();
    assert_eq!(counts, [8, 42, 0], "accepted, busy, other");
    let e = audited(&mut audit, "storm-out", is_limit("max_outstanding_requests")).await;
    assert!(e.message.contains("`storm-out` already has 8 requests awaiting answers"), "{e:?}");
    assert_eq!(logged(&host, "storm-out", is_limit("max_outstanding_requests")).len(), 42);
    // 20 host calls a second, with a burst of as many: 20 pass, and one
    // more for each 50 ms the loop took (a slow machine, Windows under
    // wine, refills a few tokens meanwhile); the rest are refused.
    let started = std::time::Instant::now();
    let counts: Vec<i64> = host.call("storm-rate", "storm", &()).await.unwrap();
    let refilled = (started.elapsed().as_secs_f64() * 20.0).ceil() as i64;
    assert!(counts[0] >= 20 && counts[0] <= 20 + refilled, "{counts:?} in {:?}", started.elapsed());
    assert!(counts[1] > 0 || refilled >= 30, "nothing refused: {counts:?} in {:?}", started.elapsed());
    assert_eq!((counts[0] + counts[1], counts[2]), (50, 0), "{counts:?}");
    let e = audited(&mut audit, "storm-rate", is_limit("host_call_rate")).await;
    assert!(e.message.contains("`storm-rate` exceeded its limit of 20 host calls per second"), "{e:?}");
    // A throttle: at most one event, and one violation, a second.
    assert_eq!(logged(&host, "storm-rate", is_limit("host_call_rate")).len(), 1);

    asking.await.unwrap();
    // Every accepted request was answered, back to its sender.
    assert_eq!(storm_answers(&host, "storm-out", 8).await, [8, 0]);
    assert_eq!(storm_answers(&host, "storm-rate", counts[0]).await, [counts[0], 0]);
    // Answers free the slots: the next storm gets 8 through again.
    let again: Vec<i64> = host.call("storm-out", "storm", &()).await.unwrap();
    assert_eq!(again, [8, 42, 0]);
    assert_eq!(storm_answers(&host, "storm-out", 16).await, [16, 0]);
    // The victim answered everyone: 20 from the host, the stormers' accepted ones, and these.
    assert_echo_answers(&host, "after the storm").await;
    let victim_handled = 20 + 16 + counts[0] as u64 + 3;
    let e = info_after(&host, "echo", victim_handled).await;
    assert_eq!((e.handled, e.faults, e.refused), (victim_handled, 0, 0), "{e:?}");
    for name in ["storm-out", "storm-rate"] {
        let i = info(&host, name);
        assert_eq!((i.faults, i.state), (0, PluginState::Running), "{i:?}");
    }
}
