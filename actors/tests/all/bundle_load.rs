//! The bundle loader under proptest: plugin folders whose `plugin.toml` is
//! put together from valid, odd and hostile lines, and whose files are a
//! real module, a damaged one or garbage. Whatever the folder holds, the
//! load finishes with a plugin that answers or an error with a message, and
//! the host's other plugin keeps answering. The checks live in
//! `bundle_load/case.rs`, which the `bundle_load` fuzz target runs too
//! (`fuzz/README.md`).

#[path = "bundle_load/case.rs"]
mod case;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use case::Bundles;

/// A `plugin.toml` line: mostly well-formed, some hostile.
fn line() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "plugin", "echo", "..", ".", "a..b", ".hidden", "host", "UPPER", "com", "com.acme", "x", "über", "",
    ]);
    let kinds = prop::sample::select(vec!["wasm", "native", "hybrid", "component", "in-process", "nope"]);
    let entries = prop::sample::select(vec![
        "plugin.wasm",
        "logic.wasm",
        "plugin.so",
        "missing.wasm",
        "../plugin.wasm",
        "/etc/passwd",
        "ui",
        "ui/index.html",
        "",
    ]);
    let permissions = prop::sample::select(vec![
        "log",
        "storage",
        "timers",
        "clock",
        "random",
        "config",
        "send:*",
        "request:echo",
        "publish:*",
        "subscribe:*",
        "fs.write:$DATA",
        "fs.read:/",
        "net:localhost",
        "ui:*",
        "bogus:thing",
    ]);
    let sizes = prop::sample::select(vec!["0", "1 B", "64 KiB", "16 MiB", "4 GiB", "-1", "1 ZiB", "lots"]);
    prop_oneof![
        names.clone().prop_map(|n| format!("name = \"{n}\"")),
        Just("version = \"0.1.0\"".to_owned()),
        prop::sample::select(vec!["1.0", "1.1", "1.2", "2.0", "1.99", "x"]).prop_map(|a| format!("api = \"{a}\"")),
        kinds.clone().prop_map(|k| format!("kind = \"{k}\"")),
        entries.clone().prop_map(|e| format!("entry = \"{e}\"")),
        prop::collection::vec(permissions, 0..4).prop_map(|p| format!(
            "permissions = [{}]",
            p.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
        )),
        prop::sample::select(vec!["0", "1", "4", "100000", "-3"]).prop_map(|n| format!("instances = {n}")),
        Just("ui = \"ui\"".to_owned()),
        Just("uses = [\"json@1\"]".to_owned()),
        Just("stateless = true".to_owned()),
        (prop::sample::select(vec!["memory", "message_size", "storage_quota"]), sizes)
            .prop_map(|(k, v)| format!("[limits]\n{k} = \"{v}\"")),
        Just("[config]\nkey = [[[[[[1]]]]]]".to_owned()),
        (names, kinds, entries)
            .prop_map(|(n, k, e)| format!("[[components]]\nname = \"{n}\"\nkind = \"{k}\"\nentry = \"{e}\"")),
        "[ -~]{0,40}",
    ]
}

/// A manifest: a valid head most of the time, then generated lines.
fn manifest() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        3 => Just("name = \"plugin\"\nversion = \"0.1.0\"\napi = \"1.0\"\nentry = \"plugin.wasm\"\n".to_owned()),
        1 => Just(String::new()),
    ];
    // Enough inputs stay well-formed (no extra line, no garbled byte) that
    // some load: about 8 % of them, so 96 cases miss both outcomes with a
    // chance below one in a thousand (with no line 2 times in 5 and a garbled
    // byte 1 time in 4; before, 1 in 6 and 1 in 2 loaded about 2.7 %, and
    // runs with none loaded came up).
    let lines = prop_oneof![2 => Just(Vec::new()), 3 => prop::collection::vec(line(), 1..6)];
    let garble = prop::sample::select(vec![false, false, false, true]);
    (head, lines, garble).prop_map(|(head, lines, garble)| {
        let mut text = head.into_bytes();
        for l in lines {
            text.extend_from_slice(l.as_bytes());
            text.push(b'\n');
        }
        if garble && !text.is_empty() {
            // A byte that is not UTF-8 in the middle.
            let at = text.len() / 2;
            text[at] = 0xff;
        }
        text
    })
}

/// The files' body: the bystander's module as it is, cut short, with bytes
/// changed, or garbage.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let module = wat::parse_str(case::ECHO_WAT).expect("echo assembles");
    let whole = module.clone();
    let cut = module.clone();
    let flipped = module;
    prop_oneof![
        3 => Just(whole),
        2 => (0..cut.len()).prop_map(move |n| cut[..n].to_vec()),
        3 => prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8).prop_map(move |edits| {
            let mut bytes = flipped.clone();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            bytes
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

#[test]
fn any_bundle_loads_or_is_refused_with_a_message() {
    let rt = case::runtime();
    let dir = tempfile::tempdir().unwrap();
    let bundles = rt.block_on(Bundles::start(dir.path()));
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(96);
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    let result = TestRunner::new(config).run(&(manifest(), body()), |(manifest, body)| {
        let data = case::join(&manifest, &body);
        rt.block_on(bundles.check(&data))
            .map_err(|e| TestCaseError::fail(format!("{e}\nplugin.toml:\n{}", String::from_utf8_lossy(&manifest))))
    });
    rt.block_on(bundles.host.shutdown());
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator reaches both outcomes, or the test proves little.
    let (loaded, refused) = (bundles.loaded.into_inner(), bundles.refused.into_inner());
    assert!(loaded > 0 && refused > 0, "{loaded} bundles loaded and {refused} were refused");
}

#[test]
fn the_input_format_round_trips() {
    let data = case::join(b"name = \"x\"", b"\0asm");
    assert_eq!(case::split(&data), (&b"name = \"x\""[..], &b"\0asm"[..]));
    // Short and lying inputs split without panicking.
    assert_eq!(case::split(&[]), (&[][..], &[][..]));
    assert_eq!(case::split(&[0xff, 0xff, b'a']), (&b"a"[..], &[][..]));
}
