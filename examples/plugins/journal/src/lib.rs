//! `journal`: files through WASI, with plain `std::fs`.
//!
//! Built for `wasm32-wasip1` (not `wasm32-unknown-unknown` like the other
//! examples), so the standard library's file system works. The host
//! preopens only the directories the plugin was granted, and nothing else
//! exists for it:
//!
//! - `fs.write:$DATA`: its own data directory, which it sees as `/data`
//!   (on the host `<data_dir>/plugins/journal/`); the journal is
//!   `/data/journal.log`, one line per entry;
//! - `fs.read:<dir>`: a directory it may list and read but not write;
//! - `clock`: `SystemTime::now` (WASI `clock_time_get`) stamps each entry.
//!
//! Requests:
//!
//! - `append` with a text (one line): adds an [`Entry`]; answers how many
//!   entries the journal now holds;
//! - `read`: every [`Entry`], oldest first (none before the first `append`);
//! - `list` with a directory path: the names in it, sorted;
//! - `read_file` with a path: the file's text;
//! - `write_file` with a [`WriteFile`]: creates or replaces that file.
//!
//! A file operation that fails — a directory that was not granted, a
//! read-only one, a grant revoked at run time — is answered with a `plugin`
//! error naming the path and the reason the system gave.
//!
//! The same source runs natively and in process: every path goes through
//! [`Context::file_path`], which is the path itself under WASI and the
//! host's real file (after the same `fs.*` permission check) elsewhere.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wasp_sdk::prelude::*;

/// The journal, as the plugin sees it.
pub const JOURNAL: &str = "/data/journal.log";
/// The journal's file name in the plugin's data directory.
pub const FILE_NAME: &str = "journal.log";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was appended, in milliseconds since 1970-01-01 UTC.
    pub at_ms: u64,
    /// What was appended.
    pub text: String,
}

/// The payload of `write_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFile {
    /// The path, as the plugin sees it.
    pub path: String,
    /// The file's new content.
    pub text: String,
}

/// The journal plugin. It keeps nothing in memory: the file is the journal.
#[derive(Default)]
pub struct Journal;

fn failed(what: &str, path: &str, e: &std::io::Error) -> WireError {
    WireError::plugin(format!("cannot {what} `{path}`: {e}"))
}

/// The file to open for `path`: the path itself under WASI, the host's
/// file in the native and in-process forms (see [`Context::file_path`]).
/// A path the host refuses fails like a file the system refuses.
fn open_path(ctx: &mut Context<'_>, what: &str, path: &str, access: FileAccess) -> Result<PathBuf, WireError> {
    ctx.file_path(path, access).map_err(|e| match e.code {
        ErrorCode::PermissionDenied => failed(what, path, &std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        _ => e,
    })
}

fn entries(ctx: &mut Context<'_>) -> Result<Vec<Entry>, WireError> {
    let file = open_path(ctx, "read", JOURNAL, FileAccess::Read)?;
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(failed("read", JOURNAL, &e)),
    };
    text.lines()
        .map(|line| {
            let (at, text) = line.split_once(' ').unwrap_or((line, ""));
            let at_ms = at
                .parse()
                .map_err(|_| WireError::plugin(format!("`{JOURNAL}` holds a line without a time: `{line}`")))?;
            Ok(Entry { at_ms, text: text.to_owned() })
        })
        .collect()
}

fn append(ctx: &mut Context<'_>, text: &str) -> Result<usize, WireError> {
    if text.contains(['\n', '\r']) {
        return Err(WireError::new(ErrorCode::InvalidArgument, "a journal entry is one line"));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let file = open_path(ctx, "open", JOURNAL, FileAccess::Write)?;
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(file).map_err(|e| failed("open", JOURNAL, &e))?;
    writeln!(file, "{} {text}", now.as_millis()).map_err(|e| failed("append to", JOURNAL, &e))?;
    Ok(entries(ctx)?.len())
}

fn list(ctx: &mut Context<'_>, dir: &str) -> Result<Vec<String>, WireError> {
    let mut names = Vec::new();
    let path = open_path(ctx, "list", dir, FileAccess::Read)?;
    for entry in std::fs::read_dir(path).map_err(|e| failed("list", dir, &e))? {
        let entry = entry.map_err(|e| failed("list", dir, &e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

impl Plugin for Journal {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "append") => Reply::encode(&append(ctx, msg.decode()?)?),
            (MessageKind::Request, "read") => Reply::encode(&entries(ctx)?),
            (MessageKind::Request, "list") => Reply::encode(&list(ctx, msg.decode()?)?),
            (MessageKind::Request, "read_file") => {
                let path: &str = msg.decode()?;
                let file = open_path(ctx, "read", path, FileAccess::Read)?;
                Reply::encode(&std::fs::read_to_string(file).map_err(|e| failed("read", path, &e))?)
            }
            (MessageKind::Request, "write_file") => {
                let WriteFile { path, text } = msg.decode()?;
                let file = open_path(ctx, "write", &path, FileAccess::Write)?;
                std::fs::write(file, text).map_err(|e| failed("write", &path, &e))?;
                Ok(Reply::empty())
            }
            (_, topic) => Err(WireError::new(ErrorCode::NotFound, format!("journal has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Journal);
