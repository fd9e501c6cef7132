//! Attacks on a plugin's identity: another module loaded under a name the
//! user once allowed, and a signed bundle changed after it was signed.
//! Remembered decisions belong to an identity (the code's hash, or the
//! trusted publisher key that signed the bundle), never to a name alone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasp_actors::{AskRequest, AuditKind, Decision, Error, Host, IdentityChange, Load, Policy};
use wasp_protocol::ErrorCode;
use wasp_runtime::signature::{PublisherSecret, sign_bundle, unsigned_manifest};

use super::logged;
use crate::common::wat;

/// A minimal plugin; `release` tells builds apart (their bytes differ).
fn module(release: u32) -> Vec<u8> {
    wat(&format!(
        r#"(module (@custom "wasp:abi" "1.0") (memory (export "memory") 1)
             (func (export "wasp_alloc") (param i32) (result i32) i32.const 1024)
             (func (export "wasp_dealloc") (param i32 i32))
             (func (export "wasp_handle") (param i32 i32 i64 i32 i32 i32) (result i32) i32.const 0)
             (global (export "release") i32 (i32.const {release})))"#
    ))
}

const MANIFEST: &str =
    "name = \"notes\"\nversion = \"0.1.0\"\napi = \"1.0\"\nentry = \"notes.wasm\"\npermissions = [\"clock\"]\n";

/// Writes the bundle `dir/notes` with `module` (unsigned); returns its folder.
fn bundle(dir: &Path, module: &[u8]) -> PathBuf {
    let folder = dir.join("notes");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("plugin.toml"), MANIFEST).unwrap();
    std::fs::write(folder.join("notes.wasm"), module).unwrap();
    let _ = std::fs::remove_file(folder.join("plugin.sig"));
    folder
}

/// Signs the bundle in `folder` with `secret`, in a `plugin.sig` beside it.
fn sign(folder: &Path, secret: &PublisherSecret) {
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    let module = std::fs::read(folder.join("notes.wasm")).unwrap();
    let signature = sign_bundle(secret, &unsigned_manifest(&manifest).unwrap(), &[&module]);
    std::fs::write(folder.join("plugin.sig"), format!("{signature}\n")).unwrap();
}

/// A policy that allows what it is asked, and keeps every question.
fn asking(policy: Policy) -> (Policy, Arc<Mutex<Vec<AskRequest>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let policy = policy.ask(move |q| {
        log.lock().unwrap().push(q);
        async { Decision::Allow }
    });
    (policy, asked)
}

fn host_at(policy: Policy, data: &Path) -> Host {
    Host::builder().policy(policy).data_dir(data).no_module_cache().build().unwrap()
}

#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_module_under_a_remembered_name_is_asked_again_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, asked) = asking(Policy::new());
    let host = host_at(policy, &dir.path().join("data"));
    let folder = bundle(dir.path(), &module(1));
    let first = host.load(&folder).await.unwrap();
    assert_eq!(first.granted(), ["clock".parse().unwrap()]);
    assert_eq!(asked.lock().unwrap().len(), 1);
    let question = asked.lock().unwrap()[0].clone();
    assert_eq!(question.identity, first.identity().key());
    assert_eq!(question.previous_identity, None);
    // The same module again: the remembered answer applies.
    host.unload("notes").await.unwrap();
    host.load(&folder).await.unwrap();
    assert_eq!(asked.lock().unwrap().len(), 1, "the same module was asked about again");

    // Another module takes the name: nothing remembered applies to it.
    host.unload("notes").await.unwrap();
    let folder = bundle(dir.path(), &module(2));
    let second = host.load(&folder).await.unwrap();
    assert_ne!(second.identity(), first.identity());
    let questions = asked.lock().unwrap().clone();
    assert_eq!(questions.len(), 2, "the changed module was not asked about: {questions:?}");
    assert_eq!(questions[1].identity, second.identity().key());
    assert_eq!(questions[1].previous_identity.as_deref(), Some(first.identity().key()));
    let changed = logged(&host, "notes", |k| matches!(k, AuditKind::IdentityChanged { .. }));
    assert_eq!(changed.len(), 1, "{:?}", host.audit_log());
    assert_eq!(
        changed[0].kind,
        AuditKind::IdentityChanged {
            previous: first.identity().key().to_owned(),
            current: second.identity().key().to_owned()
        }
    );
    assert!(changed[0].message.contains("changed"), "{}", changed[0].message);
    host.shutdown().await;
    drop(host);

    // Remembered across restarts, per identity: the first module is known
    // again, and a host that refuses changed plugins refuses a third.
    let (policy, asked) = asking(Policy::new().on_changed_identity(IdentityChange::Refuse));
    let host = host_at(policy, &dir.path().join("data"));
    let folder = bundle(dir.path(), &module(3));
    let err = host.load(&folder).await.expect_err("a changed plugin is refused");
    assert!(matches!(err, Error::IdentityChanged { .. }), "{err:?}");
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    assert!(asked.lock().unwrap().is_empty());
    let refused = logged(&host, "notes", |k| matches!(k, AuditKind::LoadRefused { .. }));
    assert_eq!(refused.len(), 1, "{:?}", host.audit_log());
    // Forgetting what was decided lets it in, asked afresh.
    host.forget_decisions("notes").await.unwrap();
    host.load(&folder).await.unwrap();
    assert_eq!(asked.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_publisher_keeps_its_decisions_across_releases() {
    let dir = tempfile::tempdir().unwrap();
    let secret = PublisherSecret::from_bytes([42; 32]);
    let key = secret.public_key().to_string();
    let (policy, asked) = asking(Policy::new().trust_publisher(&key).unwrap());
    let host = host_at(policy, &dir.path().join("data"));
    let folder = bundle(dir.path(), &module(1));
    sign(&folder, &secret);
    let first = host.load(&folder).await.unwrap();
    assert_eq!(first.identity().publisher.as_deref(), Some(key.as_str()));
    assert_eq!(first.identity().key(), key);
    let signed = logged(&host, "notes", |k| matches!(k, AuditKind::Signed { trusted: true, .. }));
    assert_eq!(signed.len(), 1, "{:?}", host.audit_log());
    assert_eq!(asked.lock().unwrap().len(), 1);
    // A new release, signed by the same key: its decisions carry over.
    host.unload("notes").await.unwrap();
    let folder = bundle(dir.path(), &module(2));
    sign(&folder, &secret);
    let second = host.load(&folder).await.unwrap();
    assert_ne!(second.identity().code, first.identity().code);
    assert_eq!(second.granted(), ["clock".parse().unwrap()]);
    assert_eq!(asked.lock().unwrap().len(), 1, "a trusted publisher's release was asked about again");
    // The signature also works as a `signature` line in plugin.toml.
    host.unload("notes").await.unwrap();
    let signature = std::fs::read_to_string(folder.join("plugin.sig")).unwrap();
    std::fs::remove_file(folder.join("plugin.sig")).unwrap();
    let inline = format!("signature = \"{}\"\n{MANIFEST}", signature.trim());
    std::fs::write(folder.join("plugin.toml"), inline).unwrap();
    assert_eq!(host.load(&folder).await.unwrap().identity().key(), key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_changed_after_it_was_signed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = PublisherSecret::from_bytes([7; 32]);
    let (policy, asked) = asking(Policy::new().trust_publisher(&secret.public_key().to_string()).unwrap());
    let host = host_at(policy, &dir.path().join("data"));
    let folder = bundle(dir.path(), &module(1));
    sign(&folder, &secret);
    // Another module behind the publisher's signature.
    std::fs::write(folder.join("notes.wasm"), module(666)).unwrap();
    let err = host.load(&folder).await.expect_err("a tampered module is refused");
    assert!(matches!(err, Error::Signature { .. }), "{err:?}");
    assert!(err.to_string().contains("does not match the bundle"), "{err}");
    assert_eq!(err.code(), ErrorCode::PermissionDenied);
    // A manifest asking for more than was signed.
    std::fs::write(folder.join("notes.wasm"), module(1)).unwrap();
    let more = MANIFEST.replace("[\"clock\"]", "[\"clock\", \"random\"]");
    std::fs::write(folder.join("plugin.toml"), more).unwrap();
    let err = host.load(&folder).await.expect_err("a tampered manifest is refused");
    assert!(matches!(err, Error::Signature { .. }), "{err:?}");
    assert!(asked.lock().unwrap().is_empty(), "a refused bundle was asked about");
    let refused = logged(&host, "notes", |k| *k == AuditKind::LoadRefused { code: ErrorCode::PermissionDenied });
    assert_eq!(refused.len(), 2, "{:?}", host.audit_log());
    assert!(host.plugins().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_requiring_signatures_refuses_unsigned_and_untrusted_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = PublisherSecret::from_bytes([1; 32]);
    let stranger = PublisherSecret::from_bytes([2; 32]);
    let policy = Policy::new().trust("*").unwrap().trust_publisher(&trusted.public_key().to_string()).unwrap();
    let host = host_at(policy.require_signatures(true), &dir.path().join("data"));
    let folder = bundle(dir.path(), &module(1));
    let err = host.load(&folder).await.expect_err("an unsigned bundle is refused");
    assert!(err.to_string().contains("requires signed plugins"), "{err}");
    let err = host.load(Load::bytes(module(1)).named("bytes")).await.expect_err("bytes carry no signature");
    assert!(matches!(err, Error::Signature { .. }), "{err:?}");
    sign(&folder, &stranger);
    let err = host.load(&folder).await.expect_err("a stranger's signature is refused");
    assert!(err.to_string().contains("a key the host does not trust"), "{err}");
    sign(&folder, &trusted);
    let plugin = host.load(&folder).await.expect("a trusted signature loads");
    assert_eq!(plugin.identity().publisher, Some(trusted.public_key().to_string()));
}
