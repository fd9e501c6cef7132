//! A native plugin written in C from `docs/abi.md` §12 alone: the page's C
//! code is the code in `examples/c`, its declarations have the SDK's
//! layout, and the echo plugin builds with the system C compiler (`$CC`,
//! or `cc` from PATH) and runs on the host.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasp_actors::{Load, Manifest, ManifestKind};
use wasp_protocol::{ApiVersion, ErrorCode, abi};
use wasp_sdk::native::{HostVTable, MAGIC, NativeMessage, PluginVTable, STATUS_PANICKED};

use crate::common::{audit_where, host, info_after, is_denial, mp};

const ABI_MD: &str = include_str!("../../../docs/abi.md");
const ECHO_C: &str = include_str!("../../../examples/c/echo.c");
const HEADER_H: &str = include_str!("../../../examples/c/wasp_native.h");

/// The text of `docs/abi.md` section 12, with Unix line ends.
fn section_12() -> String {
    let page = ABI_MD.replace("\r\n", "\n");
    let rest = page.split("\n## 12.").nth(1).expect("docs/abi.md has a section 12");
    rest.split("\n## ").next().unwrap_or(rest).to_owned()
}

/// The fenced code blocks of section 12 in `language`, in order.
fn blocks(section: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}");
    let mut found = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() != fence {
            continue;
        }
        let mut code = String::new();
        for line in lines.by_ref() {
            if line.trim_end() == "```" {
                break;
            }
            code.push_str(line);
            code.push('\n');
        }
        found.push(code);
    }
    found
}

/// The C blocks of section 12 marked with a line `<!-- examples/c/NAME -->`
/// just before them, as (NAME, code).
fn marked_c_blocks() -> Vec<(String, String)> {
    let section = section_12();
    let mut found = Vec::new();
    let mut lines = section.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(file) = line.trim().strip_prefix("<!-- examples/c/").and_then(|r| r.strip_suffix(" -->")) else {
            continue;
        };
        assert_eq!(lines.peek().map(|l| l.trim_end()), Some("```c"), "the marker of {file} precedes a ```c block");
        let rest: Vec<&str> = lines.clone().collect();
        let code = blocks(&rest.join("\n"), "c").into_iter().next().expect("the block is closed");
        found.push((file.to_owned(), code));
    }
    found
}

/// Where two texts first differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return "only in line ends".into(),
            (x, y) => return format!("line {n}: page has {x:?}, file has {y:?}"),
        }
    }
    unreachable!()
}

#[test]
fn the_c_code_of_the_abi_page_is_the_code_in_examples_c() {
    let marked = marked_c_blocks();
    let names: Vec<&str> = marked.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["wasp_native.h", "echo.c"], "docs/abi.md §12 shows the header, then the plugin");
    for (file, code) in &marked {
        let on_disk = match file.as_str() {
            "wasp_native.h" => HEADER_H,
            "echo.c" => ECHO_C,
            other => panic!("docs/abi.md §12 marks examples/c/{other}, which this test does not know"),
        }
        .replace("\r\n", "\n");
        assert!(
            *code == on_disk,
            "docs/abi.md §12 and examples/c/{file} differ; keep them identical ({})",
            first_difference(code, &on_disk)
        );
    }
}

/// The system C compiler: `$CC` (which may carry arguments), or `cc`.
fn c_compiler() -> (String, Vec<String>) {
    let cc = std::env::var("CC").ok().filter(|cc| !cc.trim().is_empty()).unwrap_or_else(|| "cc".into());
    let mut words = cc.split_whitespace().map(str::to_owned);
    let program = words.next().unwrap_or_else(|| "cc".into());
    (program, words.collect())
}

/// Compiles `source` in `dir` (holding the header too) with `args`; a
/// missing compiler or a failed build fails the test, saying why.
fn compile(dir: &Path, source: &str, args: &[&str]) {
    let (program, leading) = c_compiler();
    let mut cmd = Command::new(&program);
    cmd.args(&leading)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(dir)
        .args(args)
        .arg(dir.join(source));
    let output = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run the C compiler `{program}` ({e}): this test builds the C plugin of docs/abi.md §12 and \
             needs a C compiler — install one (`cc` on PATH, e.g. Debian's build-essential) or point $CC at it"
        )
    });
    assert!(
        output.status.success(),
        "`{cmd:?}` failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Writes the header and `echo.c` to `dir`.
fn write_sources(dir: &Path) {
    std::fs::write(dir.join("wasp_native.h"), HEADER_H).expect("writes the header");
    std::fs::write(dir.join("echo.c"), ECHO_C).expect("writes echo.c");
}

/// Builds `examples/c/echo.c` into `dir` as the library the page's manifest
/// names (`entry = "echo_c"`), as docs/abi.md §12.10 says.
fn build_echo(dir: &Path) -> PathBuf {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    write_sources(dir);
    let library = dir.join(format!("{DLL_PREFIX}echo_c{DLL_SUFFIX}"));
    let out = library.to_str().expect("a UTF-8 temp path");
    let mut args = vec!["-shared", "-O2", "-o", out];
    if !cfg!(windows) {
        args.insert(0, "-fPIC");
    }
    compile(dir, "echo.c", &args);
    library
}

/// The Rust type of a field, as `std::any::type_name` spells it.
fn field_type<S, F>(_field: fn(&S) -> &F) -> &'static str {
    std::any::type_name::<F>()
}

/// The C spelling of one of the ABI's Rust types (as `type_name` spells it).
fn c_type(rust: &str) -> String {
    if let Some(to) = rust.strip_prefix("*const ") {
        return format!("const {} *", c_type(to));
    }
    if let Some(to) = rust.strip_prefix("*mut ") {
        return format!("{} *", c_type(to));
    }
    let c = match rust.rsplit("::").next().unwrap_or(rust) {
        "c_void" => "void",
        "u8" => "uint8_t",
        "i32" => "int32_t",
        "u32" => "uint32_t",
        "i64" => "int64_t",
        "u64" => "uint64_t",
        "usize" => "size_t",
        named @ ("PluginVTable" | "HostVTable" | "NativeMessage") => named,
        other => panic!("no C spelling for the Rust type `{other}`"),
    };
    c.to_owned()
}

/// A C declaration of `name` with the C spelling of a Rust field type.
fn c_declaration(rust: &str, name: &str) -> String {
    if let Some(rest) = rust.strip_prefix("unsafe extern \"C\" fn(") {
        let (params, ret) = rest.split_once(')').expect("a parameter list");
        let ret = ret.strip_prefix(" -> ").map_or_else(|| "void".to_owned(), c_type);
        let params: Vec<String> = params.split(", ").filter(|p| !p.is_empty()).map(c_type).collect();
        let params = if params.is_empty() { "void".to_owned() } else { params.join(", ") };
        return format!("{ret} (*{name})({params})");
    }
    if let Some((element, len)) =
        rust.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.split_once("; "))
    {
        return format!("{} {name}[{len}]", c_type(element));
    }
    format!("{} {name}", c_type(rust))
}

/// A C11 assertion that `c` equals `value`.
fn assert_value(checks: &mut String, c: &str, value: i128) {
    writeln!(checks, "_Static_assert({c} == {value}, \"{c} should be {value}, as in the SDK\");")
        .expect("writes to a string");
}

#[test]
fn the_c_declarations_have_the_layout_types_and_numbers_of_the_sdk() {
    if cfg!(target_pointer_width = "64") {
        // The sizes docs/abi.md §12.2 states.
        assert_eq!((size_of::<PluginVTable>(), size_of::<HostVTable>(), size_of::<NativeMessage>()), (56, 112, 64));
    }
    let mut checks = String::from("#include <stddef.h>\n#include \"wasp_native.h\"\n");
    // Every field: its offset, and its exact type (function signatures included).
    macro_rules! layout {
        ($ty:ident: $($field:ident),+ $(,)?) => {
            assert_value(&mut checks, concat!("sizeof(", stringify!($ty), ")"), size_of::<$ty>() as i128);
            $(
                assert_value(
                    &mut checks,
                    concat!("offsetof(", stringify!($ty), ", ", stringify!($field), ")"),
                    std::mem::offset_of!($ty, $field) as i128,
                );
                let alias = concat!(stringify!($ty), "_", stringify!($field));
                let rust = field_type(|s: &$ty| &s.$field);
                let quoted = rust.replace('"', "\\\"");
                writeln!(
                    checks,
                    "typedef {};\n_Static_assert(_Generic(&(({} *)0)->{}, {alias} *: 1, default: 0), \
                     \"{}.{} should be {quoted}\");",
                    c_declaration(rust, alias),
                    stringify!($ty),
                    stringify!($field),
                    stringify!($ty),
                    stringify!($field),
                )
                .expect("writes to a string");
            )+
        };
    }
    layout!(PluginVTable: magic, abi_major, abi_minor, size, reserved, create, load, handle, destroy);
    layout!(NativeMessage: kind, reserved, id, from, from_len, topic, topic_len, payload, payload_len);
    layout!(HostVTable: size, reserved, ctx, send, publish, subscribe, unsubscribe, request, request_async, reply,
        result_len, result_read, log, panic, call);
    // The entry function's type.
    writeln!(
        checks,
        "typedef {};\n_Static_assert(_Generic(&wasp_native_plugin, entry_fn: 1, default: 0), \"the entry function\");",
        c_declaration(std::any::type_name::<wasp_sdk::native::EntryFn>(), "entry_fn")
    )
    .expect("writes to a string");
    let numbers = [
        ("WASP_ABI_MAJOR", ApiVersion::CURRENT.major.into()),
        ("WASP_ABI_MINOR", ApiVersion::CURRENT.minor.into()),
        ("WASP_STATUS_DONE", abi::status::DONE.into()),
        ("WASP_STATUS_DEFERRED", abi::status::DEFERRED.into()),
        ("WASP_STATUS_PANICKED", STATUS_PANICKED.into()),
        ("WASP_KIND_REQUEST", abi::kind::REQUEST.into()),
        ("WASP_KIND_EVENT", abi::kind::EVENT.into()),
        ("WASP_KIND_REPLY", abi::kind::REPLY.into()),
        ("WASP_KIND_ERROR", abi::kind::ERROR.into()),
        ("WASP_KIND_UNLOAD", abi::kind::UNLOAD.into()),
        ("WASP_KIND_RESTORE", abi::kind::RESTORE.into()),
        ("WASP_LOG_TRACE", abi::level::TRACE.into()),
        ("WASP_LOG_DEBUG", abi::level::DEBUG.into()),
        ("WASP_LOG_INFO", abi::level::INFO.into()),
        ("WASP_LOG_WARN", abi::level::WARN.into()),
        ("WASP_LOG_ERROR", abi::level::ERROR.into()),
    ];
    for (c, value) in numbers {
        assert_value(&mut checks, c, value);
    }
    for code in ErrorCode::ALL {
        assert_value(&mut checks, &format!("WASP_ERR_{}", code.name().to_uppercase()), code.as_u16().into());
    }
    // The magic bytes, in the header and on the page.
    let chars: Vec<String> =
        MAGIC.iter().map(|&b| if b == 0 { "'\\0'".to_owned() } else { format!("'{}'", char::from(b)) }).collect();
    let define = format!("#define WASP_MAGIC {{ {} }}", chars.join(", "));
    assert!(HEADER_H.contains(&define), "the header defines `{define}`");
    let hex: Vec<String> = MAGIC.iter().map(|b| format!("{b:02x}")).collect();
    assert!(section_12().contains(&format!("`{}`", hex.join(" "))), "docs/abi.md §12.2 gives the magic bytes in hex");
    let dir = tempfile::tempdir().expect("a temp dir");
    write_sources(dir.path());
    std::fs::write(dir.path().join("layout.c"), checks).expect("writes layout.c");
    let object = dir.path().join("layout.o");
    compile(dir.path(), "layout.c", &["-c", "-o", object.to_str().expect("a UTF-8 temp path")]);
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    wasp_protocol::codec::from_payload(bytes).expect("decodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_echo_of_the_abi_page_builds_loads_and_answers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let library = build_echo(dir.path());
    let manifests = blocks(&section_12(), "toml");
    assert_eq!(manifests.len(), 1, "docs/abi.md §12.10 shows one manifest");
    std::fs::write(dir.path().join("plugin.toml"), &manifests[0]).expect("writes plugin.toml");

    let host = host();
    let mut audit = host.audit_events();
    let plugin = host.load(dir.path()).await.expect("the C plugin loads");
    assert_eq!(plugin.name(), "echo-c");
    assert_eq!(plugin.kind(), "native");
    assert_eq!(plugin.abi_version(), Some(ApiVersion::CURRENT));

    // Requests are echoed byte for byte, again and again.
    let big = mp(&serde_bytes::ByteBuf::from((0..=255u8).cycle().take(100_000).collect::<Vec<_>>()));
    assert_eq!(host.request("echo-c", "anything", big.clone()).await.expect("echoes"), big);
    assert_eq!(host.request("echo-c", "again", mp("second")).await.expect("echoes"), mp("second"));
    assert_eq!(host.request("echo-c", "empty", Vec::new()).await.expect("echoes"), Vec::<u8>::new());

    // Events are handled without a reply; the instance counts them.
    host.send("echo-c", "tick", mp(&1u8)).expect("sends");
    host.send("echo-c", "tick", mp(&2u8)).expect("sends");
    let events: u64 = decode(&host.request("echo-c", "events", mp(&())).await.expect("answers"));
    assert_eq!(events, 2);

    // A reload hands the count to the new instance: `WASP_KIND_UNLOAD`,
    // then `WASP_KIND_RESTORE` before `load`.
    host.reload("echo-c").await.expect("reloads");
    let events: u64 = decode(&host.request("echo-c", "events", mp(&())).await.expect("answers"));
    assert_eq!(events, 2, "the count survived the reload");

    // An error the plugin reports itself.
    let err = host.request("echo-c", "fail", mp(&())).await.expect_err("fails");
    assert_eq!(err.code, ErrorCode::Plugin, "{err}");
    assert_eq!(err.message, "asked to fail");

    // A host call the manifest does not allow: the code, and the message the
    // plugin read from the result slot.
    let err = host.request("echo-c", "publish", mp("x")).await.expect_err("denied");
    assert_eq!(err.code, ErrorCode::PermissionDenied, "{err}");
    assert!(err.message.contains("publish:echo.seen"), "{}", err.message);
    audit_where(&mut audit, is_denial("echo-c", "publish:echo.seen")).await;

    // A reported panic: answered `plugin_crashed` with its message, and the
    // plugin goes on in a fresh instance (its count starts over).
    let err = host.request("echo-c", "panic", mp(&())).await.expect_err("panics");
    assert_eq!(err.code, ErrorCode::PluginCrashed, "{err}");
    assert!(err.message.contains("native code panicked: asked to panic"), "{}", err.message);
    let events: u64 = decode(&host.request("echo-c", "events", mp(&())).await.expect("restarted"));
    assert_eq!(events, 0);
    assert_eq!(host.request("echo-c", "after", mp("back")).await.expect("echoes"), mp("back"));

    let info = info_after(&host, "echo-c", 12).await;
    assert_eq!((info.faults, info.restarts), (1, 1), "{info:?}");
    assert_eq!(info.denied, 1, "its log lines were allowed; only the publish was denied: {info:?}");

    // The same library without `log`: its `load` logs, and the host refuses
    // the line (so the call reached it).
    let bytes = std::fs::read(&library).expect("reads the library");
    let mut mute = Manifest::new("mute").expect("a valid name");
    mute.kind = ManifestKind::Native;
    host.load(Load::bytes(&bytes).described_by(mute)).await.expect("loads again");
    audit_where(&mut audit, is_denial("mute", "log")).await;
    assert_eq!(host.request("mute", "t", mp("quiet")).await.expect("echoes"), mp("quiet"));
    host.shutdown().await;
}

/// A table declaring ABI 1.0, before native libraries existed.
const ABI_1_0_C: &str = r#"
#include "wasp_native.h"
#include <stdlib.h>

static void *create(void) { return calloc(1, 1); }
static int32_t load(void *plugin, const HostVTable *host) { (void)plugin; (void)host; return 0; }
static int32_t handle(void *plugin, const HostVTable *host, const NativeMessage *msg) {
    (void)plugin; (void)host; (void)msg; return 0;
}
static void destroy(void *plugin) { free(plugin); }

static const PluginVTable TABLE = {
    WASP_MAGIC, 1, 0, sizeof(PluginVTable), 0, create, load, handle, destroy,
};

const PluginVTable *wasp_native_plugin(void) { return &TABLE; }
"#;

/// A table with a NULL `handle`: refused at load, never called.
const NULL_HANDLE_C: &str = r#"
#include "wasp_native.h"
#include <stdlib.h>

static void *create(void) { return calloc(1, 1); }
static int32_t load(void *plugin, const HostVTable *host) { (void)plugin; (void)host; return 0; }
static void destroy(void *plugin) { free(plugin); }

static const PluginVTable TABLE = {
    WASP_MAGIC, 1, 1, sizeof(PluginVTable), 0, create, load, NULL, destroy,
};

const PluginVTable *wasp_native_plugin(void) { return &TABLE; }
"#;

/// Builds a one-file C library named `name` in `dir`; returns its bytes.
fn build_library(dir: &Path, name: &str, source: &str) -> Vec<u8> {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    write_sources(dir);
    std::fs::write(dir.join(format!("{name}.c")), source).expect("writes the source");
    let library = dir.join(format!("{DLL_PREFIX}{name}{DLL_SUFFIX}"));
    let out = library.to_str().expect("a UTF-8 temp path");
    let mut args = vec!["-shared", "-o", out];
    if !cfg!(windows) {
        args.insert(0, "-fPIC");
    }
    compile(dir, &format!("{name}.c"), &args);
    std::fs::read(&library).expect("the library")
}

async fn refused(bytes: &[u8]) -> String {
    let host = crate::common::host();
    let mut manifest = wasp_actors::Manifest::new("refused").expect("a valid name");
    manifest.kind = wasp_actors::ManifestKind::Native;
    let err = host.load(Load::bytes(bytes).described_by(manifest)).await.expect_err("refused");
    assert!(host.plugins().is_empty());
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_a_null_function_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let err = refused(&build_library(dir.path(), "null_handle", NULL_HANDLE_C)).await;
    assert!(err.contains("`handle` function pointer is NULL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_declaring_an_abi_before_native_libraries_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let err = refused(&build_library(dir.path(), "abi_1_0", ABI_1_0_C)).await;
    assert!(err.contains("declares ABI 1.0") && err.contains("from ABI 1.1"), "{err}");
}

/// Two entry functions: the host cannot tell which table is the plugin.
const TWO_ENTRIES_C: &str = r#"
#include "wasp_native.h"

const PluginVTable *wasp_native_plugin(void) { return 0; }
const PluginVTable *wasp_native_plugin_again(void) { return 0; }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_with_two_entries_is_refused_before_it_loads() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let err = refused(&build_library(dir.path(), "two_entries", TWO_ENTRIES_C)).await;
    assert!(err.contains("2 entry functions") && err.contains("wasp_native_plugin_again"), "{err}");
}
