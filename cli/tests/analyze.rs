//! The migration analyzer on the example crates of `examples/migration`:
//! `legacy` has known blockers, `ported` has none.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wasp_cli::AnalyzeError;
use wasp_cli::analyze::{AnalyzeOptions, Blocker, BlockerKind, Location, Report, analyze};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/migration").join(name)
}

/// The full analysis of `legacy` (with the build check), run once.
fn legacy() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| analyze(&example("legacy"), &AnalyzeOptions::default()).expect("legacy is analyzed"))
}

/// Where `needle` is in the only line of `file` (in `legacy`) holding `line_text`.
fn position(file: &str, line_text: &str, needle: &str) -> Location {
    let text = std::fs::read_to_string(example("legacy").join(file)).expect("source");
    let hits: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| l.contains(line_text)).collect();
    assert_eq!(hits.len(), 1, "`{line_text}` should be on exactly one line of {file}");
    let (index, line) = hits[0];
    let column = line.find(needle).unwrap_or_else(|| panic!("`{needle}` is not in `{line}`"));
    Location { file: file.to_owned(), line: index + 1, column: line[..column].chars().count() + 1 }
}

fn find<'r>(report: &'r Report, kind: BlockerKind, what: &str) -> &'r Blocker {
    report
        .blockers
        .iter()
        .find(|b| b.kind == kind && b.what == what)
        .unwrap_or_else(|| panic!("no {kind:?} blocker `{what}` in:\n{report}"))
}

#[test]
fn legacy_reports_each_known_blocker_at_its_line() {
    let report = legacy();
    let expected = [
        (BlockerKind::Fs, "std::fs::write", "std::fs::write(&path, text)", "std::fs::write"),
        (BlockerKind::Fs, "std::fs::read_to_string", "std::fs::read_to_string(&path)", "std::fs"),
        (BlockerKind::Fs, "std::env::temp_dir", "std::env::temp_dir()", "std::env"),
        (BlockerKind::Net, "std::net::TcpStream::connect", "TcpStream::connect(&address)", "TcpStream"),
        (BlockerKind::Thread, "std::thread::spawn", "std::thread::spawn(move", "std::thread"),
        (BlockerKind::Process, "std::process::Command::new", "std::process::Command::new(program)", "std::"),
        (BlockerKind::Ffi, "extern \"C\" { getpid }", "unsafe extern \"C\" {", "unsafe"),
        (BlockerKind::Ffi, "getpid (extern \"C\" function)", "unsafe { getpid() }", "getpid"),
        (BlockerKind::Env, "std::env::var", "std::env::var(\"WASP_BOOKMARKS_MAX\")", "std::env::var"),
        (BlockerKind::Clock, "std::time::SystemTime::now", "SystemTime::now()", "SystemTime"),
        (BlockerKind::Random, "getrandom::fill", "getrandom::fill(&mut bytes)", "getrandom"),
    ];
    for (kind, what, line, needle) in expected {
        let blocker = find(report, kind, what);
        assert_eq!(blocker.location, Some(position("src/lib.rs", line, needle)), "{what}");
        assert!(!blocker.instead.is_empty(), "{what} says what to use instead");
    }
    // Suggestions name the wasp service and its permission.
    assert!(find(report, BlockerKind::Fs, "std::fs::write").instead.contains("`ctx.kv_set`"));
    assert!(find(report, BlockerKind::Fs, "std::fs::write").instead.contains("`storage`"));
    let net = &find(report, BlockerKind::Net, "std::net::TcpStream::connect").instead;
    assert!(net.contains("`ctx.http`") && net.contains("`net:<host>`"), "{net}");
    assert!(find(report, BlockerKind::Thread, "std::thread::spawn").instead.contains("`timers`"));
    assert!(find(report, BlockerKind::Random, "getrandom::fill").instead.contains("`ctx.random_bytes(len)`"));
    assert!(find(report, BlockerKind::Process, "std::process::Command::new").instead.contains("hybrid plugin"));
}

#[test]
fn legacy_tests_and_platform_checks_are_not_reported() {
    let report = legacy();
    let tests_start = position("src/lib.rs", "mod tests {", "mod").line;
    let in_tests: Vec<&Blocker> = report
        .blockers
        .iter()
        .filter(|b| b.location.as_ref().is_some_and(|l| l.file == "src/lib.rs" && l.line > tests_start))
        .collect();
    assert!(in_tests.is_empty(), "{in_tests:#?}");
    // `cfg!(windows)` names a platform, not the `windows` crate.
    assert!(report.blockers.iter().all(|b| b.what != "windows"), "{report}");
}

#[test]
fn legacy_dependency_check_names_getrandom() {
    let report = legacy();
    let check = report.wasm_check.as_ref().expect("the check ran");
    assert_eq!(check.target, "wasm32-unknown-unknown");
    assert!(!check.passed);
    let deps: Vec<&Blocker> = report.blockers.iter().filter(|b| b.kind == BlockerKind::Dependency).collect();
    assert_eq!(deps.len(), 1, "{report}");
    assert!(deps[0].what.starts_with("getrandom v0.3."), "{}", deps[0].what);
    let manifest = std::fs::read_to_string(example("legacy/Cargo.toml")).expect("manifest");
    let line = manifest.lines().position(|l| l.starts_with("getrandom")).expect("getrandom is declared") + 1;
    assert_eq!(deps[0].location, Some(Location { file: "Cargo.toml".into(), line, column: 1 }));
    let detail = deps[0].detail.as_deref().expect("a detail");
    assert!(detail.starts_with("via wasp-example-legacy -> getrandom: error: "), "{detail}");
    assert!(deps[0].instead.contains("`ctx.random_bytes(len)`"));
    assert!(!report.is_clean());
}

#[test]
fn legacy_text_report_has_one_line_per_finding() {
    let report = legacy();
    let text = report.to_string();
    assert!(text.starts_with(&format!("wasp-example-legacy: {} things block WebAssembly\n", report.blockers.len())));
    let write = position("src/lib.rs", "std::fs::write(&path, text)", "std::fs::write");
    let line = text.lines().find(|l| l.contains(&format!("{write} "))).expect("the std::fs::write line");
    assert!(line.contains("std::fs::write") && line.contains("-> `ctx.kv_get`/`ctx.kv_set`"), "{line}");
    assert!(text.contains("\nfiles (std::fs)\n") && text.contains("\nforeign code (FFI)\n"), "{text}");
    assert!(text.ends_with("cargo check --target wasm32-unknown-unknown: failed\n"), "{text}");
}

#[test]
fn ported_has_no_blockers_and_builds_for_wasm32() {
    let report = analyze(&example("ported"), &AnalyzeOptions::default()).expect("ported is analyzed");
    assert_eq!(report.crate_name, "wasp-example-ported");
    assert_eq!(report.blockers, [], "{report}");
    assert_eq!(report.wasm_check.as_ref().map(|c| c.passed), Some(true));
    assert!(report.is_clean());
    assert!(report.to_string().starts_with("wasp-example-ported: nothing found that blocks WebAssembly\n"));
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = example("no-such-crate");
    let err = analyze(&dir, &AnalyzeOptions::default()).expect_err("nothing to analyze");
    assert!(matches!(err, AnalyzeError::NoCrateDir { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("crate directory `{}` does not exist", dir.display()));
}

#[test]
fn a_workspace_or_a_plain_directory_is_not_a_crate() {
    let options = AnalyzeOptions { cargo_check: false, target_dir: None };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let err = analyze(&root, &options).expect_err("the workspace root");
    assert!(matches!(err, AnalyzeError::Workspace { .. }), "{err:?}");
    let err = analyze(&example("legacy/src"), &options).expect_err("a source directory");
    assert!(err.to_string().ends_with("holds no Cargo.toml: it is not a crate directory"), "{err}");
}

#[test]
fn the_source_scan_alone_finds_the_same_code_blockers() {
    let options = AnalyzeOptions { cargo_check: false, target_dir: None };
    let report = analyze(&example("legacy"), &options).expect("legacy is analyzed");
    assert_eq!(report.wasm_check, None);
    let from_code: Vec<&Blocker> = legacy().blockers.iter().filter(|b| b.kind != BlockerKind::Dependency).collect();
    assert_eq!(report.blockers.iter().collect::<Vec<_>>(), from_code);
}

fn wasp(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-wasp")).args(args).output().expect("cargo-wasp runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn the_binary_exits_1_on_blockers_0_without_and_2_on_errors() {
    let legacy = example("legacy");
    let (code, stdout, _) = wasp(&["analyze", legacy.to_str().expect("utf-8"), "--no-check"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("std::fs::write"), "{stdout}");
    assert!(stdout.ends_with("cargo check --target wasm32-unknown-unknown: not run\n"), "{stdout}");

    let ported = example("ported");
    let (code, stdout, stderr) = wasp(&["analyze", ported.to_str().expect("utf-8")]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.ends_with("cargo check --target wasm32-unknown-unknown: passed\n"), "{stdout}");

    let (code, _, stderr) = wasp(&["analyze", "/no/such/crate", "--no-check"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("error: crate directory `/no/such/crate` does not exist"), "{stderr}");

    let (code, _, _) = wasp(&["analyze"]);
    assert_eq!(code, Some(2), "a missing argument is an error");
}

#[test]
fn the_binary_writes_json() {
    let legacy = example("legacy");
    let (code, stdout, _) = wasp(&["analyze", legacy.to_str().expect("utf-8"), "--no-check", "--json"]);
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["crate_name"], "wasp-example-legacy");
    assert!(json["wasm_check"].is_null());
    let write = json["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .find(|b| b["what"] == "std::fs::write")
        .expect("std::fs::write");
    let at = position("src/lib.rs", "std::fs::write(&path, text)", "std::fs::write");
    assert_eq!(write["kind"], "fs");
    assert_eq!(write["location"]["file"], "src/lib.rs");
    assert_eq!(write["location"]["line"], at.line);
    assert_eq!(write["location"]["column"], at.column);
    assert!(write["instead"].as_str().is_some_and(|s| s.contains("ctx.kv_set")));
}

#[test]
fn errors_of_the_crate_itself_are_reported_where_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = "[package]\nname = \"unix-only\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
    std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("manifest");
    std::fs::create_dir(dir.path().join("src")).expect("src");
    let source = "pub fn uid() -> u32 {\n    std::os::unix::process::parent_id()\n}\n";
    std::fs::write(dir.path().join("src/lib.rs"), source).expect("source");

    let report = analyze(dir.path(), &AnalyzeOptions::default()).expect("analyzed");
    assert_eq!(report.wasm_check.as_ref().map(|c| c.passed), Some(false));
    let errors: Vec<&Blocker> = report.blockers.iter().filter(|b| b.kind == BlockerKind::Compile).collect();
    assert!(!errors.is_empty(), "{report}");
    assert!(errors.iter().all(|b| b.location.as_ref().is_some_and(|l| l.file == "src/lib.rs" && l.line == 2)));
    assert!(errors.iter().all(|b| !b.instead.is_empty()));
    assert!(report.blockers.iter().all(|b| b.kind != BlockerKind::Dependency), "{report}");
}

#[path = "migration/recall.rs"]
mod recall;

#[path = "migration/port.rs"]
mod port;
