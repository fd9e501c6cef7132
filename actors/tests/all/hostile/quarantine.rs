//! The violation threshold: a plugin that keeps breaking the rules is
//! quarantined mid-message until an operator lifts it.

use std::time::Duration;

use wasp_actors::{AuditKind, Host, LimitRequests, PluginState, Policy, Supervision};
use wasp_protocol::ErrorCode;

use super::plugins::offender;
use super::{assert_echo_answers, audited, is_denial, is_fault, load_with, logged};
use crate::common::{Form, info, info_after, load, mp};

// ---- 11. the violation threshold ------------------------------------------

/// Runs the offender's attack: it is stopped by quarantine after 19 ticks.
async fn attack(host: &Host, ticks: &mut wasp_actors::Subscription) {
    let err = host.request("offender", "attack", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("`offender` was quarantined and stopped"), "{err}");
    // Each tick follows a denied publish: the 20th denial stopped the loop.
    let mut seen = Vec::new();
    while let Some(ev) = ticks.try_recv() {
        seen.push(ev.decode::<Vec<i64>>().unwrap()[0]);
    }
    assert_eq!(seen, (1..=19).collect::<Vec<i64>>(), "the guest ran on after quarantine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_the_violation_threshold_quarantines_mid_message_until_lifted() {
    let host = Host::builder()
        .supervision(Supervision { max_violations: 20, ..Supervision::default() })
        .request_timeout(Duration::from_secs(5))
        .policy(Policy::new().trust("*").unwrap())
        .build()
        .unwrap();
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "offender", &offender(), &["send:host"], LimitRequests::default()).await;
    let mut ticks = host.subscribe("tick").unwrap();
    let mut audit = host.audit_events();
    // A request the offender holds when it is quarantined.
    let held = {
        let host = host.clone();
        tokio::spawn(
            async move { host.request_with_timeout("offender", "hold", mp(&()), Duration::from_secs(30)).await },
        )
    };
    info_after(&host, "offender", 1).await;

    attack(&host, &mut ticks).await;
    let q = audited(&mut audit, "offender", |k| matches!(k, AuditKind::Quarantined { .. })).await;
    assert!(q.message.contains("`offender` quarantined: 20 violations within 60 s"), "{q:?}");
    let denials = logged(&host, "offender", is_denial("publish:forbidden.topic"));
    assert_eq!(denials.len(), 20, "{denials:#?}");
    audited(&mut audit, "offender", is_fault(ErrorCode::Unavailable)).await;
    let i = info(&host, "offender");
    assert_eq!((i.state, i.denied, i.violations, i.restarts), (PluginState::Quarantined, 20, 20, 0), "{i:?}");
    assert!(i.quarantine_reason.as_deref().is_some_and(|r| r.contains("20 violations")), "{i:?}");

    // Fail closed: refused at once, saying why and what to do.
    let err = host.request("offender", "ping", mp(&())).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("`offender` is quarantined (20 violations") && err.message.contains("lift"), "{err}");
    let err = host.send("offender", "note", mp(&())).unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert_echo_answers(&host, "while the offender is quarantined").await;
    assert_eq!(info(&host, "offender").restarts, 0, "a quarantined plugin is not restarted");
    // The quarantined instance will not run again: what it held is answered
    // now, not when its caller gives up.
    let held = tokio::time::timeout(Duration::from_secs(2), held).await.map(|h| h.unwrap());

    // Lifted: a fresh instance answers, with its violations forgotten.
    host.lift_quarantine("offender").await.unwrap();
    audited(&mut audit, "offender", |k| *k == AuditKind::QuarantineLifted).await;
    let () = host.call("offender", "ping", &()).await.unwrap();
    let i = info(&host, "offender");
    assert_eq!((i.state, i.quarantine_reason.as_deref()), (PluginState::Running, None), "{i:?}");
    let err = host.lift_quarantine("offender").await.unwrap_err();
    assert!(err.to_string().contains("not quarantined"), "{err}");
    // The count starts over: the next attack is stopped at the 20th again.
    attack(&host, &mut ticks).await;
    assert_eq!(info(&host, "offender").state, PluginState::Quarantined);
    assert_echo_answers(&host, "after the second quarantine").await;
    assert_eq!(info(&host, "echo").faults, 0);

    match held {
        Ok(Err(e)) => assert!(matches!(e.code, ErrorCode::Unavailable | ErrorCode::PluginCrashed), "{e}"),
        Ok(Ok(reply)) => panic!("the held request was answered {reply:x?}"),
        Err(_) => {
            panic!("a request held by the quarantined instance got no answer within 2 s (it waits for its timeout)")
        }
    }
    // Invalid calls to imports without a status (here `result_read`) also
    // stop the guest once quarantine latches: it does not run on, and
    // nothing it says afterwards goes out.
    host.lift_quarantine("offender").await.unwrap();
    let scribbled = host.request("offender", "scribble", mp(&())).await;
    assert_eq!(info(&host, "offender").state, PluginState::Quarantined);
    let err = scribbled.expect_err("a quarantined guest's reply went out");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
}
