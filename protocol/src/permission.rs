//! Permissions: what a plugin may do beyond answering the messages it gets.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::address::{MAX_NAME_LEN, validate_topic};

/// The placeholder for a plugin's own data directory in `fs.*` permissions.
pub const DATA_DIR: &str = "$DATA";

/// One permission: something a plugin may do beyond answering the messages it gets.
///
/// Everything is denied by default. A plugin *requests* permissions in its
/// manifest; the host *grants* some of them (by policy, by asking the user,
/// or at run time). Every host call and every route is checked against the
/// plugin's grants at the moment it happens.
///
/// A permission is written `kind` or `kind:target`:
///
/// | permission | allows |
/// | --- | --- |
/// | `send:<plugin>` | one-way messages to plugins matching `<plugin>` (`send:host` for the host) |
/// | `request:<plugin>` | requests (waiting or `request_async`) to plugins matching `<plugin>` |
/// | `call:<function>` | requests to the app's own functions matching `<function>` (`Host::serve`): a request to `host` on topic `<function>` |
/// | `publish:<topic>` | publishing on topics matching `<topic>` |
/// | `subscribe:<topic>` | subscribing to, and receiving, topics matching `<topic>` |
/// | `ui:<topic>` | events on topics matching `<topic>` reaching the app's UI |
/// | `fs.read:<dir>` | reading files under `<dir>` (WASI) |
/// | `fs.write:<dir>` | reading and writing files under `<dir>` (WASI) |
/// | `net:<host>` | outbound HTTP to `<host>` (`name`, `name:port`, or `*.domain`) |
/// | `storage` | the plugin's own key-value store |
/// | `timers` | `set_timeout` / `set_interval` |
/// | `clock` | wall-clock and monotonic time |
/// | `random` | random bytes from the host's CSPRNG |
/// | `config` | the plugin's configuration values |
/// | `log` | writing to the host's log |
///
/// Targets of `send`, `request`, `call`, `publish`, `subscribe` and `ui` are exact
/// names or prefixes ending in `*` (`sensor.*`, `*`). A `<dir>` is an absolute
/// host path, or `$DATA` (optionally `$DATA/sub/dir`): the plugin's own data
/// directory, which it sees as `/data`.
///
/// ```
/// use wasp_protocol::Permission;
/// let granted: Permission = "publish:sensor.*".parse()?;
/// assert!(granted.covers(&"publish:sensor.temp".parse()?));
/// assert!(!granted.covers(&"publish:other".parse()?));
/// assert_eq!(granted.to_string(), "publish:sensor.*");
/// # Ok::<(), wasp_protocol::PermissionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Permission {
    /// `send:<plugin-pattern>`
    Send(String),
    /// `request:<plugin-pattern>`
    Request(String),
    /// `call:<function-pattern>`: the app's functions (requests to `host`).
    Call(String),
    /// `publish:<topic-pattern>`
    Publish(String),
    /// `subscribe:<topic-pattern>`
    Subscribe(String),
    /// `ui:<topic-pattern>`
    Ui(String),
    /// `fs.read:<dir>`
    FsRead(String),
    /// `fs.write:<dir>`
    FsWrite(String),
    /// `net:<host-pattern>`
    Net(String),
    /// `storage`
    Storage,
    /// `timers`
    Timers,
    /// `clock`
    Clock,
    /// `random`
    Random,
    /// `config`
    Config,
    /// `log`
    Log,
}

/// Why a permission string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionError {
    /// The text that was parsed.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for PermissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid permission `{}`: {}", self.text, self.reason)
    }
}

impl core::error::Error for PermissionError {}

/// The permission kinds, for error messages and docs.
pub const KINDS: &[&str] = &[
    "send",
    "request",
    "call",
    "publish",
    "subscribe",
    "ui",
    "fs.read",
    "fs.write",
    "net",
    "storage",
    "timers",
    "clock",
    "random",
    "config",
    "log",
];

/// Whether the set described by pattern `wanted` lies inside the set of
/// pattern `granted`. Patterns are exact names or prefixes ending in `*`.
fn pattern_covers(granted: &str, wanted: &str) -> bool {
    match granted.strip_suffix('*') {
        Some(prefix) => wanted.starts_with(prefix),
        None => granted == wanted,
    }
}

/// Whether directory `wanted` is `granted` or lies beneath it.
fn path_covers(granted: &str, wanted: &str) -> bool {
    let g = granted.trim_end_matches(['/', '\\']);
    match wanted.strip_prefix(g) {
        Some(rest) => rest.is_empty() || rest.starts_with(['/', '\\']) || g.is_empty(),
        None => false,
    }
}

/// Whether host pattern `granted` covers `wanted` (`name`, `name:port`, `*.domain`).
fn host_covers(granted: &str, wanted: &str) -> bool {
    let (g_host, g_port) = split_port(granted);
    let (w_host, w_port) = split_port(wanted);
    let port_ok = match (g_port, w_port) {
        (None, _) => true,
        (Some(g), Some(w)) => g == w,
        (Some(_), None) => false,
    };
    let host_ok = match g_host.strip_prefix("*.") {
        Some(domain) => {
            w_host.len() > domain.len() + 1 && w_host.ends_with(domain) && {
                let cut = w_host.len() - domain.len();
                w_host.as_bytes()[cut - 1] == b'.'
            }
        }
        None => g_host.eq_ignore_ascii_case(w_host),
    };
    port_ok && host_ok
}

/// Splits `host:port` (or `[v6]:port`); the port is `None` when absent.
pub(crate) fn split_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (s, None),
    }
}

fn check_plugin_pattern(target: &str) -> Result<(), String> {
    let body = target.strip_suffix('*').unwrap_or(target);
    if body.contains('*') {
        return Err("`*` may only end a pattern".into());
    }
    if target.is_empty() || body.len() > MAX_NAME_LEN {
        return Err(format!("a plugin pattern is 1 to {MAX_NAME_LEN} bytes"));
    }
    if let Some(bad) = body.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.')) {
        return Err(format!("`{bad}` cannot appear in a plugin name"));
    }
    Ok(())
}

fn check_topic_pattern(target: &str) -> Result<(), String> {
    validate_topic(target).map_err(|e| e.to_string())?;
    if target.strip_suffix('*').unwrap_or(target).contains('*') {
        return Err("`*` may only end a pattern".into());
    }
    Ok(())
}

fn check_dir(target: &str) -> Result<(), String> {
    if target.contains('\0') {
        return Err("a path cannot contain NUL".into());
    }
    let is_data = target == DATA_DIR || target.starts_with("$DATA/");
    let absolute = target.starts_with('/')
        || target.starts_with('\\')
        || (target.len() >= 3 && target.as_bytes()[1] == b':' && target.as_bytes()[0].is_ascii_alphabetic());
    if !is_data && !absolute {
        return Err("a directory is an absolute path or `$DATA[/...]`".into());
    }
    if target.split(['/', '\\']).any(|part| part == "..") {
        return Err("a directory cannot contain `..`".into());
    }
    Ok(())
}

fn check_host(target: &str) -> Result<(), String> {
    let (host, port) = split_port(target);
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`{port}` is not a port number"));
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return Err("a host is 1 to 253 bytes".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'))) {
        return Err(format!("`{bad}` cannot appear in a host name"));
    }
    Ok(())
}

impl Permission {
    /// The kind, as written before the `:`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Send(_) => "send",
            Self::Request(_) => "request",
            Self::Call(_) => "call",
            Self::Publish(_) => "publish",
            Self::Subscribe(_) => "subscribe",
            Self::Ui(_) => "ui",
            Self::FsRead(_) => "fs.read",
            Self::FsWrite(_) => "fs.write",
            Self::Net(_) => "net",
            Self::Storage => "storage",
            Self::Timers => "timers",
            Self::Clock => "clock",
            Self::Random => "random",
            Self::Config => "config",
            Self::Log => "log",
        }
    }

    /// The target after the `:`, if the kind has one.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::Send(t)
            | Self::Request(t)
            | Self::Call(t)
            | Self::Publish(t)
            | Self::Subscribe(t)
            | Self::Ui(t)
            | Self::FsRead(t)
            | Self::FsWrite(t)
            | Self::Net(t) => Some(t),
            _ => None,
        }
    }

    /// Whether holding `self` allows what `wanted` asks for: the same kind
    /// with a target inside `self`'s (`fs.write` also covers `fs.read`).
    pub fn covers(&self, wanted: &Permission) -> bool {
        self.covers_parts(wanted.kind(), wanted.target())
    }

    /// [`Permission::covers`] for a permission given as its kind and target,
    /// without building it: what the host checks on every call.
    ///
    /// ```
    /// use wasp_protocol::Permission;
    /// let granted: Permission = "publish:sensor.*".parse()?;
    /// assert!(granted.covers_parts("publish", Some("sensor.temp")));
    /// assert!(!granted.covers_parts("subscribe", Some("sensor.temp")));
    /// # Ok::<(), wasp_protocol::PermissionError>(())
    /// ```
    pub fn covers_parts(&self, kind: &str, target: Option<&str>) -> bool {
        use Permission as P;
        match (self, kind, target) {
            (P::Send(g), "send", Some(w))
            | (P::Request(g), "request", Some(w))
            | (P::Call(g), "call", Some(w))
            | (P::Publish(g), "publish", Some(w))
            | (P::Subscribe(g), "subscribe", Some(w))
            | (P::Ui(g), "ui", Some(w)) => pattern_covers(g, w),
            (P::FsRead(g) | P::FsWrite(g), "fs.read", Some(w)) | (P::FsWrite(g), "fs.write", Some(w)) => {
                path_covers(g, w)
            }
            (P::Net(g), "net", Some(w)) => host_covers(g, w),
            (granted, kind, None) => granted.target().is_none() && granted.kind() == kind,
            _ => false,
        }
    }

    /// The permission of `kind` on `target`, as the host names it in a
    /// denial. The target is not validated (a plugin may have asked for
    /// anything); `None` for an unknown kind.
    pub fn from_parts(kind: &str, target: Option<&str>) -> Option<Self> {
        let t = || target.unwrap_or_default().to_owned();
        Some(match kind {
            "send" => Self::Send(t()),
            "request" => Self::Request(t()),
            "call" => Self::Call(t()),
            "publish" => Self::Publish(t()),
            "subscribe" => Self::Subscribe(t()),
            "ui" => Self::Ui(t()),
            "fs.read" => Self::FsRead(t()),
            "fs.write" => Self::FsWrite(t()),
            "net" => Self::Net(t()),
            "storage" => Self::Storage,
            "timers" => Self::Timers,
            "clock" => Self::Clock,
            "random" => Self::Random,
            "config" => Self::Config,
            "log" => Self::Log,
            _ => return None,
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target() {
            Some(target) => write!(f, "{}:{target}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

impl FromStr for Permission {
    type Err = PermissionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| PermissionError { text: text.to_owned(), reason };
        let (kind, target) = match text.split_once(':') {
            Some((kind, target)) => (kind, Some(target)),
            None => (text, None),
        };
        let need = |check: fn(&str) -> Result<(), String>| -> Result<String, PermissionError> {
            let target = target.ok_or_else(|| err(format!("`{kind}` needs a target: `{kind}:<target>`")))?;
            check(target).map_err(err)?;
            Ok(target.to_owned())
        };
        let bare = |p: Permission| match target {
            None => Ok(p),
            Some(_) => Err(err(format!("`{kind}` takes no target"))),
        };
        match kind {
            "send" => need(check_plugin_or_host).map(Self::Send),
            "request" => need(check_plugin_pattern).map(Self::Request),
            "call" => need(check_topic_pattern).map(Self::Call),
            "publish" => need(check_topic_pattern).map(Self::Publish),
            "subscribe" => need(check_topic_pattern).map(Self::Subscribe),
            "ui" => need(check_topic_pattern).map(Self::Ui),
            "fs.read" => need(check_dir).map(Self::FsRead),
            "fs.write" => need(check_dir).map(Self::FsWrite),
            "net" => need(check_host).map(Self::Net),
            "storage" => bare(Self::Storage),
            "timers" => bare(Self::Timers),
            "clock" => bare(Self::Clock),
            "random" => bare(Self::Random),
            "config" => bare(Self::Config),
            "log" => bare(Self::Log),
            other => Err(err(format!("unknown kind `{other}`; known kinds: {}", KINDS.join(", ")))),
        }
    }
}

fn check_plugin_or_host(target: &str) -> Result<(), String> {
    if target == crate::HOST {
        return Ok(());
    }
    check_plugin_pattern(target)
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_every_kind() {
        for text in [
            "send:echo",
            "send:host",
            "send:*",
            "request:relay-*",
            "call:files.pick",
            "call:files.*",
            "publish:sensor.*",
            "subscribe:a.b",
            "ui:status",
            "fs.read:/var/data",
            "fs.write:$DATA",
            "fs.write:$DATA/cache",
            "fs.read:C:\\Users\\me",
            "net:example.com",
            "net:127.0.0.1:8080",
            "net:*.example.com",
            "net:[::1]:80",
            "storage",
            "timers",
            "clock",
            "random",
            "config",
            "log",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
    }

    #[test]
    fn refuses_bad_text_with_a_reason() {
        for (text, why) in [
            ("", "unknown kind"),
            ("fly", "unknown kind"),
            ("send", "needs a target"),
            ("storage:x", "takes no target"),
            ("send:Echo", "cannot appear"),
            ("send:a*b", "may only end"),
            ("fs.read:relative/dir", "absolute path"),
            ("fs.read:/a/../etc", "`..`"),
            ("net:host:port", "not a port"),
            ("net:a/b", "cannot appear"),
            ("publish:", "topic"),
        ] {
            let e = text.parse::<Permission>().unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn coverage() {
        assert!(p("send:*").covers(&p("send:echo")));
        assert!(p("send:*").covers(&p("send:host")));
        assert!(!p("send:*").covers(&p("request:echo")));
        assert!(p("request:relay-*").covers(&p("request:relay-2")));
        assert!(!p("request:relay-*").covers(&p("request:echo")));
        assert!(p("subscribe:a.*").covers(&p("subscribe:a.b.*")));
        assert!(!p("subscribe:a.b").covers(&p("subscribe:a.*")));
        assert!(p("fs.write:/data").covers(&p("fs.read:/data/x")));
        assert!(!p("fs.read:/data").covers(&p("fs.write:/data")));
        assert!(!p("fs.read:/data").covers(&p("fs.read:/database")));
        assert!(p("net:example.com").covers(&p("net:example.com:443")));
        assert!(!p("net:example.com:80").covers(&p("net:example.com:443")));
        assert!(p("net:*.example.com").covers(&p("net:api.example.com")));
        assert!(!p("net:*.example.com").covers(&p("net:example.com")));
        assert!(!p("net:*.example.com").covers(&p("net:badexample.com")));
        assert!(p("storage").covers(&p("storage")));
        assert!(!p("storage").covers(&p("timers")));
    }
}
