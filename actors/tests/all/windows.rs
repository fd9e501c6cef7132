//! Windows conventions: library names, where loaded libraries live, and
//! Windows paths at the file-grant boundary. Compiled on Windows only;
//! `scripts/test-windows` runs them under wine (docs/windows.md).
#![cfg(windows)]

use wasp_actors::{Load, Manifest, ManifestKind};
use wasp_protocol::{ErrorCode, Permission};
use wasp_runtime::NativePlugin;
use wasp_runtime::services::guest_dir;

use crate::common::{host, mp};

/// The echo example's manifest, made native with `entry = "echo"`.
fn native_echo_manifest() -> String {
    let wasm = std::fs::read_to_string(wasp_fixtures::manifest_path("echo")).expect("the echo manifest");
    wasp_fixtures::native_manifest(&wasm, "echo")
}

#[test]
fn a_native_entry_without_an_extension_names_a_dll_without_a_prefix() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("plugin.toml"), native_echo_manifest()).expect("writes the manifest");
    let manifest = Manifest::from_file(&dir.path().join("plugin.toml")).expect("parses");
    assert_eq!(manifest.kind, ManifestKind::Native);
    let entry = manifest.entry_path().expect("an entry");
    assert_eq!(entry.file_name().and_then(|n| n.to_str()), Some("echo.dll"));
    assert_eq!(wasp_fixtures::native_file_name("wasp-example-echo"), "wasp_example_echo.dll");
}

#[test]
fn a_dll_is_checked_as_pe_and_loaded_from_a_copy_under_temp() {
    let bytes = std::fs::read(wasp_fixtures::native_library("echo")).expect("the echo DLL");
    assert_eq!(&bytes[..2], b"MZ", "the fixture is a PE file");
    let plugin = NativePlugin::open("echo", "echo.dll", &bytes).expect("opens");
    let copy = plugin.path();
    // Named as whoever loaded these bytes first named them.
    assert!(copy.starts_with(std::env::temp_dir().join("wasp-native")), "{}", copy.display());
    assert!(copy.extension().is_some_and(|e| e == "dll"), "{}", copy.display());
    assert!(std::fs::read(copy).is_ok_and(|copied| copied == bytes), "{}", copy.display());
}

/// Windows refuses to overwrite or delete a loaded DLL: the host loads a
/// copy, so a plugin's own file can be rebuilt while the plugin runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_plugins_dll_can_be_replaced_and_deleted_while_it_runs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("plugin.toml"), native_echo_manifest()).expect("writes the manifest");
    let dll = dir.path().join("echo.dll");
    std::fs::copy(wasp_fixtures::native_library("echo"), &dll).expect("copies the DLL");
    let host = host();
    let plugin = host.load(dir.path()).await.expect("loads");
    assert_eq!(plugin.kind(), "native");
    let back = host.request("echo", "anything", mp("hi")).await.expect("answers");
    assert_eq!(back, mp("hi"));

    std::fs::write(&dll, b"rebuilt").expect("the plugin's file is not locked");
    std::fs::remove_file(&dll).expect("the plugin's file can be deleted");
    let back = host.request("echo", "anything", mp("still here")).await.expect("answers");
    assert_eq!(back, mp("still here"));
    host.shutdown().await;
}

#[test]
fn a_granted_windows_directory_is_seen_under_a_wasi_path() {
    assert_eq!(guest_dir(r"C:\Users\me\notes"), "/C:/Users/me/notes");
    assert_eq!(guest_dir(r"\\server\share\notes"), "//server/share/notes");
    assert_eq!(guest_dir("C:/Users/me"), "/C:/Users/me");
}

/// `journal`'s native form opens files through `fs.resolve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_plugin_reads_a_granted_windows_directory_and_cannot_leave_its_own() {
    let (data, shared) = (tempfile::tempdir().expect("a temp dir"), tempfile::tempdir().expect("a temp dir"));
    std::fs::write(shared.path().join("readme.txt"), "look").expect("writes");
    let host = wasp_actors::Host::builder()
        .data_dir(data.path())
        .policy(wasp_actors::Policy::new().trust("*").expect("a valid rule"))
        .build()
        .expect("host builds");
    let shared_dir = shared.path().to_str().expect("a UTF-8 temp path").to_owned();
    let bundle = wasp_fixtures::native_bundle("journal");
    let manifest = Manifest::from_file(&bundle.join("plugin.toml")).expect("parses");
    host.load(Load::manifest(manifest.permissions([Permission::FsRead(shared_dir.clone())]))).await.expect("loads");

    let readme = format!("{}/readme.txt", guest_dir(&shared_dir));
    assert!(readme.starts_with('/') && !readme.contains('\\'), "{readme}");
    let text: String = host.call("journal", "read_file", &readme).await.expect("reads");
    assert_eq!(text, "look");

    // `\` separates and a drive or server restarts a path on Windows.
    for escape in [r"/data/..\..\readme.txt", r"/data/C:\Windows\win.ini", r"/data/\\server\share\x", "/data/C:x"] {
        let err = host.call::<_, String>("journal", "read_file", escape).await.expect_err(escape);
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{escape}: {err}");
    }
    host.shutdown().await;
}
