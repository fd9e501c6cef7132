//! Writing a manifest back as TOML.

use std::time::Duration;

use super::config::ConfigValue;
use super::{LimitRequests, Manifest};

/// The manifest as TOML, as [`Manifest::to_toml`] writes it.
pub(super) fn manifest(m: &Manifest) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key} = {value}\n"));
    line("name", quote(&m.name));
    line("version", quote(&m.version));
    line("api", quote(&m.api.to_string()));
    line("kind", quote(m.kind.as_str()));
    if let Some(entry) = &m.entry {
        line("entry", quote(&entry.to_string_lossy()));
    }
    if let Some(description) = &m.description {
        line("description", quote(description));
    }
    if !m.permissions.is_empty() {
        let list: Vec<String> = m.permissions.iter().map(|p| quote(&p.to_string())).collect();
        line("permissions", format!("[{}]", list.join(", ")));
    }
    if !m.uses.is_empty() {
        let list: Vec<String> = m.uses.iter().map(|r| quote(&r.to_string())).collect();
        line("uses", format!("[{}]", list.join(", ")));
    }
    if let Some(ui) = &m.ui {
        line("ui", quote(&ui.to_string_lossy()));
    }
    if let Some(n) = m.instances {
        line("instances", count_toml(n));
    }
    if m.stateless {
        line("stateless", "true".to_owned());
    }
    if let Some(signature) = &m.signature {
        line("signature", quote(signature));
    }
    let limits = limits_toml(&m.limits);
    if !limits.is_empty() {
        out.push_str("\n[limits]\n");
        out.push_str(&limits);
    }
    for c in &m.components {
        out.push_str("\n[[components]]\n");
        out.push_str(&format!("name = {}\n", quote(&c.name)));
        out.push_str(&format!("kind = {}\n", quote(c.kind.as_str())));
        out.push_str(&format!("entry = {}\n", quote(&c.entry.to_string_lossy())));
    }
    if !m.config.is_empty() {
        out.push_str("\n[config]\n");
        for (key, bytes) in &m.config {
            match wasp_protocol::codec::from_slice::<ConfigValue>(bytes) {
                Ok(value) if value.is_toml() => {
                    out.push_str(&format!("{} = {}\n", toml_key(key), value.to_toml()));
                }
                _ => out.push_str(&format!("# {} left out: not a value TOML can hold\n", toml_key(key))),
            }
        }
    }
    out
}

/// The `[limits]` table's lines; empty when nothing is requested.
fn limits_toml(l: &LimitRequests) -> String {
    let mut out = String::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!("{key} = {value}\n"));
        }
    };
    put("memory", l.memory.map(size_toml));
    put("table_elements", l.table_elements.map(count_toml));
    put("message_size", l.message_size.map(size_toml));
    put("mailbox", l.mailbox.map(count_toml));
    put("mailbox_bytes", l.mailbox_bytes.map(size_toml));
    put("cpu_budget", l.cpu_budget.map(duration_toml));
    put("outstanding_requests", l.outstanding_requests.map(count_toml));
    put("host_calls_per_second", l.host_calls_per_second.map(count_toml));
    put("log_lines_per_second", l.log_lines_per_second.map(count_toml));
    put("storage_quota", l.storage_quota.map(size_toml));
    put("timers", l.timers.map(count_toml));
    put("timer_bytes", l.timer_bytes.map(size_toml));
    out
}

/// A size in the largest binary unit that divides it; as a string when TOML's
/// integers (`i64`) cannot hold it.
fn size_toml(n: u64) -> String {
    let unit =
        [(30, "GiB"), (20, "MiB"), (10, "KiB")].into_iter().find(|&(shift, _)| n != 0 && n.is_multiple_of(1 << shift));
    match unit {
        Some((shift, unit)) => quote(&format!("{} {unit}", n >> shift)),
        None if i64::try_from(n).is_err() => quote(&format!("{n} B")),
        None => n.to_string(),
    }
}

/// A count; TOML's integers are `i64`, and no host caps a count near that.
fn count_toml<T: TryInto<i64>>(n: T) -> String {
    n.try_into().unwrap_or(i64::MAX).to_string()
}

/// A duration in the coarsest of `s`, `ms`, `us` that holds it exactly, or
/// else the finest whose count fits `u64`; finer than microseconds is dropped.
fn duration_toml(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    let millis = u64::try_from(d.as_millis()).ok();
    let micros = u64::try_from(d.as_micros()).ok();
    let text = match (millis, micros) {
        _ if nanos == 0 => format!("{}s", d.as_secs()),
        (Some(ms), _) if nanos.is_multiple_of(1_000_000) => format!("{ms}ms"),
        (_, Some(us)) => format!("{us}us"),
        (Some(ms), None) => format!("{ms}ms"),
        (None, None) => format!("{}s", d.as_secs()),
    };
    quote(&text)
}

/// A TOML basic string.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key, bare when TOML allows it.
pub(super) fn toml_key(key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_owned() } else { quote(key) }
}

pub(super) fn float_toml(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // `Debug` is the shortest text that reads back to the same float, and
    // always has a `.` or an exponent, as TOML floats must.
    format!("{f:?}")
}
