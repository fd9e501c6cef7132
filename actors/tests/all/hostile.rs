//! Hostile plugins: every attack is contained, its author (or its caller)
//! gets a clear error, the host audits it, and no other plugin loses an
//! answer.
//!
//! One test per attack, grouped by theme. The offenders are WAT modules
//! written against `docs/abi.md` ([`plugins`]), or the `spinner` example.
//! Several use the [`probe`] harness: a plugin that runs a list of host calls
//! and answers each call's status together with what the result slot then
//! holds. The set-up shared by every test is here.

mod abi;
mod bundles;
mod cpu_and_memory;
mod deep;
mod floods;
mod hoarding;
mod identity;
mod names;
mod panels;
mod plugins;
mod probe;
mod quarantine;
mod queues;
mod reach;

use std::time::Duration;

use tokio::sync::broadcast;
use wasp_actors::{
    AuditEvent, AuditKind, Host, LimitRequests, Limits, Load, Manifest, ManifestKind, Permission, Policy,
};
use wasp_protocol::ErrorCode;

use crate::common::mp;

// ---- set-up ---------------------------------------------------------------

/// A host with `limits` that grants every manifest what it asks for and
/// gives up on a request after 5 s.
fn host_with(limits: Limits) -> Host {
    Host::builder()
        .limits(limits)
        .request_timeout(Duration::from_secs(5))
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds")
}

/// Loads a WASM test plugin whose manifest asks for exactly `permissions`
/// and `limits`.
async fn load_with(host: &Host, name: &str, bytes: &[u8], permissions: &[&str], limits: LimitRequests) {
    let mut m = Manifest::new(name).expect("valid name");
    m.kind = ManifestKind::Wasm;
    let m = m.permissions(permissions.iter().map(|p| perm(p))).limits(limits);
    host.load(Load::bytes(bytes).described_by(m)).await.unwrap_or_else(|e| panic!("load {name}: {e}"));
}

fn perm(text: &str) -> Permission {
    text.parse().expect("valid permission")
}

/// The healthy bystander, `echo`, answers three fresh requests correctly.
async fn assert_echo_answers(host: &Host, when: &str) {
    for i in 0..3u32 {
        let payload = mp(&(when, i));
        let reply = host.request("echo", "ping", payload.clone()).await;
        assert_eq!(reply.as_deref(), Ok(&payload[..]), "the echo stopped answering {when}");
    }
}

/// The next audit event about `plugin` whose kind satisfies `pred`,
/// waiting at most 5 s (fault and restart events are recorded just after
/// the caller's answer is sent).
async fn audited(
    rx: &mut broadcast::Receiver<AuditEvent>,
    plugin: &str,
    pred: impl Fn(&AuditKind) -> bool,
) -> AuditEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Ok(e) if e.plugin == plugin && pred(&e.kind) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("audit stream closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching audit event about `{plugin}` within 5 s"))
}

/// The audit events about `plugin` recorded so far whose kind satisfies `pred`.
fn logged(host: &Host, plugin: &str, pred: impl Fn(&AuditKind) -> bool) -> Vec<AuditEvent> {
    host.audit_log().into_iter().filter(|e| e.plugin == plugin && pred(&e.kind)).collect()
}

fn is_fault(code: ErrorCode) -> impl Fn(&AuditKind) -> bool {
    move |k| *k == AuditKind::Fault { code }
}

fn is_invalid_call(call: &'static str) -> impl Fn(&AuditKind) -> bool {
    move |k| matches!(k, AuditKind::InvalidCall { call: c } if c == call)
}

fn is_limit(limit: &'static str) -> impl Fn(&AuditKind) -> bool {
    move |k| matches!(k, AuditKind::LimitExceeded { limit: l } if l == limit)
}

fn is_denial(permission: &str) -> impl Fn(&AuditKind) -> bool {
    let permission = perm(permission);
    move |k| *k == AuditKind::PermissionDenied { permission: permission.clone() }
}
