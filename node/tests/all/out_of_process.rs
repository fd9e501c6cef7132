//! A native plugin in a `wasp-node` child process: it answers as in process,
//! its host calls meet the same checks, and when it aborts, segfaults or is
//! killed only its process ends: what it held is answered `plugin_crashed`,
//! it is restarted, and the host runs on.

use std::time::Duration;

use wasp_actors::{AuditKind, Host, Load, Manifest, ManifestKind, Permission, Policy, Supervision};
use wasp_protocol::{ErrorCode, WireError};
use wasp_sdk::prelude::*;

/// An in-process plugin the node's plugin can ask.
#[derive(Default)]
struct Echo;

impl Plugin for Echo {
    fn on_message(&mut self, _: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        Ok(Reply::bytes(msg.payload.to_vec()))
    }
}

fn mp<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    wasp_protocol::codec::to_payload(value).expect("encodes")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    wasp_protocol::codec::from_payload(bytes).expect("decodes")
}

fn library() -> Vec<u8> {
    std::fs::read(wasp_fixtures::native_fixture("wasp-fixture-crasher")).expect("the crasher fixture builds")
}

/// A host that runs `crasher` (and only it) out of process, with quick restarts.
fn host() -> Host {
    builder().build().expect("host builds")
}

fn builder() -> wasp_actors::HostBuilder {
    Host::builder()
        .out_of_process("crasher")
        .node_binary(env!("CARGO_BIN_EXE_wasp-node"))
        .request_timeout(Duration::from_secs(20))
        .supervision(Supervision { backoff_initial: Duration::from_millis(5), ..Supervision::default() })
        .policy(
            Policy::new()
                .allow("crasher", "log")
                .and_then(|p| p.allow("crasher", "request:echo"))
                .and_then(|p| p.allow("local", "log"))
                .and_then(|p| p.allow("local", "request:echo"))
                .and_then(|p| p.allow("crasher", "storage"))
                .expect("valid rules"),
        )
}

/// Loads the crasher as `name`, asking for `log`, `request:echo`,
/// `storage` and `send:echo` (the policy grants all but the last).
async fn load(host: &Host, name: &str) {
    let mut manifest = Manifest::new(name).expect("valid name");
    manifest.kind = ManifestKind::Native;
    manifest.permissions =
        ["log", "request:echo", "send:echo", "storage"].iter().map(|p| p.parse().expect("permission")).collect();
    host.load(Load::bytes(library()).described_by(manifest)).await.expect("the crasher loads");
}

async fn pid(host: &Host, name: &str) -> u32 {
    decode(&host.request(name, "pid", mp(&())).await.expect("answers its pid"))
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_out_of_process_answers_from_its_own_process() {
    let host = host();
    load(&host, "crasher").await;
    let info = host.plugins().into_iter().find(|p| p.name == "crasher").expect("listed");
    assert_eq!(info.kind, "native");
    let back: String = decode(&host.request("crasher", "echo", mp("hello")).await.expect("answers"));
    assert_eq!(back, "hello");
    let node = pid(&host, "crasher").await;
    assert_ne!(node, std::process::id(), "the plugin runs in a process of its own");
    // Its standard output is read (into the host's log), so printing works
    // as in process, again and again.
    for _ in 0..3 {
        let printed: String = decode(&host.request("crasher", "print", mp("a line")).await.expect("prints"));
        assert_eq!(printed, "printed");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_calls_from_the_node_meet_the_same_checks_as_in_process() {
    let host = host();
    host.load(Load::in_process(Echo::default).named("echo")).await.expect("echo registers");
    load(&host, "crasher").await;
    // The same library in the host's own process, for comparison.
    let mut manifest = Manifest::new("local").expect("valid name");
    manifest.kind = ManifestKind::Native;
    manifest.permissions =
        ["log", "request:echo", "send:echo"].iter().map(|p| p.parse().expect("permission")).collect();
    host.load(Load::bytes(library()).described_by(manifest)).await.expect("loads in process");
    let mut audit = host.audit_events();
    for name in ["crasher", "local"] {
        // Permitted: a request to another plugin, through the host's broker.
        let answer: String = decode(&host.request(name, "ask", mp("echo")).await.expect("permitted"));
        assert_eq!(answer, "from the node", "{name}");
        let logged: String = decode(&host.request(name, "log", mp("a line")).await.expect("permitted"));
        assert_eq!(logged, "logged");
    }
    // Denied: `send:echo` was asked for, not granted.
    let remote = host.request("crasher", "send", mp("echo")).await.expect_err("denied");
    let local = host.request("local", "send", mp("echo")).await.expect_err("denied");
    assert_eq!(remote.code, ErrorCode::PermissionDenied, "{remote}");
    assert_eq!(local.code, ErrorCode::PermissionDenied, "{local}");
    assert_eq!(remote.message.replace("crasher", "local"), local.message, "the same refusal");
    // The denial is audited on the host, under the plugin's name.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), audit.recv()).await.expect("audited").expect("open");
        if let AuditKind::PermissionDenied { permission } = &event.kind {
            assert_eq!(permission, &"send:echo".parse::<Permission>().expect("permission"));
            seen.push(event.plugin.clone());
        }
    }
    seen.sort();
    assert_eq!(seen, ["crasher", "local"]);
    // A grant at run time reaches the node with its next message.
    host.grant("crasher", "send:echo").await.expect("grants");
    let sent: String = decode(&host.request("crasher", "send", mp("echo")).await.expect("now permitted"));
    assert_eq!(sent, "sent");
    host.shutdown().await;
}

#[cfg(unix)]
/// Asks the crasher to die by `topic`; checks the caller's answer, the
/// restart, the audit trail and that the host and other plugins run on.
async fn dies_and_comes_back(topic: &str, signal: &str) {
    let host = host();
    host.load(Load::in_process(Echo::default).named("echo")).await.expect("echo registers");
    load(&host, "crasher").await;
    let before = pid(&host, "crasher").await;
    let mut audit = host.audit_events();
    let err = host.request("crasher", topic, mp(&())).await.expect_err("the process dies");
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains(signal), "says how the process ended: {err}");
    assert!(!alive(before), "the node process is gone");
    // The host runs on, and so do its other plugins.
    let back: String = decode(&host.request("echo", "x", mp("still here")).await.expect("the host answers"));
    assert_eq!(back, "still here");
    // Restarted under supervision: a new process answers.
    let after = pid(&host, "crasher").await;
    assert_ne!(after, before, "a new node process");
    let back: String = decode(&host.request("crasher", "echo", mp("again")).await.expect("answers after restart"));
    assert_eq!(back, "again");
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), audit.recv()).await.expect("audited").expect("open");
        if event.plugin == "crasher" {
            kinds.push(event.kind);
        }
    }
    assert_eq!(kinds[0], AuditKind::Fault { code: ErrorCode::PluginCrashed });
    assert!(matches!(kinds[1], AuditKind::Restarted { failures: 1, .. }), "{:?}", kinds[1]);
    let info = host.plugins().into_iter().find(|p| p.name == "crasher").expect("listed");
    assert_eq!(info.restarts, 1);
    host.shutdown().await;
    gone(after).await;
}

/// Waits until the process `pid` has ended.
#[cfg(unix)]
async fn gone(pid: u32) {
    let since = std::time::Instant::now();
    while alive(pid) {
        assert!(since.elapsed() < Duration::from_secs(5), "the node process {pid} outlived its plugin");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_mid_request_ends_only_the_node_and_the_plugin_restarts() {
    dies_and_comes_back("abort", "SIGABRT").await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segfault_mid_request_ends_only_the_node_and_the_plugin_restarts() {
    dies_and_comes_back("segfault", "SIGSEGV").await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_it_holds_a_request_answers_it_and_restarts() {
    let host = host();
    load(&host, "crasher").await;
    let held = tokio::spawn({
        let host = host.clone();
        async move { host.request("crasher", "defer", mp(&())).await }
    });
    // The deferred request is held by the node once a later one is answered.
    let node = pid(&host, "crasher").await;
    let killed = std::process::Command::new("kill").arg("-9").arg(node.to_string()).status().expect("kill runs");
    assert!(killed.success());
    let err = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("answered, not left hanging")
        .expect("task")
        .expect_err("the node died");
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("SIGKILL"), "{err}");
    // Restarted by the supervisor without a request having to fail first.
    let since = std::time::Instant::now();
    loop {
        let info = host.plugins().into_iter().find(|p| p.name == "crasher").expect("listed");
        if info.restarts == 1 {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(10), "the plugin was not restarted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = pid(&host, "crasher").await;
    assert_ne!(after, node);
    host.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_ends_the_node_process() {
    let host = host();
    load(&host, "crasher").await;
    let node = pid(&host, "crasher").await;
    assert!(alive(node));
    host.unload("crasher").await.expect("unloads");
    gone(node).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_stays_out_of_process_in_a_new_node() {
    let host = host();
    load(&host, "crasher").await;
    let before = pid(&host, "crasher").await;
    let plugin = host.reload_bytes("crasher", &library()).await.expect("reloads");
    assert_eq!(plugin.abi_version(), Some(wasp_protocol::ApiVersion::CURRENT), "reported by the node");
    let after = pid(&host, "crasher").await;
    assert_ne!(after, before, "the new code runs in a new node");
    assert_ne!(after, std::process::id(), "and still out of the host's process");
    #[cfg(unix)]
    gone(before).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugins_store_is_the_hosts() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = builder().data_dir(data.path()).build().expect("host builds");
    load(&host, "crasher").await;
    let back: String = decode(&host.request("crasher", "kv", mp("kept")).await.expect("stores and reads back"));
    assert_eq!(back, "kept");
    // A restarted node reaches the same store.
    host.restart("crasher").await.expect("restarts");
    let back: String = decode(&host.request("crasher", "kv", mp("again")).await.expect("answers"));
    assert_eq!(back, "again");
    host.shutdown().await;
    // Without a data directory, as in process: `unavailable`.
    let bare = self::host();
    load(&bare, "crasher").await;
    let err = bare.request("crasher", "kv", mp("x")).await.expect_err("no store");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    bare.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_node_binary_fails_the_load_with_a_clear_error() {
    let host = Host::builder()
        .out_of_process("crasher")
        .node_binary("/nonexistent/wasp-node")
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let mut manifest = Manifest::new("crasher").expect("valid name");
    manifest.kind = ManifestKind::Native;
    let err = host.load(Load::bytes(library()).described_by(manifest)).await.expect_err("no node to run it");
    assert!(err.to_string().contains("/nonexistent/wasp-node"), "{err}");
    host.shutdown().await;
}

/// A `wasp-node` started by hand, as on another machine: `--listen`, the
/// plugin's name as its token, the cookie in its environment.
struct StandaloneNode {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl StandaloneNode {
    fn start(token: &str, cookie: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasp-node"))
            .args(["--token", token, "--listen", "127.0.0.1:0"])
            .env(wasp_actors::node::wire::COOKIE_ENV, cookie)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("wasp-node starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("reads");
        let addr = line
            .trim()
            .strip_prefix(wasp_actors::node::wire::LISTENING)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
        Self { child, addr }
    }
}

impl Drop for StandaloneNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_reaches_a_node_it_did_not_start_and_survives_its_crash() {
    let node = StandaloneNode::start("faraway", "a shared secret");
    let host = Host::builder()
        .remote_node("faraway", node.addr)
        .node_cookie("a shared secret")
        .request_timeout(Duration::from_secs(20))
        .supervision(Supervision {
            backoff_initial: Duration::from_millis(5),
            max_failures: 2,
            ..Supervision::default()
        })
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let mut manifest = Manifest::new("faraway").expect("valid name");
    manifest.kind = ManifestKind::Native;
    host.load(Load::bytes(library()).described_by(manifest.clone())).await.expect("loads in the remote node");
    let back: String = decode(&host.request("faraway", "echo", mp("over there")).await.expect("answers"));
    assert_eq!(back, "over there");
    assert_eq!(pid(&host, "faraway").await, node.child.id(), "it runs in the node we started");
    // Unloading stops the plugin, not the node: it can be loaded again.
    host.unload("faraway").await.expect("unloads");
    host.load(Load::bytes(library()).described_by(manifest)).await.expect("loads again in the same node");
    assert_eq!(pid(&host, "faraway").await, node.child.id());
    // The node dies: what it held is answered, the host runs on.
    let err = host.request("faraway", "abort", mp(&())).await.expect_err("the node dies");
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_a_host_with_the_wrong_cookie() {
    let node = StandaloneNode::start("guarded", "the right secret");
    let host = Host::builder()
        .remote_node("guarded", node.addr)
        .node_cookie("a wrong secret")
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let mut manifest = Manifest::new("guarded").expect("valid name");
    manifest.kind = ManifestKind::Native;
    let err = host.load(Load::bytes(library()).described_by(manifest)).await.expect_err("not authenticated");
    assert!(err.to_string().contains("guarded"), "{err}");
    host.shutdown().await;
}

/// Whether the node closes `stream` within `within` (EOF or a reset).
fn closed_within(mut stream: std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).expect("a timeout");
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_few_unauthenticated_connections_and_still_takes_its_host() {
    let node = StandaloneNode::start("doored", "a shared secret");
    let connect = || std::net::TcpStream::connect(node.addr).expect("connects");
    let held = [connect(), connect()];
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Two wait to authenticate: a third is closed at once.
    assert!(closed_within(connect(), Duration::from_secs(1)), "a third silent connection stayed open");
    // The two are closed once their 5 s are up.
    for stream in held {
        assert!(closed_within(stream, Duration::from_secs(7)), "a silent connection outlived its 5 s");
    }
    // Its host (the cookie) gets in, and stays the only one.
    let host = Host::builder()
        .remote_node("doored", node.addr)
        .node_cookie("a shared secret")
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let mut manifest = Manifest::new("doored").expect("valid name");
    manifest.kind = ManifestKind::Native;
    host.load(Load::bytes(library()).described_by(manifest)).await.expect("loads in the node");
    assert_eq!(pid(&host, "doored").await, node.child.id());
    host.shutdown().await;
}

/// A node that joins another plugin's group (a second `wasp-node` given
/// the same token, holding the cookie) is never mistaken for that
/// plugin's node: the host takes only a member on the connection it dialed
/// to the plugin's address, and fails the load when there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_another_plugins_group_is_not_taken_for_its_node() {
    let real = StandaloneNode::start("victim", "a shared secret");
    let rogue = StandaloneNode::start("victim", "a shared secret");
    let host = Host::builder()
        .remote_node("decoy", rogue.addr)
        .remote_node("victim", real.addr)
        .node_cookie("a shared secret")
        .policy(Policy::new().trust("*").expect("valid rule"))
        .build()
        .expect("host builds");
    let native = |name: &str| {
        let mut manifest = Manifest::new(name).expect("valid name");
        manifest.kind = ManifestKind::Native;
        manifest
    };
    // The host dials the rogue for `decoy`, whose group it never joins;
    // meanwhile its `wasp.node.victim` membership reaches the host.
    let err = host.load(Load::bytes(library()).described_by(native("decoy"))).await.expect_err("no `decoy` node");
    assert!(err.to_string().contains("no node with token `decoy`"), "{err}");
    // The two nodes share a name (it comes from the token), so ractor_cluster
    // keeps one session of the two: either way, never the rogue.
    match host.load(Load::bytes(library()).described_by(native("victim"))).await {
        Ok(_) => assert_eq!(pid(&host, "victim").await, real.child.id(), "it runs in the node at its address"),
        Err(e) => {
            let expected = format!("no node with token `victim` joined from {}", real.addr);
            assert!(e.to_string().contains(&expected), "{e}");
        }
    }
    assert!(host.plugins().iter().all(|p| p.name != "victim") || pid(&host, "victim").await != rogue.child.id());
    host.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_keeps_crashing_is_quarantined_until_lifted() {
    let host = builder()
        .supervision(Supervision {
            backoff_initial: Duration::from_millis(5),
            max_failures: 2,
            ..Supervision::default()
        })
        .build()
        .expect("host builds");
    load(&host, "crasher").await;
    for _ in 0..2 {
        let err = host.request("crasher", "abort", mp(&())).await.expect_err("dies");
        assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    }
    // The caller hears of the crash first; the actor quarantines just after.
    let since = std::time::Instant::now();
    loop {
        let info = host.plugins().into_iter().find(|p| p.name == "crasher").expect("listed");
        if info.state == wasp_actors::PluginState::Quarantined {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(10), "not quarantined: {:?}", info.state);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = host.request("crasher", "echo", mp("x")).await.expect_err("quarantined");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    host.lift_quarantine("crasher").await.expect("lifts");
    let back: String = decode(&host.request("crasher", "echo", mp("back")).await.expect("a new node answers"));
    assert_eq!(back, "back");
    host.shutdown().await;
}

/// A `wasp-node` has no engine to run shared WASM libraries in: a plugin
/// chosen to run out of process that `uses` one is refused at load, by name,
/// and audited; in process the same plugin would be checked as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_out_of_process_cannot_use_shared_libraries_and_is_refused() {
    let host = host();
    let mut manifest = Manifest::new("crasher").expect("valid name");
    manifest.kind = ManifestKind::Native;
    manifest = manifest.uses("json@1".parse().expect("requirement"));
    let err = host.load(Load::bytes(library()).described_by(manifest)).await.expect_err("refused");
    assert!(err.to_string().contains("out of process"), "{err}");
    assert!(host.plugins().is_empty());
    assert!(
        host.audit_log()
            .iter()
            .any(|e| e.plugin == "crasher" && matches!(e.kind, wasp_actors::AuditKind::LoadRefused { .. }))
    );
    host.shutdown().await;
}
