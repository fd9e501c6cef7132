//! Unit tests of the source scan.

use super::*;

/// Scans `files` (name, text) written to a temporary crate; the first is the root.
fn scan_files(files: &[(&str, &str)]) -> Vec<Blocker> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    scan(dir.path(), &[dir.path().join(files[0].0)]).expect("scan")
}

fn found(blockers: &[Blocker]) -> Vec<(String, usize, usize, String)> {
    blockers
        .iter()
        .map(|b| {
            let l = b.location.as_ref().expect("location");
            (l.file.clone(), l.line, l.column, b.what.clone())
        })
        .collect()
}

#[test]
fn resolves_use_aliases_to_the_call_site() {
    let src = "\
use std::fs;
use std::fs::File;
use std::{net::TcpStream as Tcp, thread};
use std::io::Write as _;

pub fn run() {
    fs::write(\"a\", b\"x\").ok();
    let _ = File::open(\"a\");
    let _ = Tcp::connect(\"example.com:80\");
    thread::spawn(|| ());
    let fs = 3; // a local named like a module is not confused with it in paths
    let _ = fs;
}
";
    let got = found(&scan_files(&[("src/lib.rs", src)]));
    assert_eq!(
        got,
        vec![
            ("src/lib.rs".into(), 7, 5, "std::fs::write".into()),
            ("src/lib.rs".into(), 8, 13, "std::fs::File::open".into()),
            ("src/lib.rs".into(), 9, 13, "std::net::TcpStream::connect".into()),
            ("src/lib.rs".into(), 10, 5, "std::thread::spawn".into()),
        ]
    );
}

#[test]
fn uses_inside_functions_and_nested_imports_resolve() {
    let src = "\
fn run() {
    use std::process;
    use process::Command;
    Command::new(\"ls\");
}
fn other() {
    Command::new(\"not the std one\");
}
";
    let got = scan_files(&[("src/main.rs", src)]);
    assert_eq!(found(&got), vec![("src/main.rs".into(), 4, 5, "std::process::Command::new".into())]);
    assert_eq!(got[0].kind, BlockerKind::Process);
}

#[test]
fn follows_module_files_and_skips_tests() {
    let lib = "mod store;\n#[cfg(test)]\nmod tests { fn t() { std::fs::remove_file(\"x\").ok(); } }\n";
    let store =
        "mod disk;\npub fn load() { let _ = std::fs::read(\"x\"); }\n#[test]\nfn t() { std::fs::read(\"y\"); }\n";
    let disk = "pub fn save() { println!(\"{:?}\", std::fs::write(\"x\", \"\")); }\n";
    let got = found(&scan_files(&[("src/lib.rs", lib), ("src/store.rs", store), ("src/store/disk.rs", disk)]));
    assert_eq!(
        got,
        vec![
            ("src/store.rs".into(), 2, 25, "std::fs::read".into()),
            ("src/store/disk.rs".into(), 1, 34, "std::fs::write".into()),
        ]
    );
}

#[test]
fn finds_extern_blocks_their_calls_and_ffi_crates() {
    let src = "\
unsafe extern \"C\" {
    fn getpid() -> i32;
}
use libc::*;
pub fn pid() -> i32 {
    unsafe { getpid() }
}
";
    let got = found(&scan_files(&[("src/lib.rs", src)]));
    assert_eq!(
        got,
        vec![
            ("src/lib.rs".into(), 1, 1, "extern \"C\" { getpid }".into()),
            ("src/lib.rs".into(), 4, 11, "use libc::*".into()),
            ("src/lib.rs".into(), 6, 14, "getpid (extern \"C\" function)".into()),
        ]
    );
}

#[test]
fn a_missing_module_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/lib.rs"), "mod gone;\n").expect("write");
    let err = scan(dir.path(), &[dir.path().join("src/lib.rs")]).expect_err("missing module");
    assert!(err.to_string().contains("module `gone`"), "{err}");
    assert!(err.to_string().contains("src/lib.rs:1:5"), "{err}");
}

fn what(blockers: &[Blocker]) -> Vec<(usize, String)> {
    blockers.iter().map(|b| (b.location.as_ref().expect("location").line, b.what.clone())).collect()
}

#[test]
fn type_aliases_of_std_types_resolve() {
    let src = "\
use std::time::SystemTime;
type Stamp = SystemTime;
pub fn now() -> Stamp {
    Stamp::now()
}
";
    assert_eq!(what(&scan_files(&[("src/lib.rs", src)])), vec![(4, "std::time::SystemTime::now".into())]);
}

#[test]
fn methods_are_resolved_from_the_receiver_type() {
    let src = "\
use std::path::{Path, PathBuf};
use std::time::Instant;
struct Store { file: PathBuf, started: Instant }
struct Set;
impl Set { fn exists(&self) -> bool { true } }
impl Store {
    fn check(&self, other: &Path) -> bool {
        let set = Set;
        let dir = Path::new(\"x\").join(\"y\");
        let took = Some(self.started).map(|at| at.elapsed());
        println!(\"{:?}\", self.started.elapsed());
        set.exists() && self.file.exists() && other.is_file() && dir.read_dir().is_ok() && took.is_some()
    }
}
";
    let got = what(&scan_files(&[("src/lib.rs", src)]));
    assert_eq!(
        got,
        vec![
            (12, "std::path::PathBuf::exists".into()),
            (12, "std::path::Path::is_file".into()),
            (12, "std::path::PathBuf::read_dir".into()),
            (10, "std::time::Instant::elapsed".into()),
            (11, "std::time::Instant::elapsed".into()),
        ]
    );
    let kinds: Vec<BlockerKind> = scan_files(&[("src/lib.rs", src)]).iter().map(|b| b.kind).collect();
    assert_eq!(kinds, [BlockerKind::Fs, BlockerKind::Fs, BlockerKind::Fs, BlockerKind::Clock, BlockerKind::Clock]);
}

#[test]
fn names_in_type_position_are_not_calls() {
    let src = "\
use std::process::Command;
use std::thread::JoinHandle;
pub struct Worker { handle: Option<JoinHandle<()>> }
pub fn command() -> Option<Command> { None }
impl std::net::ToSocketAddrs for Worker {
    type Iter = std::vec::IntoIter<std::net::SocketAddr>;
    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> { Ok(Vec::new().into_iter()) }
}
";
    assert_eq!(what(&scan_files(&[("src/lib.rs", src)])), vec![]);
}

#[test]
fn trait_methods_that_reach_the_network_are_found() {
    let src = "\
use std::net::ToSocketAddrs;
pub fn resolve(host: &str) -> usize {
    (host, 80).to_socket_addrs().map(|a| a.count()).unwrap_or(0)
}
";
    let got = scan_files(&[("src/lib.rs", src)]);
    assert_eq!(what(&got), vec![(3, ".to_socket_addrs()".into())]);
    assert_eq!(got[0].kind, BlockerKind::Net);
}

#[test]
fn the_crate_s_own_macro_bodies_are_scanned() {
    let src = "\
use std::fs;
macro_rules! save {
    ($path:expr, $text:expr) => {
        fs::write($path, $text).ok()
    };
}
macro_rules! stamp {
    ($t:expr) => { $t.elapsed() };
}
pub fn run() { save!(\"a\", \"b\"); }
";
    let got = what(&scan_files(&[("src/lib.rs", src)]));
    assert_eq!(got, vec![(4, "std::fs::write".into()), (8, ".elapsed()".into())]);
}

#[test]
fn the_process_id_is_not_a_process() {
    let src = "pub fn pid() -> u32 { std::process::id() }\n";
    let got = scan_files(&[("src/lib.rs", src)]);
    assert_eq!(got.len(), 1);
    assert!(got[0].instead.starts_with("a plugin has no process of its own"), "{}", got[0].instead);
}

#[test]
fn crates_that_build_but_fail_are_reported_where_called() {
    let src = "\
use chrono::Utc;
pub fn stamp() -> String {
    let _ = env_logger::try_init();
    let dir = dirs::data_dir();
    let db = rusqlite::Connection::open(\"notes.db\");
    format!(\"{} {:?} {}\", Utc::now(), dir, db.is_ok())
}
";
    let got = what(&scan_files(&[("src/lib.rs", src)]));
    assert_eq!(
        got,
        vec![
            (4, "dirs::data_dir".into()),
            (5, "rusqlite::Connection::open".into()),
            (3, "env_logger::try_init".into()),
            (6, "chrono::Utc::now".into()),
        ]
    );
}

#[test]
fn on_wasip1_files_clocks_and_randomness_work() {
    let src = "\
pub fn run() {
    let _ = std::fs::read(\"/data/x\");
    let _ = std::env::temp_dir();
    let _ = std::time::SystemTime::now();
    let _ = std::thread::spawn(|| ());
}
";
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/lib.rs"), src).expect("write");
    let files = load(dir.path(), &[dir.path().join("src/lib.rs")]).expect("load");
    let index = index(&files);
    let lines = |target| -> Vec<usize> {
        sites(&files, &index, target).iter().map(|s| s.blocker.location.as_ref().expect("place").line).collect()
    };
    assert_eq!(lines(Target::Unknown), [2, 3, 5, 4]);
    assert_eq!(lines(Target::Wasip1), [3, 5]);
}
