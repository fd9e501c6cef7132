//! Supervision: restart with backoff, quarantine repeat offenders, lift it.

use std::time::{Duration, Instant};

use wasp_actors::{AuditKind, Host, PluginState, Policy, Supervision};
use wasp_protocol::ErrorCode;

use crate::common::{FORMS, Form, info, info_after, load, mp};

/// A plugin's snapshot once it is in `state` (or after 5 s).
async fn state_after(host: &Host, name: &str, state: PluginState) -> wasp_actors::PluginInfo {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let i = info(host, name);
        if i.state == state || Instant::now() > give_up {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn supervised(supervision: Supervision) -> Host {
    Host::builder().policy(Policy::new().trust("*").unwrap()).supervision(supervision).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_plugin_restarts_after_a_backoff_and_keeps_the_messages_queued_meanwhile() {
    for form in FORMS {
        let backoff = Duration::from_millis(200);
        let host = supervised(Supervision { backoff_initial: backoff, ..Supervision::default() });
        load(&host, form, "faulty", "faulty").await;
        let started = Instant::now();
        let crash = host.request("faulty", "panic", mp(&"test")).await.unwrap_err();
        assert_eq!(crash.code, ErrorCode::PluginCrashed, "{form:?}: {crash}");
        // Sent while it waits out the backoff: queued, then answered by the new instance.
        let pings: Vec<_> = (0..5)
            .map(|_| {
                let host = host.clone();
                tokio::spawn(async move { host.request("faulty", "ping", mp(&())).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(info(&host, "faulty").state, PluginState::Restarting, "{form:?}");
        for ping in pings {
            assert_eq!(ping.await.unwrap().unwrap(), mp(&"pong"), "{form:?}");
        }
        assert!(started.elapsed() >= backoff, "the restart waited for the backoff");
        let i = info_after(&host, "faulty", 6).await;
        assert_eq!((i.state, i.faults, i.restarts, i.handled), (PluginState::Running, 1, 1, 6), "{form:?}: {i:?}");
        let restarted = host
            .audit_log()
            .into_iter()
            .find_map(|e| match e.kind {
                AuditKind::Restarted { failures, delay } => Some((failures, delay)),
                _ => None,
            })
            .expect("a restart is audited");
        assert_eq!(restarted, (1, backoff));
    }
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let s = Supervision {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(350),
        ..Supervision::default()
    };
    let delays: Vec<u64> = (1..=5).map(|n| s.backoff(n).as_millis() as u64).collect();
    assert_eq!(delays, [100, 200, 350, 350, 350]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_quarantine_a_plugin_until_the_host_lifts_it() {
    for form in FORMS {
        let host = supervised(Supervision {
            backoff_initial: Duration::from_millis(1),
            max_failures: 3,
            ..Supervision::default()
        });
        load(&host, Form::Wasm, "echo", "echo").await;
        load(&host, form, "faulty", "faulty").await;
        let mut audit = host.audit_events();
        for _ in 0..3 {
            let err = host.request("faulty", "panic", mp(&"test")).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::PluginCrashed, "{form:?}");
        }
        // The answer to the third crash goes out before the actor counts it.
        let i = state_after(&host, "faulty", PluginState::Quarantined).await;
        assert_eq!(i.state, PluginState::Quarantined, "{form:?}: {i:?}");
        let reason = i.quarantine_reason.expect("a reason");
        assert!(reason.contains("3 failures within 60 s"), "{reason}");
        // Fail closed: answered at once, never run.
        let err = host.request("faulty", "ping", mp(&())).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable, "{form:?}: {err}");
        assert!(err.message.contains("quarantined"), "{err}");
        assert_eq!(info(&host, "faulty").handled, 3, "the ping never reached the plugin");
        let quarantined = loop {
            let e = audit.recv().await.unwrap();
            if let AuditKind::Quarantined { reason } = e.kind {
                break reason;
            }
        };
        assert!(quarantined.contains("3 failures"));
        // Everyone else is fine.
        assert_eq!(host.request("echo", "ping", mp(&1)).await.unwrap(), mp(&1));

        host.lift_quarantine("faulty").await.unwrap();
        assert_eq!(host.request("faulty", "ping", mp(&())).await.unwrap(), mp(&"pong"), "{form:?}");
        let i = info(&host, "faulty");
        assert_eq!((i.state, i.quarantine_reason), (PluginState::Running, None));
        assert!(host.audit_log().iter().any(|e| e.kind == AuditKind::QuarantineLifted));
        // Lifting what is not quarantined is an error.
        let err = host.lift_quarantine("faulty").await.unwrap_err();
        assert!(err.to_string().contains("is not quarantined"), "{err}");
        // The failure count started over: one more crash restarts, not quarantines.
        let _ = host.request("faulty", "panic", mp(&"test")).await.unwrap_err();
        assert_eq!(host.request("faulty", "ping", mp(&())).await.unwrap(), mp(&"pong"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_for_a_plugin_that_gets_quarantined_are_answered_not_dropped() {
    let host = supervised(Supervision {
        backoff_initial: Duration::from_millis(1),
        max_failures: 1,
        ..Supervision::default()
    });
    load(&host, Form::Wasm, "spinner", "spinner").await;
    let mut events = host.subscribe("*").unwrap();
    // The spin holds the plugin; what queues behind it meets the quarantine.
    let spin = tokio::spawn({
        let host = host.clone();
        async move { host.request_with_timeout("spinner", "spin", mp(&()), Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued: Vec<_> = (0..10)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.request("spinner", "ping", mp(&())).await })
        })
        .collect();
    host.send("spinner", "note", mp(&())).unwrap();
    let err = spin.await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    for q in queued {
        let err = q.await.unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    }
    let i = info(&host, "spinner");
    assert_eq!((i.state, i.dropped), (PluginState::Quarantined, 1), "the one-way event is counted: {i:?}");
    assert!(host.metrics().dead_letters >= 1);
    assert!(events.try_recv().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_messages_faults_restarts_denials_and_memory() {
    let host = supervised(Supervision::default());
    load(&host, Form::Wasm, "faulty", "faulty").await;
    for _ in 0..3 {
        assert_eq!(host.request("faulty", "ping", mp(&())).await.unwrap(), mp(&"pong"));
    }
    let _ = host.request("faulty", "panic", mp(&"test")).await.unwrap_err();
    assert_eq!(host.request("faulty", "ping", mp(&())).await.unwrap(), mp(&"pong"));
    info_after(&host, "faulty", 5).await;
    let m = host.metrics();
    let i = m.plugins.iter().find(|p| p.name == "faulty").expect("listed");
    assert_eq!((i.handled, i.faults, i.restarts), (5, 1, 1), "{i:?}");
    assert!(i.memory_peak_bytes >= i.memory_bytes && i.memory_bytes > 0, "{i:?}");
    assert_eq!(i.version, "0.1.0");
    assert!(i.busy_micros > 0);
    assert!(m.audit_events >= 2, "the fault and the restart: {m:?}");
}
