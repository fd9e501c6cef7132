//! One test per rewrite, and the code each must leave alone.

use super::*;

const CARGO: &str = "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
                     wasp-sdk = \"0.1\"\ngetrandom = \"0.3\"\nrand = \"0.8\"\nureq = \"2\"\ndirs = \"5\"\n\
                     reqwest = { version = \"0.12\", features = [\"blocking\", \"json\"] }\n";

mod reqwest_rand;

/// Ports a crate whose `src/lib.rs` is `lib`.
fn ported(lib: &str) -> Port {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("Cargo.toml"), CARGO).expect("write");
    std::fs::write(dir.path().join("src/lib.rs"), lib).expect("write");
    port(dir.path()).expect("the crate is ported")
}

fn file<'p>(port: &'p Port, path: &str) -> &'p str {
    port.files.iter().find(|f| f.path == path).map_or("", |f| f.after.as_str())
}

/// A plugin whose `on_message` calls `body_fn`.
fn plugin(extra: &str) -> String {
    format!(
        "use wasp_sdk::prelude::*;\n\n{extra}\n\npub struct P;\n\nimpl Plugin for P {{\n    \
         fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {{\n        \
         match msg.topic {{\n            \"go\" => Reply::encode(&go()),\n            \
         _ => Err(WireError::new(ErrorCode::NotFound, \"no\")),\n        }}\n    }}\n}}\n"
    )
}

#[test]
fn the_clock_comes_from_the_host_and_the_context_is_passed_down() {
    let port = ported(&plugin(
        "fn stamp() -> u64 {\n    std::time::SystemTime::now().elapsed().map_or(0, |d| d.as_secs())\n}\n\nfn go() -> u64 {\n    stamp()\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("fn stamp(ctx: &mut wasp_sdk::Context<'_>) -> u64 {"), "{lib}");
    assert!(
        lib.contains("crate::wasp_port::system_time(ctx).duration_since(crate::wasp_port::system_time(ctx))"),
        "{lib}"
    );
    assert!(port.markers.is_empty(), "{port}");
    assert!(lib.contains("fn go(ctx: &mut wasp_sdk::Context<'_>) -> u64 {\n    stamp(ctx)\n}"), "{lib}");
    assert!(lib.contains("fn on_message(&mut self, ctx: &mut Context<'_>"), "the unused `_ctx` is used now: {lib}");
    assert!(lib.contains("Reply::encode(&go(ctx))"), "{lib}");
    assert!(lib.contains("\nmod wasp_port;\n"), "{lib}");
    assert!(file(&port, "src/wasp_port.rs").contains("pub(crate) fn system_time("));
    assert_eq!(port.permissions, ["clock"]);
    assert!(file(&port, "plugin.toml").contains("permissions = [\"clock\"]"));
}

#[test]
fn a_now_that_is_not_a_clock_is_left_alone() {
    let src = plugin(
        "struct Clock;\nimpl Clock {\n    fn now() -> u64 { 7 }\n}\n\nfn now() -> u64 { 3 }\n\n\
         fn go() -> u64 {\n    Clock::now() + now()\n}",
    );
    let port = ported(&src);
    assert!(port.rewrites.is_empty(), "{:?}", port.rewrites);
    assert!(port.markers.is_empty(), "{:?}", port.markers);
    assert!(port.files.iter().all(|f| f.path != "src/lib.rs"), "the source is untouched");
}

#[test]
fn environment_variables_become_configuration() {
    let port = ported(&plugin(
        "fn go() -> u64 {\n    std::env::var(\"DEMO_LIMIT\").ok().and_then(|v| v.parse().ok()).unwrap_or(10)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("crate::wasp_port::env_var(\"demo_limit\", ctx).ok()"), "{lib}");
    let manifest = file(&port, "plugin.toml");
    assert!(manifest.contains("permissions = [\"config\"]"), "{manifest}");
    assert!(
        manifest.contains("[config]\n# demo_limit = \"…\"  # was the environment variable DEMO_LIMIT"),
        "{manifest}"
    );
}

#[test]
fn randomness_comes_from_the_host() {
    let port = ported(&plugin(
        "fn go() -> u64 {\n    let mut b = [0u8; 8];\n    let _ = getrandom::fill(&mut b);\n    \
         rand::random::<u64>() ^ u64::from_le_bytes(b)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("let _ = crate::wasp_port::fill_random(&mut b, ctx);"), "{lib}");
    assert!(lib.contains("crate::wasp_port::random::<u64>(ctx) ^"), "{lib}");
    let cargo = file(&port, "Cargo.toml");
    assert!(!cargo.contains("getrandom") && !cargo.contains("rand ="), "replaced crates go: {cargo}");
    assert_eq!(port.permissions, ["random"]);
}

#[test]
fn the_plugin_s_folder_becomes_data_through_wasi() {
    let port = ported(&plugin(
        "fn dir() -> std::path::PathBuf {\n    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join(\"demo\")\n}\n\n\
         fn go() -> u64 {\n    std::fs::read(dir().join(\"n\")).map_or(0, |b| b.len() as u64)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("fn dir() -> std::path::PathBuf {\n    std::path::PathBuf::from(\"/data\")\n}"), "{lib}");
    assert!(lib.contains("std::fs::read(dir().join(\"n\"))"), "std::fs stays, through WASI: {lib}");
    assert_eq!(port.target, "wasm32-wasip1");
    assert_eq!(port.permissions, ["fs.write:$DATA"]);
    assert!(
        file(&port, "Cargo.toml").contains("metadata.wasp.target = \"wasm32-wasip1\"")
            || file(&port, "Cargo.toml").contains("[package.metadata.wasp]")
    );
    assert!(port.markers.is_empty(), "{:?}", port.markers);
}

#[test]
fn a_shadowed_fs_is_not_std() {
    let port = ported(&plugin(
        "mod fs {\n    pub fn read(_: &str) -> Vec<u8> { Vec::new() }\n}\n\nfn go() -> u64 {\n    fs::read(\"x\").len() as u64\n}",
    ));
    assert!(port.rewrites.is_empty() && port.markers.is_empty(), "{port}");
}

#[test]
fn blocking_http_goes_through_the_host() {
    let port = ported(&plugin(
        "fn go() -> u64 {\n    ureq::get(\"https://example.com/feed\")\n        .timeout(std::time::Duration::from_secs(5))\n        \
         .call()\n        .map(|r| r.status() as u64)\n        .unwrap_or(0)\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("crate::wasp_port::ureq::get(\"https://example.com/feed\")"), "{lib}");
    assert!(lib.contains(".call(ctx)"), "{lib}");
    assert_eq!(port.permissions, ["net:example.com"]);
}

#[test]
fn a_sleeping_thread_becomes_a_timer() {
    let src = "use wasp_sdk::prelude::*;\nuse std::time::Duration;\n\npub struct P { n: std::sync::Arc<std::sync::atomic::AtomicU64> }\n\n\
               fn tick(n: &std::sync::atomic::AtomicU64) {\n    n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);\n}\n\n\
               impl Plugin for P {\n    fn on_load(&mut self, _ctx: &mut Context<'_>) -> Result<(), WireError> {\n        \
               let n = self.n.clone();\n        std::thread::spawn(move || loop {\n            std::thread::sleep(Duration::from_secs(2));\n            \
               tick(&n);\n        });\n        Ok(())\n    }\n\n    \
               fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {\n        \
               Err(WireError::new(ErrorCode::NotFound, msg.topic))\n    }\n}\n";
    let port = ported(src);
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("ctx.set_interval(2000, \"timer.tick\", &())?;"), "{lib}");
    assert!(lib.contains("impl P {\n    /// The work of the thread `on_load` started, run by the timer `timer.tick`.\n    \
                          fn tick_on_timer(&mut self, ctx: &mut wasp_sdk::Context<'_>) -> Result<(), wasp_sdk::WireError> {\n        \
                          let n = self.n.clone();\n        tick(&n);\n        Ok(())\n    }\n}"), "{lib}");
    assert!(lib.contains("msg.topic == \"timer.tick\" {\n            self.tick_on_timer(ctx)?;"), "{lib}");
    assert!(!lib.contains("let n = self.n.clone();\n        ctx.set_interval"), "the capture went from on_load: {lib}");
    assert_eq!(port.permissions, ["timers"]);
}

#[test]
fn a_thread_with_a_stop_flag_needs_a_decision() {
    let src = plugin(
        "fn go() -> u64 {\n    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));\n    \
         std::thread::spawn(move || while !stop.load(std::sync::atomic::Ordering::Relaxed) {\n        \
         std::thread::sleep(std::time::Duration::from_millis(5));\n    });\n    0\n}",
    );
    let port = ported(&src);
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("    // wasp port: std::thread::spawn (threads (std::thread)): no threads:"), "{lib}");
    assert!(port.needs_decisions());
}

#[test]
fn a_url_opener_becomes_an_event_for_the_app() {
    let port = ported(&plugin(
        "fn open(url: &str) -> bool {\n    std::process::Command::new(\"xdg-open\").arg(url).status().map_or(false, |s| s.success())\n}\n\n\
         fn go() -> bool {\n    open(\"https://example.com\")\n}",
    ));
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("crate::wasp_port::open_url(url, \"demo.open\", ctx).map_or(false"), "{lib}");
    assert_eq!(port.permissions, ["publish:demo.open", "ui:demo.open"]);
    assert!(port.markers.is_empty(), "{port}");
}

#[test]
fn other_programs_and_c_are_left_with_a_marker() {
    let src = plugin(
        "unsafe extern \"C\" {\n    fn getpid() -> i32;\n}\n\n\
         fn go() -> bool {\n    let _ = unsafe { getpid() };\n    std::process::Command::new(\"ls\").status().is_ok()\n}",
    );
    let port = ported(&src);
    let lib = file(&port, "src/lib.rs");
    assert!(lib.contains("    // wasp port: std::process::Command::new (processes (std::process)): no processes: keep this part native in a hybrid plugin"), "{lib}");
    assert!(lib.contains("// wasp port: extern \"C\" { getpid }"), "{lib}");
    assert_eq!(port.markers.len(), 3, "{port}");
    // Run again on the result: nothing is marked twice.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("Cargo.toml"), CARGO).expect("write");
    std::fs::write(dir.path().join("src/lib.rs"), lib).expect("write");
    let again = port_dir(dir.path());
    assert!(again.files.iter().all(|f| f.path != "src/lib.rs"), "{}", again.diff());
}

fn port_dir(dir: &std::path::Path) -> Port {
    port(dir).expect("ported")
}

#[test]
fn a_macro_body_and_a_context_free_caller_keep_their_clock_with_a_marker() {
    let src = plugin(
        "macro_rules! stamp {\n    () => { std::time::SystemTime::now() };\n}\n\n\
         pub struct Made(std::time::SystemTime);\n\nimpl Default for Made {\n    fn default() -> Self {\n        Made(made_at())\n    }\n}\n\n\
         fn made_at() -> std::time::SystemTime {\n    std::time::SystemTime::now()\n}\n\n\
         fn go() -> u64 {\n    let _ = stamp!();\n    println!(\"{:?}\", std::time::SystemTime::now());\n    0\n}",
    );
    let port = ported(&src);
    let lib = file(&port, "src/lib.rs");
    // In `println!`'s arguments: rewritten.
    assert!(lib.contains("println!(\"{:?}\", crate::wasp_port::system_time(ctx));"), "{lib}");
    // In a macro's body, and where `Default::default` has no `Context`: marked, unchanged.
    assert!(lib.contains("    // wasp port: std::time::SystemTime::now (clocks (std::time))"), "{lib}");
    assert!(lib.contains("    () => { std::time::SystemTime::now() };"), "{lib}");
    assert!(lib.contains("fn made_at() -> std::time::SystemTime {\n    // wasp port:"), "{lib}");
    assert_eq!(port.markers.len(), 2, "{port}");
}

#[test]
fn a_crate_that_is_not_there_is_an_error() {
    let err = port(std::path::Path::new("/no/such/crate")).expect_err("no crate");
    assert!(err.to_string().contains("does not exist"), "{err}");
}
