use super::*;
use crate::units::{parse_duration, parse_size};

const FULL: &str = r#"
name = "notes"
version = "0.1.0-beta.2+build.7"
api = "1.1"
kind = "wasm"
entry = "bin/notes.wasm"
description = "Takes notes."
permissions = ["storage", "timers", "publish:notes.*", "request:echo", "storage"]

[limits]
memory = "16 MiB"
table_elements = 10000
message_size = "1MB"
mailbox = 256
mailbox_bytes = "4 MiB"
cpu_budget = "200ms"
outstanding_requests = 64
host_calls_per_second = 1000
log_lines_per_second = 50
storage_quota = 2048
timers = 16
timer_bytes = "64 KiB"

[config]
greeting = "hello"
max_items = 100
ratio = 0.5
enabled = true
tags = ["a", "b"]
since = 1979-05-27T07:32:00Z
nested = { depth = 2, names = ["x"] }
"#;

fn decode<T: serde::de::DeserializeOwned>(m: &Manifest, key: &str) -> T {
    rmp_serde::from_slice(&m.config[key]).unwrap()
}

fn err(text: &str) -> ManifestError {
    Manifest::parse(text).unwrap_err()
}

fn assert_err(text: &str, field: &str, line: usize, phrase: &str) {
    let e = err(text);
    assert_eq!(e.field.as_deref(), Some(field), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert!(e.message.contains(phrase), "{e}");
}

const HEAD: &str = "name = \"notes\"\nversion = \"0.1.0\"\napi = \"1.0\"\n";

#[test]
fn full_manifest_parses_to_exact_values() {
    let m = Manifest::parse(FULL).unwrap();
    assert_eq!(m.name, "notes");
    assert_eq!(m.version, "0.1.0-beta.2+build.7");
    assert_eq!(m.api, ApiVersion::new(1, 1));
    assert_eq!(m.kind, ManifestKind::Wasm);
    assert_eq!(m.entry, Some(PathBuf::from("bin/notes.wasm")));
    assert_eq!(m.description.as_deref(), Some("Takes notes."));
    let expected: Vec<Permission> =
        ["storage", "timers", "publish:notes.*", "request:echo"].iter().map(|p| p.parse().unwrap()).collect();
    assert_eq!(m.permissions, expected);
    assert_eq!(
        m.limits,
        LimitRequests {
            memory: Some(16 << 20),
            table_elements: Some(10_000),
            message_size: Some(1_000_000),
            mailbox: Some(256),
            cpu_budget: Some(Duration::from_millis(200)),
            outstanding_requests: Some(64),
            host_calls_per_second: Some(1000),
            log_lines_per_second: Some(50),
            storage_quota: Some(2048),
            timers: Some(16),
            mailbox_bytes: Some(4 << 20),
            timer_bytes: Some(64 << 10),
        }
    );
    assert_eq!(decode::<String>(&m, "greeting"), "hello");
    assert_eq!(decode::<i64>(&m, "max_items"), 100);
    assert_eq!(decode::<f64>(&m, "ratio"), 0.5);
    assert!(decode::<bool>(&m, "enabled"));
    assert_eq!(decode::<Vec<String>>(&m, "tags"), ["a", "b"]);
    assert_eq!(decode::<String>(&m, "since"), "1979-05-27T07:32:00Z");
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Nested {
        depth: u8,
        names: Vec<String>,
    }
    assert_eq!(decode::<Nested>(&m, "nested"), Nested { depth: 2, names: vec!["x".into()] });
    assert_eq!(m.dir, None);
    assert_eq!(m.entry_path(), Some(PathBuf::from("bin/notes.wasm")));
}

#[test]
fn minimal_manifest_takes_defaults() {
    let m = Manifest::parse(&format!("{HEAD}entry = \"notes.wasm\"\n")).unwrap();
    assert_eq!(m.kind, ManifestKind::Wasm);
    assert_eq!(m.description, None);
    assert!(m.permissions.is_empty());
    assert_eq!(m.limits, LimitRequests::default());
    assert!(m.config.is_empty());
    let m = Manifest::parse(&format!("{HEAD}kind = \"in-process\"\n")).unwrap();
    assert_eq!((m.kind, m.entry), (ManifestKind::InProcess, None));
}

#[test]
fn sizes_and_durations_accept_every_unit() {
    for (text, bytes) in [
        ("7", 7),
        ("7B", 7),
        ("2 KB", 2000),
        ("2kB", 2000),
        ("3 MB", 3_000_000),
        ("1 GB", 1_000_000_000),
        ("2KiB", 2048),
        ("1 MiB", 1 << 20),
        ("4 GiB", 4 << 30),
    ] {
        assert_eq!(parse_size(text).ok(), Some(bytes), "{text}");
    }
    for (text, d) in [
        ("250us", Duration::from_micros(250)),
        ("20ms", Duration::from_millis(20)),
        ("3 s", Duration::from_secs(3)),
        ("2m", Duration::from_secs(120)),
    ] {
        assert_eq!(parse_duration(text).ok(), Some(d), "{text}");
    }
    let m = Manifest::parse(&format!("{HEAD}kind = \"in-process\"\n[limits]\nmemory = 65536\ncpu_budget = 1500\n"))
        .unwrap();
    assert_eq!(m.limits.memory, Some(65536));
    assert_eq!(m.limits.cpu_budget, Some(Duration::from_millis(1500)));
}

#[test]
fn apply_caps_each_field_and_falls_back_to_the_host() {
    let caps = Limits::default();
    assert_eq!(LimitRequests::default().apply(&caps), caps);
    let small = LimitRequests {
        memory: Some(1 << 20),
        table_elements: Some(10),
        message_size: Some(1000),
        mailbox: Some(8),
        cpu_budget: Some(Duration::from_millis(5)),
        outstanding_requests: Some(2),
        host_calls_per_second: Some(3),
        log_lines_per_second: Some(4),
        storage_quota: Some(5),
        timers: Some(6),
        mailbox_bytes: Some(7),
        timer_bytes: Some(8),
    };
    let got = small.apply(&caps);
    let expected = Limits {
        max_memory: 1 << 20,
        max_table_elements: 10,
        max_message_size: 1000,
        mailbox_depth: 8,
        cpu_budget: Duration::from_millis(5),
        max_outstanding_requests: 2,
        host_call_rate: 3,
        log_rate: 4,
        storage_quota: 5,
        max_timers: 6,
        mailbox_bytes: 7,
        timer_bytes: 8,
        ..caps.clone()
    };
    assert_eq!(got, expected);
    let huge = LimitRequests {
        memory: Some(u64::MAX),
        table_elements: Some(u32::MAX),
        message_size: Some(u64::MAX),
        mailbox: Some(usize::MAX),
        cpu_budget: Some(Duration::MAX),
        outstanding_requests: Some(usize::MAX),
        host_calls_per_second: Some(u32::MAX),
        log_lines_per_second: Some(u32::MAX),
        storage_quota: Some(u64::MAX),
        timers: Some(usize::MAX),
        mailbox_bytes: Some(u64::MAX),
        timer_bytes: Some(u64::MAX),
    };
    assert_eq!(huge.apply(&caps), caps);
    let partial = LimitRequests { timers: Some(1), ..LimitRequests::default() }.apply(&caps);
    assert_eq!(partial, Limits { max_timers: 1, ..caps });
}

#[test]
fn missing_keys_are_named() {
    assert_err("version = \"0.1.0\"\napi = \"1.0\"\n", "name", 1, "missing");
    assert_err("name = \"a\"\napi = \"1.0\"\n", "version", 1, "missing");
    assert_err("name = \"a\"\nversion = \"0.1.0\"\n", "api", 1, "missing");
    assert_err(HEAD, "entry", 1, "needs `entry`");
    assert_err(&format!("{HEAD}kind = \"native\"\n"), "entry", 4, "`native` plugin needs `entry`");
}

#[test]
fn wrong_types_are_named_with_their_line() {
    assert_err("name = 5\n", "name", 1, "expected a string");
    assert_err(&format!("{HEAD}api2 = 1\n"), "api2", 4, "unknown key `api2`");
    assert_err("name = \"a\"\nversion = \"0.1.0\"\napi = 1.1\n", "api", 3, "found a float");
    assert_err(&format!("{HEAD}permissions = \"storage\"\n"), "permissions", 4, "expected an array");
    assert_err(&format!("{HEAD}permissions = [\"storage\", 3]\n"), "permissions[1]", 4, "found an integer");
    assert_err(&format!("{HEAD}limits = 3\n"), "limits", 4, "expected a table");
    assert_err(&format!("{HEAD}[limits]\nmailbox = \"many\"\n"), "limits.mailbox", 5, "found a string");
    assert_err(&format!("{HEAD}[limits]\ntimers = -1\n"), "limits.timers", 5, "negative");
    assert_err(&format!("{HEAD}[limits]\ntable_elements = 5000000000\n"), "limits.table_elements", 5, "at most");
    assert_err(&format!("{HEAD}[limits]\nmailbox = 0\n"), "limits.mailbox", 5, "too small");
    assert_err(&format!("{HEAD}config = [1]\n"), "config", 4, "expected a table");
}

#[test]
fn invalid_values_are_named_with_their_line() {
    let e =
        err(&format!("{HEAD}entry = \"a.wasm\"\npermissions = [\n  \"storage\",\n  \"timers\",\n  \"fly:away\",\n]\n"));
    assert_eq!((e.field.as_deref(), e.line, e.column), (Some("permissions[2]"), Some(8), Some(3)));
    assert!(e.message.contains("unknown kind `fly`"), "{e}");
    assert_err("name = \"Notes\"\n", "name", 1, "not a valid plugin name");
    assert_err("name = \"host\"\n", "name", 1, "reserved");
    for name in ["..", ".", "a..b", ".notes", "notes."] {
        assert_err(&format!("name = \"{name}\"\n"), "name", 1, "start with a letter or a digit");
        assert!(Manifest::new(name).is_err(), "{name}");
    }
    assert_err("name = \"a\"\nversion = \"1.0\"\n", "version", 2, "not a version");
    assert_err("name = \"a\"\nversion = \"01.0.0\"\n", "version", 2, "not a version");
    assert_err("name = \"a\"\nversion = \"1.0.0-\"\n", "version", 2, "not a version");
    assert_err("name = \"a\"\nversion = \"0.1.0\"\napi = \"v1\"\n", "api", 3, "not an ABI version");
    assert_err(&format!("{HEAD}kind = \"python\"\n"), "kind", 4, "not a plugin kind");
    let e = err(&format!("{HEAD}entry = \"x.wasm\"\n[limits]\nmemory = \"12 parsecs\"\n"));
    assert_eq!(
        e.to_string(),
        "plugin.toml:6:10: field `limits.memory`: `12 parsecs` is not a size; write bytes or a number \
         with B, KB, MB, GB, KiB, MiB or GiB"
    );
    assert_err(&format!("{HEAD}[limits]\nmemory = \"99999999999 GiB\"\n"), "limits.memory", 5, "too large");
    assert_err(&format!("{HEAD}[limits]\ncpu_budget = \"fast\"\n"), "limits.cpu_budget", 5, "not a duration");
    assert_err(&format!("{HEAD}[limits]\ncpu_budget = \"10h\"\n"), "limits.cpu_budget", 5, "not a duration");
    assert_err(&format!("{HEAD}[limits]\ncpu_budget = 0\n"), "limits.cpu_budget", 5, "too short");
    assert_err(&format!("{HEAD}[limits]\nstack = 1\n"), "limits.stack", 5, "unknown limit `stack`");
    assert_err(&format!("{HEAD}[config]\nbig = 1e999\n"), "config.big", 5, "64-bit float");
}

#[test]
fn entry_must_stay_inside_the_manifest_directory() {
    for (entry, phrase) in [
        ("/usr/lib/x.so", "absolute path"),
        ("\\\\\\\\server\\\\x.dll", "absolute path"),
        ("C:/x.dll", "absolute path"),
        ("../x.wasm", "`..` is not allowed"),
        ("a/../../x.wasm", "`..` is not allowed"),
        ("a\\\\..\\\\x.wasm", "`..` is not allowed"),
        ("", "cannot be empty"),
    ] {
        assert_err(&format!("{HEAD}entry = \"{entry}\"\n"), "entry", 4, phrase);
    }
    assert!(Manifest::parse(&format!("{HEAD}entry = \"a/..b/x.wasm\"\n")).is_ok());
}

#[test]
fn ui_names_a_folder_inside_the_manifest_directory() {
    let mut m = Manifest::parse(&format!("{HEAD}entry = \"x.wasm\"\nui = \"panel/web\"\n")).unwrap();
    assert_eq!(m.ui.as_deref(), Some(std::path::Path::new("panel/web")));
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    m.dir = Some("/plugins/x".into());
    assert_eq!(m.ui_path(), Some(std::path::PathBuf::from("/plugins/x/panel/web")));
    for (ui, phrase) in
        [("/srv/www", "absolute path"), ("../shared", "`..` is not allowed in `ui`"), ("", "cannot be empty")]
    {
        assert_err(&format!("{HEAD}entry = \"x.wasm\"\nui = \"{ui}\"\n"), "ui", 5, phrase);
    }
    assert_err(&format!("{HEAD}entry = \"x.wasm\"\nui = 3\n"), "ui", 5, "a string");
}

#[test]
fn syntax_errors_have_a_line_and_a_guessed_field() {
    let e = err("name = \"notes\"\nversion = \"0.1.0\nkind = \"wasm\"\n");
    assert_eq!((e.line, e.field.as_deref()), (Some(2), Some("version")), "{e}");
    assert!(e.message.starts_with("invalid TOML"), "{e}");
    let e = err(&format!("{HEAD}[limits]\nmemory = = 3\n"));
    assert_eq!((e.line, e.field.as_deref()), (Some(5), Some("limits.memory")), "{e}");
    let e = err("name = \"a\"\nname = \"b\"\n");
    assert_eq!((e.line, e.field.as_deref()), (Some(2), Some("name")), "{e}");
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn the_first_error_in_the_file_is_reported() {
    let e = err("zzz = 1\nname = \"Bad\"\n");
    assert_eq!(e.field.as_deref(), Some("zzz"));
    let e = err("name = \"Bad\"\nzzz = 1\n");
    assert_eq!(e.field.as_deref(), Some("name"));
}

#[test]
fn from_file_sets_dir_and_entry_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, format!("{HEAD}entry = \"notes.wasm\"\n")).unwrap();
    let m = Manifest::from_file(&path).unwrap();
    assert_eq!(m.dir.as_deref(), Some(dir.path()));
    assert_eq!(m.entry_path(), Some(dir.path().join("notes.wasm")));

    std::fs::write(&path, format!("{HEAD}entry = 3\n")).unwrap();
    let e = Manifest::from_file(&path).unwrap_err();
    assert_eq!(e.path.as_deref(), Some(path.as_path()));
    assert!(e.to_string().starts_with(&format!("{}:4:9: field `entry`", path.display())), "{e}");

    let missing = dir.path().join("nope").join(FILE_NAME);
    let e = Manifest::from_file(&missing).unwrap_err();
    assert_eq!(e.path.as_deref(), Some(missing.as_path()));
    assert!(e.to_string().contains("cannot read the manifest"), "{e}");
    assert!(e.to_string().contains(&missing.display().to_string()), "{e}");
}

#[test]
fn builder_dedups_permissions_and_encodes_config() {
    #[derive(serde::Serialize)]
    struct Settings {
        name: &'static str,
        limit: Option<u32>,
        bytes: serde_bytes::ByteBuf,
    }
    let m = Manifest::new("clock")
        .unwrap()
        .permission(Permission::Timers)
        .permissions([Permission::Timers, Permission::Clock])
        .config_value("settings", &Settings { name: "x", limit: None, bytes: serde_bytes::ByteBuf::from(vec![1, 2]) })
        .unwrap()
        .config_value("n", &7_u8)
        .unwrap();
    assert_eq!(m.permissions, [Permission::Timers, Permission::Clock]);
    assert_eq!((m.kind, &m.version, m.api), (ManifestKind::InProcess, &"0.0.0".to_owned(), ApiVersion::CURRENT));
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    assert!(m.to_toml().contains("settings = { bytes = [1, 2], name = \"x\" }"), "{}", m.to_toml());

    let e = Manifest::new("a").unwrap().config_value("k", &None::<u8>).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("config.k"));
    assert!(Manifest::new("a").unwrap().config_value("k", &u64::MAX).is_err());
    assert!(Manifest::new("a").unwrap().config_value("k", &[Some(1), None]).is_err());
    assert_eq!(Manifest::new("host").unwrap_err().field.as_deref(), Some("name"));
}

#[test]
fn to_toml_round_trips() {
    let mut m = Manifest::parse(FULL).unwrap();
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    m.description = Some("quote \" backslash \\ newline \n tab \t bell \u{7} é".into());
    m.limits.cpu_budget = Some(Duration::from_micros(1500));
    m.limits.memory = Some(3 << 30);
    m.limits.message_size = Some(1001);
    m = m.config_value("weird key", &[f64::INFINITY, -0.0, 1e300, 1e-7]).unwrap();
    m = m.config_value("", &"empty key").unwrap();
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m, "{}", m.to_toml());
    m.config.insert("broken".into(), vec![0xc1]);
    assert!(m.to_toml().contains("# broken left out"));
}

#[test]
fn instances_and_stateless_parse_and_round_trip() {
    let m = Manifest::parse(&format!("{HEAD}entry = \"a.wasm\"\ninstances = 4\nstateless = true\n")).unwrap();
    assert_eq!(m.instances, Some(4));
    assert!(m.stateless);
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    let plain = Manifest::parse(&format!("{HEAD}entry = \"a.wasm\"\n")).unwrap();
    assert_eq!((plain.instances, plain.stateless), (None, false));
    assert!(!plain.to_toml().contains("instances") && !plain.to_toml().contains("stateless"));
    let built = Manifest::new("pool").unwrap().instances(3).stateless(true);
    assert_eq!(Manifest::parse(&built.to_toml()).unwrap(), built);
}

#[test]
fn uses_lists_library_requirements_and_round_trips() {
    let m = Manifest::parse(
        "name = \"a\"\nversion = \"0.1.0\"\napi = \"1.2\"\nentry = \"a.wasm\"\nuses = [\"json@1\", \"regex@0.3.1\"]\n",
    )
    .unwrap();
    let names: Vec<String> = m.uses.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["json@1", "regex@0.3.1"]);
    assert!(m.to_toml().contains("uses = [\"json@1\", \"regex@0.3.1\"]"), "{}", m.to_toml());
    assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
    let built = Manifest::new("b").unwrap().uses("json@1".parse().unwrap()).uses("json@2".parse().unwrap());
    assert_eq!(built.uses.len(), 1);
    assert_eq!(built.uses[0].to_string(), "json@2");
    assert_eq!(Manifest::parse(&built.to_toml()).unwrap(), built);
}

#[test]
fn pool_size_follows_the_manifest_within_the_host_cap() {
    let caps = Limits { max_instances: 8, ..Limits::default() };
    let m = |instances: Option<usize>, stateless: bool| {
        let mut m = Manifest::new("p").unwrap().stateless(stateless);
        m.instances = instances;
        m
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(m(None, false).pool_size(&caps), 1);
    assert_eq!(m(Some(3), false).pool_size(&caps), 3);
    assert_eq!(m(Some(100), true).pool_size(&caps), 8, "capped by the host");
    assert_eq!(m(None, true).pool_size(&caps), cores.min(8), "one per core");
    assert_eq!(m(Some(3), true).pool_size(&caps), 3, "instances wins over stateless");
    let off = Limits { max_instances: 1, ..Limits::default() };
    assert_eq!(m(Some(3), true).pool_size(&off), 1, "a cap of 1 turns pools off");
    let zero = Limits { max_instances: 0, ..Limits::default() };
    assert_eq!(m(Some(3), false).pool_size(&zero), 1, "never fewer than one");
}

#[test]
fn bad_instances_and_stateless_are_refused_with_their_line() {
    assert_err(&format!("{HEAD}entry = \"a.wasm\"\ninstances = 0\n"), "instances", 5, "too small");
    assert_err(&format!("{HEAD}entry = \"a.wasm\"\ninstances = -2\n"), "instances", 5, "negative");
    assert_err(&format!("{HEAD}entry = \"a.wasm\"\ninstances = \"4\"\n"), "instances", 5, "expected a whole number");
    assert_err(&format!("{HEAD}entry = \"a.wasm\"\nstateless = \"yes\"\n"), "stateless", 5, "true or false");
    assert_err(
        &format!("{HEAD}entry = \"a.wasm\"\nstateless = false\ninstances = 2\n"),
        "instances",
        6,
        "cannot run 2 instances",
    );
    // One instance of a plugin with state is fine.
    Manifest::parse(&format!("{HEAD}entry = \"a.wasm\"\nstateless = false\ninstances = 1\n")).unwrap();
    let hybrid = format!(
        "{HEAD}kind = \"hybrid\"\ninstances = 2\n[[components]]\nname = \"a\"\nkind = \"wasm\"\nentry = \"a.wasm\"\n"
    );
    assert_err(&hybrid, "instances", 4, "cannot be pooled");
}

#[test]
fn bad_uses_name_the_entry_and_the_line() {
    let base = "name = \"a\"\nversion = \"0.1.0\"\napi = \"1.2\"\nentry = \"a.wasm\"\n";
    for (uses, field, says) in [
        ("uses = \"json@1\"", "uses", "expected an array of strings"),
        ("uses = [\"json\"]", "uses[0]", "names no version"),
        ("uses = [\"json@1\", 2]", "uses[1]", "expected a string"),
        ("uses = [\"Json@1\"]", "uses[0]", "not a library name"),
        ("uses = [\"json@1.x\"]", "uses[0]", "is not a version"),
        ("uses = [\"json@1\", \"json@2\"]", "uses[1]", "names the library `json` again"),
    ] {
        let e = Manifest::parse(&format!("{base}{uses}\n")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{uses}: {e}");
        assert_eq!(e.line, Some(5), "{uses}: {e}");
        assert!(e.message.contains(says), "{uses}: {e}");
    }
}

#[test]
fn a_component_name_starts_with_a_letter_or_digit_as_its_address_must() {
    let head = "name = \"h\"\nversion = \"0.1.0\"\napi = \"1.1\"\nkind = \"hybrid\"\n[[components]]\nname = \"a\"\n\
                kind = \"wasm\"\nentry = \"a.wasm\"\n[[components]]\n";
    for bad in ["-os", "_os", ""] {
        let e = err(&format!("{head}name = \"{bad}\"\nkind = \"wasm\"\nentry = \"b.wasm\"\n"));
        assert_eq!(e.field.as_deref(), Some("components[1].name"), "{e}");
        assert!(e.message.contains("starting with a letter or a digit"), "{e}");
    }
    let m = Manifest::parse(&format!("{head}name = \"9os\"\nkind = \"wasm\"\nentry = \"b.wasm\"\n")).unwrap();
    assert_eq!(m.component_entries()[1].0, "h.9os");
}

#[test]
fn config_nested_deeper_than_a_plugin_decodes_is_refused_where_it_is_written() {
    let max = wasp_protocol::codec::MAX_DEPTH;
    let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let base = "name = \"a\"\nversion = \"0.1.0\"\napi = \"1.2\"\nentry = \"a.wasm\"\n[config]\n";
    let m = Manifest::parse(&format!("{base}ok = {}\n", nested(max))).unwrap();
    assert_eq!(m.config["ok"].len(), max + 1);
    let e = err(&format!("{base}deep = {}\n", nested(max + 1)));
    assert_eq!(e.field.as_deref(), Some("config.deep"));
    assert!(e.message.contains("deeper than the limit of 32 levels"), "{e}");
    // TOML text nested 10,000 deep stops at the TOML parser's own limit,
    // well inside a small stack.
    let text = format!("{base}deep = {}\n", nested(10_000));
    let parsed = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || Manifest::parse(&text).map(|_| ()))
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert!(parsed.is_err());
    // A host's own value, likewise.
    #[derive(serde::Serialize)]
    #[serde(untagged)]
    enum Nest {
        Leaf(u8),
        List(Vec<Nest>),
    }
    let mut deep = Nest::Leaf(1);
    for _ in 0..=max {
        deep = Nest::List(vec![deep]);
    }
    let e = Manifest::new("a").unwrap().config_value("k", &deep).unwrap_err();
    assert!(e.message.contains("deeper than the limit of 32 levels"), "{e}");
    // The bytes of `config` are decoded with the same check when written out.
    let mut m = Manifest::new("a").unwrap();
    m.config.insert("deep".into(), [vec![0x91; 10_000], vec![0x01]].concat());
    assert!(m.to_toml().contains("# deep left out"));
}
