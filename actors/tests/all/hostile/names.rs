//! Names as a weapon: a plugin named `..` (or `.`) reaching out of its data
//! folder, and a hybrid named like another plugin's prefix passing for its
//! sibling.

use std::path::Path;

use wasp_actors::{Error, Host, Limits, Load, Manifest, ManifestKind, PluginRef};
use wasp_example_relay::Forward;
use wasp_protocol::{ErrorCode, WireError};
use wasp_sdk::prelude::*;

use super::{audited, host_with, is_denial, perm};
use crate::common::mp;

/// Names that are path steps, or empty or dotted segments.
const BAD: [&str; 5] = ["..", ".", "a..b", ".a", "a."];

/// A result that must be a refusal of `name` as a name, with nothing loaded.
fn assert_name_refused(host: &Host, how: &str, name: &str, result: Result<PluginRef, Error>) {
    match result {
        Ok(plugin) => panic!("{how}: `{name}` was loaded as `{}`", plugin.name()),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{how} `{name}`: {e}");
            assert!(e.to_string().contains("start with a letter or a digit"), "{how} `{name}`: {e}");
        }
    }
    assert!(host.plugins().is_empty(), "{how} `{name}`: {:?}", host.plugins());
}

fn wasm_manifest(name: &str) -> Manifest {
    let mut m = Manifest::new("placeholder").expect("valid name");
    m.kind = ManifestKind::Wasm;
    // The field is public: the host checks the name itself.
    name.clone_into(&mut m.name);
    m
}

/// A folder holding `echo.wasm` and a `plugin.toml` that names it `name`.
fn bundle(dir: &Path, name: &str) {
    std::fs::copy(wasp_fixtures::wasm_plugin("echo"), dir.join("echo.wasm")).unwrap();
    let toml = format!("name = \"{name}\"\nversion = \"0.1.0\"\napi = \"1.1\"\nentry = \"echo.wasm\"\n");
    std::fs::write(dir.join("plugin.toml"), toml).unwrap();
}

#[derive(Default)]
struct Vault;

impl Plugin for Vault {
    fn on_message(&mut self, _: &mut Context<'_>, _: Message<'_>) -> Result<Reply, WireError> {
        Reply::encode("vault-secret")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotted_names_are_refused_in_every_load_path() {
    let host = host_with(Limits::default());
    let echo = wasp_fixtures::wasm_bytes("echo");
    let prepared = host.prepare(&wasm_manifest("prepared"), &echo).await.expect("prepares");
    let files = tempfile::tempdir().unwrap();
    for name in BAD {
        assert!(Manifest::new(name).is_err(), "Manifest::new(`{name}`)");
        let text = format!("name = \"{name}\"\nversion = \"0.1.0\"\napi = \"1.1\"\nentry = \"echo.wasm\"\n");
        assert!(Manifest::parse(&text).is_err(), "Manifest::parse of `{name}`");

        assert_name_refused(&host, "Load::bytes().named()", name, host.load(Load::bytes(&echo).named(name)).await);
        assert_name_refused(
            &host,
            "Load::bytes().described_by()",
            name,
            host.load(Load::bytes(&echo).described_by(wasm_manifest(name))).await,
        );
        let pool = wasm_manifest(name).instances(2);
        assert_name_refused(&host, "a pool", name, host.load(Load::bytes(&echo).described_by(pool)).await);
        assert_name_refused(
            &host,
            "Load::prepared()",
            name,
            host.load(Load::prepared(&prepared).described_by(wasm_manifest(name))).await,
        );
        assert_name_refused(
            &host,
            "Load::path().named()",
            name,
            host.load(Load::path(wasp_fixtures::wasm_bundle("echo")).named(name)).await,
        );
        assert_name_refused(
            &host,
            "Load::in_process().named()",
            name,
            host.load(Load::in_process(Vault::default).named(name)).await,
        );
        let mut m = Manifest::new("placeholder").unwrap();
        name.clone_into(&mut m.name);
        assert_name_refused(
            &host,
            "Load::in_process().described_by()",
            name,
            host.load(Load::in_process(Vault::default).described_by(m)).await,
        );
        let mut hybrid = Manifest::parse(
            "name = \"placeholder\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"hybrid\"\n\
             [[components]]\nname = \"main\"\nkind = \"wasm\"\nentry = \"main.wasm\"\n\
             [[components]]\nname = \"os\"\nkind = \"wasm\"\nentry = \"os.wasm\"\n",
        )
        .expect("a hybrid manifest");
        name.clone_into(&mut hybrid.name);
        assert_name_refused(&host, "a hybrid", name, host.load(Load::manifest(hybrid)).await);

        // A module file whose stem is the name (`..wasm` is `.`), alone
        // and through `load_all`.
        let file = files.path().join(format!("{name}.wasm"));
        std::fs::write(&file, &echo).unwrap();
        assert_name_refused(&host, "load of a file", name, host.load(&file).await);
        let all = host.load_all([&file]).await;
        assert_name_refused(&host, "load_all", name, all.into_iter().next().expect("one outcome").1);
        // A folder whose plugin.toml names it.
        let dir = tempfile::tempdir().unwrap();
        bundle(dir.path(), name);
        let err = host.load(dir.path()).await.expect_err("a manifest naming it is refused");
        assert!(err.to_string().contains("start with a letter or a digit"), "{err}");
    }
    let stems: Vec<String> = std::fs::read_dir(files.path())
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(stems.iter().any(|s| s == "."), "the file `..wasm` was there to load: {stems:?}");
    // The rule refuses only those: a dotted name with real segments loads.
    host.load(Load::bytes(&echo).named("com.acme.notes")).await.expect("a well-formed dotted name loads");
}

#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_named_dotdot_with_data_write_cannot_touch_the_database() {
    let data = tempfile::tempdir().unwrap();
    let builder =
        || Host::builder().data_dir(data.path()).policy(wasp_actors::Policy::new().trust("*").expect("valid rule"));
    let host = builder().build().expect("host builds");
    let db = data.path().join("wasp.redb");
    let size = std::fs::metadata(&db).expect("the host made its database").len();
    assert!(size > 0);
    // `journal` (a WASI module) asks for `fs.write:$DATA`, whose folder is
    // `<data>/plugins/<name>`: for `..`, the folder holding the database.
    let journal = wasp_fixtures::wasm_bytes("journal");
    let mut attacks = Vec::new();
    for name in ["..", "."] {
        let mut m = Manifest::from_file(&wasp_fixtures::manifest_path("journal")).expect("journal manifest parses");
        assert!(m.permissions.contains(&perm("fs.write:$DATA")));
        name.clone_into(&mut m.name);
        match host.load(Load::bytes(&journal).described_by(m)).await {
            Ok(_) => {
                // What it could do: list the folder, read and truncate the database.
                let listed: Result<Vec<String>, _> = host.call(name, "list", "/data").await;
                let read: Result<String, _> = host.call(name, "read_file", "/data/wasp.redb").await;
                let write = wasp_example_journal::WriteFile { path: "/data/wasp.redb".into(), text: String::new() };
                let wrote: Result<(), _> = host.call(name, "write_file", &write).await;
                attacks.push(format!("`{name}` loaded: list {listed:?}, read {}, write {wrote:?}", read.is_ok()));
            }
            Err(e) => assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}"),
        }
    }
    assert!(attacks.is_empty(), "{attacks:#?}");
    assert!(host.plugins().is_empty());
    host.shutdown().await;
    drop(host);
    assert!(std::fs::metadata(&db).expect("the database is there").len() >= size, "the database was truncated");
    // The next start of the app opens it.
    builder().build().expect("the host builds again on its data directory");
}

/// A one-component hybrid `name`: the relay, asking for nothing.
fn hybrid(dir: &Path, name: &str) {
    std::fs::copy(wasp_fixtures::wasm_plugin("relay"), dir.join("relay.wasm")).unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        format!(
            "name = \"{name}\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"hybrid\"\n\
             [[components]]\nname = \"main\"\nkind = \"wasm\"\nentry = \"relay.wasm\"\n"
        ),
    )
    .unwrap();
}

fn names(host: &Host) -> Vec<String> {
    host.plugins().into_iter().map(|p| p.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hybrid_named_like_another_plugins_prefix_cannot_reach_it() {
    let host = host_with(Limits::default());
    let dir = tempfile::tempdir().unwrap();
    hybrid(dir.path(), "com");
    host.load(Load::in_process(Vault::default).named("com.acme.vault")).await.expect("the vault registers");
    let ask = |to: &str| mp(&Forward::new(to, "secret", &()));

    // The hybrid `com`, granted nothing, would count `com.acme.vault` as a
    // component of its own.
    match host.load(dir.path()).await {
        Ok(_) => {
            let by_request = host.request("com", "forward", ask("com.acme.vault")).await;
            let by_panel = host.request_as("com", "com.acme.vault", "secret", mp(&()), None).await;
            panic!("`com` loaded beside `com.acme.vault`: request → {by_request:?}, panel → {by_panel:?}");
        }
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}");
            assert!(e.to_string().contains("would take the loaded plugin `com.acme.vault`"), "{e}");
        }
    }
    assert_eq!(names(&host), ["com.acme.vault"]);

    // The other order: with the hybrid loaded, nothing may join its namespace.
    host.unload("com.acme.vault").await.unwrap();
    host.load(dir.path()).await.expect("the hybrid loads alone");
    let err = host
        .load(Load::in_process(Vault::default).named("com.acme.vault"))
        .await
        .expect_err("inside the hybrid's namespace");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(err.to_string().contains("namespace of the hybrid plugin `com`"), "{err}");
    let err = host.load(Load::bytes(wasp_fixtures::wasm_bytes("echo")).named("com.x")).await.expect_err("nor a module");
    assert!(err.to_string().contains("namespace of the hybrid plugin `com`"), "{err}");

    // Outside its namespace, a plugin is no sibling: asking needs
    // `request:`, and the refusal is audited, by request and by panel.
    host.load(Load::in_process(Vault::default).named("comet")).await.expect("another name loads");
    let mut audit = host.audit_events();
    let err = host.request("com", "forward", ask("comet")).await.expect_err("no permission");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
    audited(&mut audit, "com", is_denial("request:comet")).await;
    let err = host.request_as("com", "comet", "secret", mp(&()), None).await.expect_err("nor by its panel");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
    // Its own address stays its panel's to use.
    let own = host.request_as("com", "com", "pending", mp(&()), None).await.expect("its own plugin");
    assert_eq!(own, mp(&0u64));
    assert_eq!(names(&host), ["com", "comet"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_hybrid_component_is_remembered_for_the_whole_plugin() {
    let data = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .data_dir(data.path())
        .policy(wasp_actors::Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(wasp_fixtures::wasm_plugin("relay"), dir.path().join("relay.wasm")).unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        "name = \"pair\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"hybrid\"\npermissions = [\"request:echo\"]\n\
         [[components]]\nname = \"front\"\nkind = \"wasm\"\nentry = \"relay.wasm\"\n\
         [[components]]\nname = \"back\"\nkind = \"wasm\"\nentry = \"relay.wasm\"\n",
    )
    .unwrap();
    host.load(dir.path()).await.expect("loads");
    host.revoke("pair.back", "request:echo").await.expect("revoked through a component");
    assert!(host.permissions("pair").unwrap().is_empty(), "one permission set for every component");
    host.unload("pair").await.unwrap();
    let again = host.load(dir.path()).await.expect("loads again");
    assert!(again.granted().is_empty(), "the revocation came back undone: {:?}", again.granted());
    assert_eq!(again.refused(), [perm("request:echo")]);
}
