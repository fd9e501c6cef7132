//! Queues a plugin can fill: mailboxes counted in bytes, host
//! subscriptions, timer payloads, and the log lines its refusals cause.

use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;
use wasp_actors::{Host, LimitRequests, Limits, Load, Manifest, Policy};
use wasp_protocol::ErrorCode;
use wasp_sdk::prelude::*;

use super::plugins::{Burst, gate, pusher, victim};
use super::{assert_echo_answers, audited, host_with, is_limit, load_with, logged, perm};
use crate::common::{Form, info, info_after, load, mp};

// ---- 15. a flood of large messages ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_messages_is_refused_busy_past_the_mailbox_byte_budget() {
    // 60 KiB: as large as the victim's 64 KiB buffer takes.
    const LEN: usize = 60 << 10;
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    load_with(&host, "gate", &gate(), &[], LimitRequests::default()).await;
    let four = LimitRequests { mailbox_bytes: Some(4 * LEN as u64), ..LimitRequests::default() };
    load_with(&host, "victim", &victim(), &["request:gate"], four).await;
    let bursts = [Burst { topic: "flood", to: "victim", len: LEN, count: 10 }];
    load_with(&host, "flooder", &pusher(&bursts), &["send:victim"], LimitRequests::default()).await;

    // The victim waits on the gate while a plugin floods it: 4 messages
    // fill its 240 KiB, 6 are refused busy (its depth is 4,096).
    host.send("victim", "block", mp(&())).unwrap();
    assert_eq!(info_after(&host, "gate", 1).await.handled, 1);
    let counts: Vec<i64> = host.call("flooder", "flood", &()).await.unwrap();
    assert_eq!(counts, [4, 0, 6, 0], "accepted, too_large, busy, other");
    let v = info(&host, "victim");
    assert_eq!((v.queued, v.queued_bytes, v.refused), (4, 4 * LEN as u64, 6), "{v:?}");
    let err = host.send("victim", "note", vec![0xc0; LEN]).unwrap_err();
    assert_eq!(err.code, ErrorCode::Busy, "{err}");
    assert!(err.message.contains("its mailbox limit of 245760 bytes"), "{err}");
    assert_echo_answers(&host, "while the victim's mailbox is full").await;

    // Open the gate: the four are handled, and their bytes leave with them.
    let () = host.call("gate", "release", &()).await.unwrap();
    let v = info_after(&host, "victim", 5).await;
    assert_eq!((v.queued, v.queued_bytes), (0, 0), "{v:?}");
    let counted: Vec<i64> = host.call("victim", "count", &()).await.unwrap();
    assert_eq!(counted, [4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_host_subscriber_holds_at_most_its_byte_budget() {
    const MIB: usize = 1 << 20;
    let host = Host::builder()
        .event_bytes(4 * MIB)
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let mut slow = host.subscribe("note").unwrap();
    let bursts = [Burst { topic: "flood", to: "host", len: MIB, count: 10 }];
    load_with(&host, "flooder", &pusher(&bursts), &["send:host"], LimitRequests::default()).await;

    // Sends to the host are never refused to the plugin: what the
    // subscriber has no room for is dropped and counted.
    let counts: Vec<i64> = host.call("flooder", "flood", &()).await.unwrap();
    assert_eq!(counts, [10, 0, 0, 0]);
    let mut got = 0;
    while let Some(event) = slow.try_recv() {
        assert_eq!(event.payload.len(), MIB);
        got += 1;
    }
    assert_eq!(got, 4, "events kept for the slow subscriber");
    assert_eq!(host.metrics().dead_letters, 6);
    // Once drained, it has room again.
    let counts: Vec<i64> = host.call("flooder", "flood", &()).await.unwrap();
    assert_eq!(counts, [10, 0, 0, 0]);
    let mut again = 0;
    while slow.try_recv().is_some() {
        again += 1;
    }
    assert_eq!(again, 4);
}

// ---- 16. timers that fill the mailbox, and the lines that follows ---------

/// `arm`: 64 intervals of 1 ms with `len`-byte payloads, answering
/// `[set, too_large, other]`. `sleep`: blocks for `nap`. `disarm`: cancels
/// them. Its timer events are not looked at.
struct Ticker {
    len: usize,
    nap: Duration,
    ids: Vec<u64>,
}

impl Plugin for Ticker {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "arm" => {
                let payload = ByteBuf::from(vec![7u8; self.len]);
                let mut counts = [0i64; 3];
                for _ in 0..64 {
                    match ctx.set_interval(1, "tick", &payload) {
                        Ok(id) => {
                            self.ids.push(id);
                            counts[0] += 1;
                        }
                        Err(e) if e.code == ErrorCode::TooLarge => counts[1] += 1,
                        Err(_) => counts[2] += 1,
                    }
                }
                Reply::encode(&counts)
            }
            "sleep" => {
                std::thread::sleep(self.nap);
                Ok(Reply::empty())
            }
            "disarm" => {
                for id in self.ids.drain(..) {
                    ctx.cancel_timer(id)?;
                }
                Ok(Reply::empty())
            }
            _ => Ok(Reply::empty()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_store_a_bounded_payload_and_their_refused_events_stay_within_the_log_rate() {
    const KIB: usize = 1 << 10;
    let host = host_with(Limits::default());
    load(&host, Form::Wasm, "echo", "echo").await;
    let mut m = Manifest::new("ticker").expect("valid name");
    m = m.permissions([perm("timers")]).limits(LimitRequests {
        timer_bytes: Some(64 * KIB as u64),
        mailbox_bytes: Some(256 * KIB as u64),
        ..LimitRequests::default()
    });
    host.load(
        Load::in_process(|| Ticker { len: 8 * KIB, nap: Duration::from_secs(1), ids: Vec::new() }).described_by(m),
    )
    .await
    .unwrap();
    let mut audit = host.audit_events();

    // 64 timers of 8 KiB each: the payloads the host keeps for them stop
    // at 64 KiB, so 7 are set (8 KiB and its MessagePack header each).
    let each = mp(&ByteBuf::from(vec![7u8; 8 * KIB])).len();
    let fit = (64 * KIB / each) as i64;
    let counts: Vec<i64> = host.call("ticker", "arm", &()).await.unwrap();
    assert_eq!(counts, [fit, 64 - fit, 0], "set, too_large, other");
    let e = audited(&mut audit, "ticker", is_limit("timer_bytes")).await;
    assert!(e.message.contains("65536"), "{e:?}");

    // It sleeps while they fire every millisecond: its mailbox holds at
    // most 256 KiB of their events, the rest are refused; each refusal is
    // a line on the plugin's log budget (100 a second), not on the host's.
    let started = Instant::now();
    let () = host.call("ticker", "sleep", &()).await.unwrap();
    let i = info(&host, "ticker");
    assert!(i.queued_bytes <= 256 * KIB as u64, "{i:?}");
    assert!(i.refused > 1000, "{i:?}");
    let seconds = started.elapsed().as_secs_f64().ceil() as u64 + 1;
    assert!(i.log_lines <= 100 * (seconds + 1), "{} lines in {seconds} s", i.log_lines);
    assert!(i.log_lines_dropped > 500, "{i:?}");
    let e = audited(&mut audit, "ticker", is_limit("log_rate")).await;
    assert!(e.message.contains("lines dropped"), "{e:?}");
    // A throttle: one report a second at most.
    assert!(logged(&host, "ticker", is_limit("log_rate")).len() as u64 <= seconds + 1);

    let () = host.call("ticker", "disarm", &()).await.unwrap();
    assert_echo_answers(&host, "after the ticker").await;
}
