//! Reloading a plugin's code: nothing queued is lost, the manifest is read
//! again, a broken build leaves the old code running.

use std::time::Duration;

use wasp_actors::{AuditKind, Error, Host, Load, Manifest};
use wasp_protocol::codec;

use crate::common::{FORMS, Form, bundle_copy, host, load};

async fn work(host: &Host, to: &str, n: u64) -> Result<u64, wasp_protocol::WireError> {
    let reply = host.request(to, "work", codec::to_payload(&n).unwrap()).await?;
    Ok(codec::from_payload(&reply).unwrap())
}

#[cfg(feature = "native")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_across_a_reload_are_all_answered() {
    for form in [Form::Wasm, Form::Native] {
        let host = host();
        let name = format!("spinner-reload-{form:?}").to_lowercase();
        load(&host, form, "spinner", &name).await;
        let expected = work(&host, &name, 2_000).await.unwrap();
        // A queue: every request is in the mailbox before the reload is.
        let mut queued = Vec::new();
        for _ in 0..40 {
            let (host, name) = (host.clone(), name.clone());
            queued.push(tokio::spawn(async move { work(&host, &name, 2_000).await }));
        }
        tokio::task::yield_now().await;
        let reloaded = host.reload(&name).await.unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert_eq!(reloaded.name(), name);
        for handle in queued {
            assert_eq!(handle.await.unwrap().unwrap(), expected, "{form:?}: a queued request was lost");
        }
        // And it answers after the swap.
        assert_eq!(work(&host, &name, 2_000).await.unwrap(), expected);
        assert!(host.audit_log().iter().any(|e| e.plugin == name && e.kind == AuditKind::Reloaded));
        host.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reads_a_changed_manifest_and_decides_its_permissions_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle_copy("echo", dir.path());
    let host = host();
    let first = host.load(&path).await.unwrap();
    assert!(!first.granted().iter().any(|p| p.to_string() == "clock"));
    let manifest = std::fs::read_to_string(path.join("plugin.toml")).unwrap();
    let changed =
        manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\"").replace("\"log\"]", "\"log\", \"clock\"]");
    assert_ne!(changed, manifest);
    std::fs::write(path.join("plugin.toml"), changed).unwrap();

    let second = host.reload("echo").await.unwrap();
    assert!(second.granted().iter().any(|p| p.to_string() == "clock"), "{:?}", second.granted());
    let info = host.plugins().into_iter().find(|p| p.name == "echo").unwrap();
    assert_eq!(info.version, "0.2.0");
    assert!(info.permissions.contains(&"clock".to_owned()), "{:?}", info.permissions);
    assert_eq!(host.request("echo", "say", vec![0x01]).await.unwrap(), [0x01]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_build_is_refused_and_the_old_code_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle_copy("counter", dir.path());
    let host = host();
    host.load(&path).await.unwrap();
    let add = |n: u64| codec::to_payload(&n).unwrap();
    host.request("counter", "add", add(5)).await.unwrap();
    std::fs::write(path.join("counter.wasm"), b"\0asm garbage").unwrap();

    let err = host.reload("counter").await.unwrap_err();
    assert!(matches!(err, Error::Runtime(_)), "{err:?}");
    assert!(host.audit_log().iter().any(|e| matches!(e.kind, AuditKind::LoadRefused { .. })));
    // The old instance, with its state, still answers.
    let value: u64 = codec::from_payload(&host.request("counter", "add", add(1)).await.unwrap()).unwrap();
    assert_eq!(value, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_way_of_loading_has_its_way_of_reloading() {
    let host = host();
    // From bytes: only `reload_bytes` knows the new code.
    host.load(Load::bytes(wasp_fixtures::wasm_bytes("echo")).named("echo-bytes")).await.unwrap();
    let err = host.reload("echo-bytes").await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("reload_bytes"), "{err}");
    let swapped = host.reload_bytes("echo-bytes", &wasp_fixtures::wasm_bytes("spinner")).await.unwrap();
    assert_eq!(swapped.kind(), "wasm");
    let pong: String = codec::from_payload(&host.request("echo-bytes", "ping", vec![0xc0]).await.unwrap()).unwrap();
    assert_eq!(pong, "pong", "the spinner's code now answers at the old name");

    // From a manifest value: its entry file is read again.
    let mut manifest = Manifest::from_file(&wasp_fixtures::wasm_bundle("echo").join("plugin.toml")).unwrap();
    manifest.name = "echo-manifest".into();
    host.load(Load::manifest(manifest)).await.unwrap();
    host.reload("echo-manifest").await.unwrap();

    // In process: the code is the app's, so a reload is a restart that
    // hands the state over (the counter keeps its value).
    for form in FORMS.into_iter().filter(|f| *f == Form::InProcess) {
        load(&host, form, "counter", "counter-inproc").await;
        host.request("counter-inproc", "add", codec::to_payload(&3u64).unwrap()).await.unwrap();
        host.reload("counter-inproc").await.unwrap();
        let value: u64 =
            codec::from_payload(&host.request("counter-inproc", "get", vec![0xc0]).await.unwrap()).unwrap();
        assert_eq!(value, 3);
    }
    assert!(matches!(host.reload("ghost").await.unwrap_err(), Error::NotLoaded(_)));
    tokio::time::timeout(Duration::from_secs(30), host.shutdown()).await.unwrap();
}

#[cfg(feature = "native")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_of_a_hybrid_is_not_reloaded_alone() {
    let host = host();
    let hybrid = host.load(wasp_fixtures::hybrid_bundle()).await.unwrap();
    let component = &hybrid.components()[0];
    let err = host.reload(component).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("unload `sysinfo`"), "{err}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ui_folder_must_lie_inside_the_plugins_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle_copy("counter", dir.path());
    std::fs::create_dir_all(path.join("ui")).unwrap();
    let host = host();
    host.load(&path).await.unwrap();
    assert_eq!(host.ui_dir("counter"), Some(std::fs::canonicalize(path.join("ui")).unwrap()));
    // A symbolic link out of the plugin's folder serves nothing.
    std::fs::remove_dir_all(path.join("ui")).unwrap();
    std::os::unix::fs::symlink("/", path.join("ui")).unwrap();
    assert_eq!(host.ui_dir("counter"), None);
    assert_eq!(host.ui_dir("ghost"), None);
}
