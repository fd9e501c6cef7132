//! `legacy`: a bookmarks plugin written the native way, before wasp.
//!
//! The "before" of `docs/migration.md`. It reaches the operating system
//! directly, as a native library may and a WebAssembly module may not;
//! `cargo wasp analyze examples/migration/legacy` lists every such place, and
//! `examples/migration/ported` is the same plugin after the migration, with
//! the same topics, payloads, replies and errors.
//!
//! What it uses that blocks WebAssembly:
//!
//! - `std::fs`: the bookmarks live in a file, `bookmarks.tsv`, in a
//!   directory of its own under the system's temporary directory
//!   (`std::env::temp_dir`), removed when the plugin is dropped; every
//!   instance starts empty;
//! - C, through an `extern "C"` block: the directory is named after the
//!   process id (`getpid`);
//! - `getrandom`: … and a random tag, as are backups;
//! - `std::env::var`: `WASP_BOOKMARKS_MAX`, the most bookmarks it keeps
//!   ([`DEFAULT_MAX`] when unset);
//! - `std::thread`: `backup` copies the file in a background thread;
//! - `std::time::SystemTime::now`: stamps the backups;
//! - `std::net::TcpStream`: `fetch` speaks HTTP/1.1 itself (`http://` only);
//! - `std::process::Command`: `open` starts the system's URL opener.
//!
//! Requests (the same in `ported`):
//!
//! - `add` with a [`NewBookmark`]: stores it and answers its id (`u64`).
//!   Ids count from 1 in the order bookmarks are added and are never
//!   reused. An empty title or URL, or one holding a control character, is
//!   refused with an `invalid_argument` error; when the maximum number of
//!   bookmarks is stored, with a `plugin` error;
//! - `get` with an id (`u64`): the [`Bookmark`] (`not_found` when there is
//!   none);
//! - `list`: every [`Bookmark`], by id;
//! - `count`: how many there are (`u64`);
//! - `remove` with an id: whether it existed (`bool`);
//! - `backup`: saves a copy of every bookmark in the background; answers
//!   how many it saves (`u64`);
//! - `fetch` with an id: `GET`s the bookmark's URL; answers the HTTP status
//!   (`u16`);
//! - `open` with an id: opens the bookmark's URL in the system's browser;
//!   answers nil.
//!
//! Any other topic is answered with a `not_found` error. `fetch` and `open`
//! reach the network and start programs: a parity script leaves them out.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wasp_sdk::prelude::*;

/// The most bookmarks kept when `WASP_BOOKMARKS_MAX` is unset.
pub const DEFAULT_MAX: u64 = 100;
/// The file holding the bookmarks, in the plugin's directory.
pub const FILE_NAME: &str = "bookmarks.tsv";

/// One stored bookmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    /// Its id: 1, 2, 3, … in the order bookmarks were added.
    pub id: u64,
    /// What it is called.
    pub title: String,
    /// Where it points.
    pub url: String,
}

/// The payload of `add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBookmark {
    /// What it is called.
    pub title: String,
    /// Where it points.
    pub url: String,
}

unsafe extern "C" {
    /// The C library's process id (`_getpid` in the Windows C runtime).
    #[cfg_attr(windows, link_name = "_getpid")]
    fn getpid() -> std::ffi::c_int;
}

/// The bookmarks plugin. Its state is its file.
pub struct Bookmarks {
    /// The directory holding [`FILE_NAME`] and the backups.
    dir: PathBuf,
}

impl Default for Bookmarks {
    fn default() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `getpid` takes no arguments, cannot fail and touches no memory of ours.
        let pid = unsafe { getpid() };
        let dir = std::env::temp_dir().join(format!("wasp-legacy-{pid}-{n}-{}", tag()));
        Self { dir }
    }
}

impl Drop for Bookmarks {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 8 random bytes, in hex.
fn tag() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness the tag is zeros: names stay unique by pid and count.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bookmarks and the next id, as the file holds them.
struct Store {
    next: u64,
    items: Vec<Bookmark>,
}

fn failed(what: &str, path: &Path, e: &std::io::Error) -> WireError {
    WireError::plugin(format!("cannot {what} `{}`: {e}", path.display()))
}

fn not_found(id: u64) -> WireError {
    WireError::new(ErrorCode::NotFound, format!("bookmarks has no bookmark {id}"))
}

/// Refuses what the file could not hold (and nobody should store).
fn validate(new: &NewBookmark) -> Result<(), WireError> {
    for (field, value) in [("title", &new.title), ("url", &new.url)] {
        if value.is_empty() {
            return Err(WireError::new(ErrorCode::InvalidArgument, format!("a bookmark's {field} must not be empty")));
        }
        if value.chars().any(char::is_control) {
            return Err(WireError::new(
                ErrorCode::InvalidArgument,
                format!("a bookmark's {field} must not hold control characters"),
            ));
        }
    }
    Ok(())
}

impl Bookmarks {
    fn file(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads the file: a line `next<TAB><id>`, then `<id><TAB><title><TAB><url>` lines.
    fn load(&self) -> Result<Store, WireError> {
        let path = self.file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Store { next: 1, items: Vec::new() }),
            Err(e) => return Err(failed("read", &path, &e)),
        };
        let corrupt = |line: &str| WireError::plugin(format!("`{}` holds a bad line: `{line}`", path.display()));
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let next = header.strip_prefix("next\t").and_then(|n| n.parse().ok()).ok_or_else(|| corrupt(header))?;
        let items = lines
            .map(|line| {
                let mut fields = line.splitn(3, '\t');
                match (fields.next().and_then(|id| id.parse().ok()), fields.next(), fields.next()) {
                    (Some(id), Some(title), Some(url)) => Ok(Bookmark { id, title: title.into(), url: url.into() }),
                    _ => Err(corrupt(line)),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Store { next, items })
    }

    fn save(&self, store: &Store) -> Result<(), WireError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| failed("create", &self.dir, &e))?;
        let mut text = format!("next\t{}\n", store.next);
        for b in &store.items {
            text.push_str(&format!("{}\t{}\t{}\n", b.id, b.title, b.url));
        }
        let path = self.file();
        std::fs::write(&path, text).map_err(|e| failed("write", &path, &e))
    }

    fn add(&self, new: NewBookmark) -> Result<u64, WireError> {
        validate(&new)?;
        let max = std::env::var("WASP_BOOKMARKS_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX);
        let mut store = self.load()?;
        let count = store.items.len() as u64;
        if count >= max {
            return Err(WireError::plugin(format!("bookmarks already holds {count} bookmarks; its maximum is {max}")));
        }
        let id = store.next;
        store.items.push(Bookmark { id, title: new.title, url: new.url });
        store.next += 1;
        self.save(&store)?;
        Ok(id)
    }

    fn get(&self, id: u64) -> Result<Bookmark, WireError> {
        self.load()?.items.into_iter().find(|b| b.id == id).ok_or_else(|| not_found(id))
    }

    fn remove(&self, id: u64) -> Result<bool, WireError> {
        let mut store = self.load()?;
        let before = store.items.len();
        store.items.retain(|b| b.id != id);
        if store.items.len() == before {
            return Ok(false);
        }
        self.save(&store)?;
        Ok(true)
    }

    /// Copies the file to `backup-<ms>-<tag>.tsv` in a background thread.
    fn backup(&self) -> Result<u64, WireError> {
        let count = self.load()?.items.len() as u64;
        let (from, dir) = (self.file(), self.dir.clone());
        std::thread::spawn(move || {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            // Nothing stored yet: nothing to copy.
            let _ = std::fs::copy(&from, dir.join(format!("backup-{ms}-{}.tsv", tag())));
        });
        Ok(count)
    }
}

/// `GET`s an `http://` URL over a plain socket; the response's status.
fn fetch(url: &str) -> Result<u16, WireError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| WireError::plugin(format!("legacy fetches http:// only: `{url}`")))?;
    let (authority, path) = rest.split_once('/').map_or((rest, String::from("/")), |(a, p)| (a, format!("/{p}")));
    let address = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    let failed = |e: std::io::Error| WireError::plugin(format!("cannot fetch `{url}`: {e}"));
    let mut stream = TcpStream::connect(&address).map_err(failed)?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(failed)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").map_err(failed)?;
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).map_err(failed)?;
    status
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| WireError::plugin(format!("`{url}` answered no HTTP status: `{}`", status.trim_end())))
}

/// Opens `url` with the system's opener.
fn open(url: &str) -> Result<(), WireError> {
    let (program, args): (&str, &[&str]) = if cfg!(windows) {
        ("cmd", &["/C", "start", ""])
    } else if cfg!(target_os = "macos") {
        ("open", &[])
    } else {
        ("xdg-open", &[])
    };
    let status = std::process::Command::new(program)
        .args(args)
        .arg(url)
        .status()
        .map_err(|e| WireError::plugin(format!("cannot start `{program}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(WireError::plugin(format!("`{program}` failed to open `{url}`: {status}")))
    }
}

impl Plugin for Bookmarks {
    fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "add") => Reply::encode(&self.add(msg.decode()?)?),
            (MessageKind::Request, "get") => Reply::encode(&self.get(msg.decode()?)?),
            (MessageKind::Request, "list") => Reply::encode(&self.load()?.items),
            (MessageKind::Request, "count") => Reply::encode(&(self.load()?.items.len() as u64)),
            (MessageKind::Request, "remove") => Reply::encode(&self.remove(msg.decode()?)?),
            (MessageKind::Request, "backup") => Reply::encode(&self.backup()?),
            (MessageKind::Request, "fetch") => Reply::encode(&fetch(&self.get(msg.decode()?)?.url)?),
            (MessageKind::Request, "open") => Reply::encode(&open(&self.get(msg.decode()?)?.url)?),
            (_, topic) => Err(WireError::new(ErrorCode::NotFound, format!("bookmarks has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Bookmarks);

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use wasp_sdk::HostApi;
    use wasp_sdk::protocol::codec::{from_payload, to_payload};

    use super::*;

    /// A host that offers nothing: the legacy plugin asks it for nothing.
    struct NoHost;

    fn denied() -> WireError {
        WireError::new(ErrorCode::PermissionDenied, "legacy needs no host")
    }

    impl HostApi for NoHost {
        fn send(&mut self, _: &str, _: &str, _: &[u8]) -> Result<(), WireError> {
            Err(denied())
        }
        fn publish(&mut self, _: &str, _: &[u8]) -> Result<(), WireError> {
            Err(denied())
        }
        fn subscribe(&mut self, _: &str) -> Result<(), WireError> {
            Err(denied())
        }
        fn unsubscribe(&mut self, _: &str) -> Result<(), WireError> {
            Err(denied())
        }
        fn request(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<Vec<u8>, WireError> {
            Err(denied())
        }
        fn request_async(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<u64, WireError> {
            Err(denied())
        }
        fn reply(&mut self, _: u64, _: Result<&[u8], &WireError>) -> Result<(), WireError> {
            Ok(())
        }
        fn log(&mut self, _: LogLevel, _: &str) {}
        fn call(&mut self, _: &str, _: &[u8]) -> Result<Vec<u8>, WireError> {
            Err(denied())
        }
    }

    fn request<T: Serialize, R: DeserializeOwned>(p: &mut Bookmarks, topic: &str, value: &T) -> Result<R, WireError> {
        let payload = to_payload(value).expect("encode");
        let msg = Message { kind: MessageKind::Request, id: 1, from: "test", topic, payload: &payload };
        let reply = p.on_message(&mut Context::new(&mut NoHost), msg)?;
        Ok(from_payload(reply.payload().expect("a reply")).expect("decode"))
    }

    fn new(title: &str, url: &str) -> NewBookmark {
        NewBookmark { title: title.into(), url: url.into() }
    }

    /// The script `ported`'s test runs too, with the same answers.
    #[test]
    fn keeps_bookmarks_in_a_file_of_its_own() {
        let mut plugin = Bookmarks::default();
        let p = &mut plugin;
        assert_eq!(request::<_, u64>(p, "add", &new("wasp", "https://example.com/wasp")), Ok(1));
        assert_eq!(request::<_, u64>(p, "add", &new("docs", "https://example.com/docs")), Ok(2));
        assert_eq!(request::<_, u64>(p, "add", &new("abi", "https://example.com/abi")), Ok(3));
        assert_eq!(request::<_, bool>(p, "remove", &2u64), Ok(true));
        assert_eq!(request::<_, bool>(p, "remove", &2u64), Ok(false));
        assert_eq!(request::<_, Bookmark>(p, "get", &2u64).map_err(|e| e.code), Err(ErrorCode::NotFound));
        let bad = request::<_, u64>(p, "add", &new("", "https://example.com")).map_err(|e| e.code);
        assert_eq!(bad, Err(ErrorCode::InvalidArgument));
        assert_eq!(request::<_, u64>(p, "add", &new("four", "https://example.com/4")), Ok(4));
        let list: Vec<Bookmark> = request(p, "list", &()).expect("list");
        assert_eq!(list.iter().map(|b| b.id).collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(list[1], Bookmark { id: 3, title: "abi".into(), url: "https://example.com/abi".into() });
        assert_eq!(request::<_, u64>(p, "count", &()), Ok(3));
        assert_eq!(request::<_, u64>(p, "backup", &()), Ok(3));
        assert_eq!(request::<_, ()>(p, "nope", &()).map_err(|e| e.code), Err(ErrorCode::NotFound));
    }

    #[test]
    fn every_instance_starts_empty_and_cleans_up() {
        let mut first = Bookmarks::default();
        assert_eq!(request::<_, u64>(&mut first, "add", &new("a", "https://a.example")), Ok(1));
        assert!(std::fs::read_to_string(first.file()).expect("the file").contains("https://a.example"));
        let mut second = Bookmarks::default();
        assert_eq!(request::<_, u64>(&mut second, "count", &()), Ok(0));
        let dir = first.dir.clone();
        drop(first);
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }
}
