//! Reading a manifest: walk the spanned TOML tree, so that every error has
//! its line, and check each value as it is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};
use wasp_protocol::{ApiVersion, Permission};

use crate::LibraryRequirement;
use crate::units::{DURATION_HELP, SIZE_HELP, UnitError, parse_duration, parse_size};

use super::config::ConfigValue;
use super::{Component, LimitRequests, Manifest, ManifestError, ManifestKind, check_name};

/// The top-level keys, in the order [`Manifest::to_toml`] writes them.
const KEYS: &[&str] = &[
    "name",
    "version",
    "api",
    "kind",
    "entry",
    "description",
    "permissions",
    "instances",
    "stateless",
    "uses",
    "limits",
    "config",
    "components",
    "ui",
    "signature",
];

/// The keys of one `[[components]]` table.
const COMPONENT_KEYS: &[&str] = &["name", "kind", "entry"];

/// The keys of `[limits]`.
const LIMIT_KEYS: &[&str] = &[
    "memory",
    "table_elements",
    "message_size",
    "mailbox",
    "mailbox_bytes",
    "cpu_budget",
    "outstanding_requests",
    "host_calls_per_second",
    "log_lines_per_second",
    "storage_quota",
    "timers",
    "timer_bytes",
];

/// Parses a manifest from TOML text, as [`Manifest::parse`] does.
pub(super) fn manifest(text: &str) -> Result<Manifest, ManifestError> {
    let doc = DeTable::parse(text).map_err(|e| syntax_error(text, &e))?;
    Reader { text }.manifest(doc.get_ref())
}

type Value<'i> = Spanned<DeValue<'i>>;

/// `text` without the lines holding its top-level `signature` key and
/// value (see [`crate::signature::unsigned_manifest`]).
pub(super) fn without_signature(text: &str) -> Result<Vec<u8>, ManifestError> {
    let doc = DeTable::parse(text).map_err(|e| syntax_error(text, &e))?;
    let Some((key, value)) = doc.get_ref().iter().find(|(key, _)| key.get_ref().as_ref() == "signature") else {
        return Ok(text.as_bytes().to_vec());
    };
    let bytes = text.as_bytes();
    let start = key.span().start.min(bytes.len());
    let end = value.span().end.min(bytes.len());
    let line_start = bytes[..start].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line_end = bytes[end..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| end + i + 1);
    let mut out = bytes[..line_start].to_vec();
    out.extend_from_slice(&bytes[line_end..]);
    Ok(out)
}

/// The text being parsed, for turning spans into lines.
struct Reader<'t> {
    text: &'t str,
}

impl Reader<'_> {
    fn error(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> ManifestError {
        let (line, column) = line_column(self.text, span.start);
        ManifestError {
            path: None,
            line: Some(line),
            column: Some(column),
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    fn wrong_type(&self, field: &str, value: &Value<'_>, expected: &str) -> ManifestError {
        self.error(value.span(), field, format!("expected {expected}, found {}", type_name(value.get_ref())))
    }

    fn string<'v>(&self, field: &str, value: &'v Value<'_>, expected: &str) -> Result<&'v str, ManifestError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.wrong_type(field, value, expected)),
        }
    }

    fn manifest(&self, doc: &DeTable<'_>) -> Result<Manifest, ManifestError> {
        let mut name = None;
        let mut version = None;
        let mut api = None;
        let mut kind = None;
        let mut entry = None;
        let mut description = None;
        let mut permissions = Vec::new();
        let mut uses = Vec::new();
        let mut limits = LimitRequests::default();
        let mut config = BTreeMap::new();
        let mut components = None;
        let mut ui = None;
        let mut instances = None;
        let mut stateless = None;
        let mut signature = None;
        for (key, value) in in_file_order(doc) {
            match key.get_ref().as_ref() {
                "name" => {
                    let text = self.string("name", value, "a string such as \"notes\"")?;
                    check_name(text).map_err(|m| self.error(value.span(), "name", m))?;
                    name = Some(text.to_owned());
                }
                "version" => {
                    let text = self.string("version", value, "a string such as \"0.1.0\"")?;
                    if !is_version(text) {
                        let message = format!(
                            "`{text}` is not a version; expected MAJOR.MINOR.PATCH such as \"0.1.0\", \
                             optionally followed by -pre-release and +build parts"
                        );
                        return Err(self.error(value.span(), "version", message));
                    }
                    version = Some(text.to_owned());
                }
                "api" => {
                    let expected = format!("a string such as \"{}\"", ApiVersion::CURRENT);
                    let text = self.string("api", value, &expected)?;
                    let parsed = text.parse::<ApiVersion>().map_err(|e| {
                        self.error(value.span(), "api", format!("{e}, such as \"{}\"", ApiVersion::CURRENT))
                    })?;
                    api = Some(parsed);
                }
                "kind" => {
                    let expected = "\"wasm\", \"native\", \"in-process\" or \"hybrid\"";
                    let text = self.string("kind", value, &format!("a string: {expected}"))?;
                    let parsed = ManifestKind::from_name(text).ok_or_else(|| {
                        self.error(value.span(), "kind", format!("`{text}` is not a plugin kind; expected {expected}"))
                    })?;
                    kind = Some((parsed, value.span()));
                }
                "entry" => {
                    let text = self.string("entry", value, "a string such as \"notes.wasm\"")?;
                    check_entry(text).map_err(|m| self.error(value.span(), "entry", m))?;
                    entry = Some(PathBuf::from(text));
                }
                "description" => {
                    description = Some(self.string("description", value, "a string")?.to_owned());
                }
                "ui" => {
                    let text = self.string("ui", value, "a string such as \"ui\", a folder beside the manifest")?;
                    check_relative("ui", text).map_err(|m| self.error(value.span(), "ui", m))?;
                    ui = Some(PathBuf::from(text));
                }
                "signature" => {
                    let text = self.string("signature", value, "a string such as \"ed25519:<key>:<signature>\"")?;
                    text.parse::<crate::signature::BundleSignature>()
                        .map_err(|e| self.error(value.span(), "signature", e.to_string()))?;
                    signature = Some(text.to_owned());
                }
                "instances" => instances = Some((self.count::<usize>("instances", value, true)?, value.span())),
                "stateless" => match value.get_ref() {
                    DeValue::Boolean(b) => stateless = Some((*b, value.span())),
                    _ => return Err(self.wrong_type("stateless", value, "true or false")),
                },
                "permissions" => permissions = self.permissions(value)?,
                "uses" => uses = self.uses(value)?,
                "limits" => limits = self.limits(value)?,
                "config" => config = self.config(value)?,
                "components" => components = Some((self.components(value)?, value.span())),
                other => {
                    let message = format!("unknown key `{other}`; the keys are {}", KEYS.join(", "));
                    return Err(self.error(key.span(), other, message));
                }
            }
        }
        let missing = |field: &str, example: &str, span: Range<usize>| {
            self.error(span, field, format!("missing; a manifest needs `{field}`, such as {field} = {example}"))
        };
        let name = name.ok_or_else(|| missing("name", "\"notes\"", 0..0))?;
        let version = version.ok_or_else(|| missing("version", "\"0.1.0\"", 0..0))?;
        let api = api.ok_or_else(|| missing("api", &format!("\"{}\"", ApiVersion::CURRENT), 0..0))?;
        let (kind, kind_span) = kind.unwrap_or((ManifestKind::Wasm, 0..0));
        let components = match (kind, components) {
            (ManifestKind::Hybrid, Some((components, _))) => components,
            (ManifestKind::Hybrid, None) => {
                let message = "missing; a `hybrid` plugin lists its parts as [[components]] tables, each with \
                               name, kind (\"wasm\" or \"native\") and entry";
                return Err(self.error(kind_span, "components", message));
            }
            (_, Some((_, span))) => {
                let message = format!("only a `hybrid` plugin has components; this one is `{kind}`");
                return Err(self.error(span, "components", message));
            }
            (_, None) => Vec::new(),
        };
        if kind == ManifestKind::Hybrid {
            if let Some(entry) = entry {
                let message = format!(
                    "a `hybrid` plugin has no `entry` (found `{}`); each of its [[components]] has one",
                    entry.display()
                );
                return Err(self.error(kind_span, "entry", message));
            }
        } else if entry.is_none() && kind != ManifestKind::InProcess {
            let message = format!(
                "missing; a `{kind}` plugin needs `entry`, the file to load relative to the manifest, \
                 such as entry = \"{name}.{}\"",
                if kind == ManifestKind::Wasm { "wasm" } else { "so" }
            );
            return Err(self.error(kind_span, "entry", message));
        }
        if let (Some((false, _)), Some((n, span))) = (&stateless, &instances)
            && *n > 1
        {
            let message = format!(
                "a plugin that says `stateless = false` keeps state in its instance, so it cannot run {n} \
                 instances; drop `stateless = false`, or ask for `instances = 1`"
            );
            return Err(self.error(span.clone(), "instances", message));
        }
        let pooled = stateless.as_ref().is_some_and(|(s, _)| *s) || instances.as_ref().is_some_and(|(n, _)| *n > 1);
        if kind == ManifestKind::Hybrid && pooled {
            let message = "a `hybrid` plugin runs one instance of each component; it cannot be pooled \
                           (`instances` above 1 or `stateless = true`)";
            return Err(self.error(kind_span, "instances", message));
        }
        Ok(Manifest {
            name,
            version,
            api,
            kind,
            entry,
            description,
            permissions,
            instances: instances.map(|(n, _)| n),
            stateless: stateless.is_some_and(|(s, _)| s),
            uses,
            limits,
            config,
            components,
            ui,
            signature,
            dir: None,
        })
    }

    fn components(&self, value: &Value<'_>) -> Result<Vec<Component>, ManifestError> {
        let expected = "an array of tables ([[components]] with name, kind and entry)";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.wrong_type("components", value, expected));
        };
        if items.is_empty() {
            return Err(self.error(value.span(), "components", "a `hybrid` plugin needs at least one component"));
        }
        let mut out: Vec<Component> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = |key: &str| format!("components[{i}].{key}");
            let DeValue::Table(table) = item.get_ref() else {
                return Err(self.wrong_type(&format!("components[{i}]"), item, "a table with name, kind and entry"));
            };
            let (mut name, mut kind, mut entry) = (None, None, None);
            for (key, value) in in_file_order(table) {
                match key.get_ref().as_ref() {
                    "name" => {
                        let text = self.string(&at("name"), value, "a string such as \"logic\"")?;
                        // `<plugin>.<component>` is an address: it follows the name rule.
                        let ok = text.len() <= 32
                            && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                            && text
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
                        if !ok {
                            let message = format!(
                                "`{text}` is not a component name: 1 to 32 bytes of a-z, 0-9, `-` and `_`, \
                                 starting with a letter or a digit"
                            );
                            return Err(self.error(value.span(), &at("name"), message));
                        }
                        if out.iter().any(|c| c.name == text) {
                            return Err(self.error(
                                value.span(),
                                &at("name"),
                                format!("a second component named `{text}`"),
                            ));
                        }
                        name = Some(text.to_owned());
                    }
                    "kind" => {
                        let text = self.string(&at("kind"), value, "\"wasm\" or \"native\"")?;
                        kind = Some(match text {
                            "wasm" => ManifestKind::Wasm,
                            "native" => ManifestKind::Native,
                            _ => {
                                let message =
                                    format!("`{text}` is not a component kind; expected \"wasm\" or \"native\"");
                                return Err(self.error(value.span(), &at("kind"), message));
                            }
                        });
                    }
                    "entry" => {
                        let text = self.string(&at("entry"), value, "a string such as \"logic.wasm\"")?;
                        check_entry(text).map_err(|m| self.error(value.span(), &at("entry"), m))?;
                        entry = Some(PathBuf::from(text));
                    }
                    other => {
                        let message = format!("unknown key `{other}`; a component has {}", COMPONENT_KEYS.join(", "));
                        return Err(self.error(key.span(), &at(other), message));
                    }
                }
            }
            let missing = |key: &str| self.error(item.span(), &at(key), format!("missing; a component needs `{key}`"));
            out.push(Component {
                name: name.ok_or_else(|| missing("name"))?,
                kind: kind.ok_or_else(|| missing("kind"))?,
                entry: entry.ok_or_else(|| missing("entry"))?,
            });
        }
        Ok(out)
    }

    fn permissions(&self, value: &Value<'_>) -> Result<Vec<Permission>, ManifestError> {
        let expected = "an array of strings such as [\"storage\", \"publish:notes.*\"]";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.wrong_type("permissions", value, expected));
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("permissions[{i}]");
            let text = self.string(&field, item, "a string such as \"storage\"")?;
            let permission: Permission = text.parse().map_err(|e| self.error(item.span(), &field, format!("{e}")))?;
            if seen.insert(permission.clone()) {
                out.push(permission);
            }
        }
        Ok(out)
    }

    fn uses(&self, value: &Value<'_>) -> Result<Vec<LibraryRequirement>, ManifestError> {
        let expected = "an array of strings such as [\"json@1\"]";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.wrong_type("uses", value, expected));
        };
        let mut out: Vec<LibraryRequirement> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("uses[{i}]");
            let text = self.string(&field, item, "a string such as \"json@1\"")?;
            let wanted: LibraryRequirement = text.parse().map_err(|e: String| self.error(item.span(), &field, e))?;
            if let Some(earlier) = out.iter().find(|r| r.name() == wanted.name()) {
                let message = format!(
                    "`{wanted}` names the library `{}` again (after `{earlier}`); list each once",
                    wanted.name()
                );
                return Err(self.error(item.span(), &field, message));
            }
            out.push(wanted);
        }
        Ok(out)
    }

    fn limits(&self, value: &Value<'_>) -> Result<LimitRequests, ManifestError> {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.wrong_type("limits", value, "a table ([limits])"));
        };
        let mut out = LimitRequests::default();
        for (key, value) in in_file_order(table) {
            let field = format!("limits.{}", key.get_ref());
            let f = field.as_str();
            match key.get_ref().as_ref() {
                "memory" => out.memory = Some(self.size(f, value, true)?),
                "table_elements" => out.table_elements = Some(self.count(f, value, false)?),
                "message_size" => out.message_size = Some(self.size(f, value, true)?),
                "mailbox" => out.mailbox = Some(self.count(f, value, true)?),
                "mailbox_bytes" => out.mailbox_bytes = Some(self.size(f, value, true)?),
                "cpu_budget" => out.cpu_budget = Some(self.duration(f, value)?),
                "outstanding_requests" => out.outstanding_requests = Some(self.count(f, value, false)?),
                "host_calls_per_second" => out.host_calls_per_second = Some(self.count(f, value, false)?),
                "log_lines_per_second" => out.log_lines_per_second = Some(self.count(f, value, false)?),
                "storage_quota" => out.storage_quota = Some(self.size(f, value, false)?),
                "timers" => out.timers = Some(self.count(f, value, false)?),
                "timer_bytes" => out.timer_bytes = Some(self.size(f, value, false)?),
                other => {
                    let message = format!("unknown limit `{other}`; the limits are {}", LIMIT_KEYS.join(", "));
                    return Err(self.error(key.span(), f, message));
                }
            }
        }
        Ok(out)
    }

    /// A whole number, as written, or the error to report.
    fn whole(&self, field: &str, value: &Value<'_>, expected: &str) -> Result<u64, ManifestError> {
        let DeValue::Integer(int) = value.get_ref() else {
            return Err(self.wrong_type(field, value, expected));
        };
        match i128::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if n < 0 => Err(self.error(value.span(), field, format!("`{int}` is negative; expected {expected}"))),
            Ok(n) => u64::try_from(n).map_err(|_| self.error(value.span(), field, format!("`{int}` is too large"))),
            Err(_) => Err(self.error(value.span(), field, format!("`{int}` is too large"))),
        }
    }

    fn count<T: TryFrom<u64> + Bounded>(
        &self,
        field: &str,
        value: &Value<'_>,
        nonzero: bool,
    ) -> Result<T, ManifestError> {
        let expected = if nonzero { "a whole number of 1 or more" } else { "a whole number" };
        let n = self.whole(field, value, expected)?;
        if nonzero && n == 0 {
            return Err(self.error(value.span(), field, format!("`0` is too small; expected {expected}")));
        }
        T::try_from(n).map_err(|_| self.error(value.span(), field, format!("`{n}` is too large; at most {}", T::MAX)))
    }

    fn size(&self, field: &str, value: &Value<'_>, nonzero: bool) -> Result<u64, ManifestError> {
        let expected = "a size in bytes, or a string such as \"16 MiB\"";
        let n = match value.get_ref() {
            DeValue::String(text) => parse_size(text).map_err(|e| {
                let message = match e {
                    UnitError::Malformed => format!("`{text}` is not a size; {SIZE_HELP}"),
                    UnitError::TooLarge => format!("`{text}` is too large"),
                };
                self.error(value.span(), field, message)
            })?,
            _ => self.whole(field, value, expected)?,
        };
        if nonzero && n == 0 {
            return Err(self.error(value.span(), field, "a size of 0 is too small; expected 1 byte or more"));
        }
        Ok(n)
    }

    fn duration(&self, field: &str, value: &Value<'_>) -> Result<Duration, ManifestError> {
        let expected = "milliseconds, or a string such as \"200ms\"";
        let d = match value.get_ref() {
            DeValue::String(text) => parse_duration(text).map_err(|e| {
                let message = match e {
                    UnitError::Malformed => format!("`{text}` is not a duration; {DURATION_HELP}"),
                    UnitError::TooLarge => format!("`{text}` is too long"),
                };
                self.error(value.span(), field, message)
            })?,
            _ => Duration::from_millis(self.whole(field, value, expected)?),
        };
        if d.is_zero() {
            return Err(self.error(value.span(), field, "a duration of 0 is too short; expected 1us or more"));
        }
        Ok(d)
    }

    fn config(&self, value: &Value<'_>) -> Result<BTreeMap<String, Vec<u8>>, ManifestError> {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self.wrong_type("config", value, "a table ([config])"));
        };
        let mut out = BTreeMap::new();
        for (key, value) in in_file_order(table) {
            let key = key.get_ref().as_ref();
            let field = format!("config.{key}");
            let bytes = self.config_value(&field, value)?.encode();
            // A plugin decodes the value, and every decoder refuses nesting
            // past the codec's limit: refuse it here, where it is written.
            if let Err(e) = wasp_protocol::codec::check(&bytes) {
                return Err(self.error(value.span(), &field, format!("a plugin could not decode the value: {e}")));
            }
            out.insert(key.to_owned(), bytes);
        }
        Ok(out)
    }

    fn config_value(&self, field: &str, value: &Value<'_>) -> Result<ConfigValue, ManifestError> {
        Ok(match value.get_ref() {
            DeValue::String(s) => ConfigValue::String(s.to_string()),
            DeValue::Integer(int) => {
                ConfigValue::Integer(i64::from_str_radix(int.as_str(), int.radix()).map_err(|_| {
                    self.error(value.span(), field, format!("`{int}` does not fit a 64-bit signed integer"))
                })?)
            }
            DeValue::Float(float) => {
                let text = float.as_str();
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() || text.contains("inf") || text.contains("nan") => ConfigValue::Float(f),
                    _ => return Err(self.error(value.span(), field, format!("`{text}` does not fit a 64-bit float"))),
                }
            }
            DeValue::Boolean(b) => ConfigValue::Boolean(*b),
            DeValue::Datetime(d) => ConfigValue::String(d.to_string()),
            DeValue::Array(items) => ConfigValue::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.config_value(&format!("{field}[{i}]"), item))
                    .collect::<Result<_, _>>()?,
            ),
            DeValue::Table(table) => ConfigValue::Table(
                table
                    .iter()
                    .map(|(k, v)| {
                        let k = k.get_ref().as_ref();
                        Ok((k.to_owned(), self.config_value(&format!("{field}.{k}"), v)?))
                    })
                    .collect::<Result<_, ManifestError>>()?,
            ),
        })
    }
}

/// Integer types with a maximum, for "at most" in errors.
trait Bounded: fmt::Display {
    const MAX: Self;
}

impl Bounded for u32 {
    const MAX: Self = u32::MAX;
}

impl Bounded for usize {
    const MAX: Self = usize::MAX;
}

/// A table's entries in the order they appear in the file, so that the first
/// error reported is the first one written.
fn in_file_order<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Spanned<std::borrow::Cow<'i, str>>, &'a Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    (line, column)
}

/// A TOML syntax error, placed at its line, with the key it is in when the
/// line shows one.
fn syntax_error(text: &str, error: &toml::de::Error) -> ManifestError {
    let offset = error.span().map_or(0, |span| span.start);
    let (line, column) = line_column(text, offset);
    let message = error.message().trim().replace('\n', "; ");
    ManifestError {
        path: None,
        line: Some(line),
        column: Some(column),
        field: field_at(text, line),
        message: format!("invalid TOML: {message}"),
    }
}

/// The dotted key written on `line` (1-based), under the last table header
/// above it; a best guess for syntax errors, where no tree exists.
fn field_at(text: &str, line: usize) -> Option<String> {
    let key_of = |s: &str| {
        let s = s.trim();
        let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c));
        ok.then(|| s.split('.').map(|p| p.trim().trim_matches(['"', '\''])).collect::<Vec<_>>().join("."))
    };
    let mut table: Option<String> = None;
    for (i, current) in text.lines().enumerate() {
        let trimmed = current.trim();
        if i + 1 == line {
            if let Some(header) = trimmed.strip_prefix('[') {
                let header = header.trim_start_matches('[');
                return header.split(']').next().and_then(key_of);
            }
            let key = key_of(trimmed.split('=').next()?)?;
            return Some(match table {
                Some(table) => format!("{table}.{key}"),
                None => key,
            });
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            table = header.trim_start_matches('[').split(']').next().and_then(key_of);
        }
    }
    None
}

/// `MAJOR.MINOR.PATCH`, then optional `-pre.release` and `+build.meta`.
fn is_version(text: &str) -> bool {
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let dotted = |s: &str| s.split('.').all(ident);
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let number = |s: &str| {
        !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| number(p)) && pre.is_none_or(dotted) && build.is_none_or(dotted)
}

fn check_entry(entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err("the entry cannot be empty; expected a file name such as \"notes.wasm\"".into());
    }
    check_relative("entry", entry)
}

/// A path inside the manifest's directory: not absolute, no `..`.
fn check_relative(field: &str, entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err(format!("`{field}` cannot be empty"));
    }
    if entry.contains('\0') {
        return Err(format!("`{field}` cannot contain NUL"));
    }
    let bytes = entry.as_bytes();
    let drive = bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic();
    if entry.starts_with(['/', '\\']) || drive || Path::new(entry).is_absolute() {
        return Err(format!("`{entry}` is an absolute path; expected a path relative to the manifest's directory"));
    }
    if entry.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!("`{entry}` leaves the manifest's directory; `..` is not allowed in `{field}`"));
    }
    Ok(())
}
