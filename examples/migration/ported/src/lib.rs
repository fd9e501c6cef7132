//! `ported`: the bookmarks plugin of `legacy`, moved to wasp host services.
//!
//! The "after" of `docs/migration.md`: the same topics, payloads, replies
//! and errors as `examples/migration/legacy`, but everything that reached
//! the operating system now goes through the plugin's [`Context`], so it
//! builds for `wasm32-unknown-unknown` and runs in any form (WebAssembly,
//! in process, native library). Each service needs a permission, which
//! `plugin.toml` requests:
//!
//! - `storage` (was `std::fs`, `std::env::temp_dir`, and `getpid` through
//!   C to name the directory): the bookmarks live in the plugin's key-value
//!   store, one key `bookmark/<id, 20 digits>` each (so the keys sort by
//!   id), and the next id under `next_id`. The store is the plugin's own:
//!   no directory to name, nothing to clean up;
//! - `config` (was `std::env::var`): `max_bookmarks`, the most bookmarks
//!   it keeps ([`DEFAULT_MAX`] when unset);
//! - `timers` (was `std::thread::spawn`): `backup` sets a timer, and the
//!   copy is made when it fires, as the event [`BACKUP`] from `host`;
//! - `clock` (was `SystemTime::now`) and `random` (was `getrandom`): the
//!   backup's key, `backup/<ms>-<tag>`;
//! - `net:<host>` (was `std::net::TcpStream`): `fetch` asks the host with
//!   [`Context::http`], which speaks `https://` too. A host that wants
//!   `fetch` to work grants the hosts it may reach;
//! - `publish:bookmarks.*` (was `std::process::Command`): a plugin cannot
//!   start programs, so `open` publishes [`OPEN`] with the [`Bookmark`] and
//!   the app, which may, opens it.
//!
//! Requests (the same as `legacy`):
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
//! - `open` with an id: has the app open the bookmark's URL (publishes
//!   [`OPEN`]); answers nil.
//!
//! Any other topic is answered with a `not_found` error. `fetch` and `open`
//! reach the network and the app: a parity script leaves them out.

use serde::{Deserialize, Serialize};
use wasp_sdk::HttpRequest;
use wasp_sdk::prelude::*;
use wasp_sdk::protocol::HOST;

/// The most bookmarks kept when the configuration has no `max_bookmarks`.
pub const DEFAULT_MAX: u64 = 100;
/// The topic `open` publishes the bookmark on, for the app to open.
pub const OPEN: &str = "bookmarks.open";
/// The topic of the timer event that makes a backup.
pub const BACKUP: &str = "bookmarks.backup";
/// The prefix of the storage keys holding bookmarks.
pub const PREFIX: &str = "bookmark/";
/// The storage key of the next id.
pub const NEXT_ID: &str = "next_id";
/// The prefix of the storage keys holding backups (a list of [`Bookmark`]s each).
pub const BACKUP_PREFIX: &str = "backup/";

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

/// The bookmarks plugin. Everything it keeps is in host storage.
#[derive(Debug, Default)]
pub struct Bookmarks;

/// The storage key of bookmark `id`.
fn key(id: u64) -> String {
    format!("{PREFIX}{id:020}")
}

fn not_found(id: u64) -> WireError {
    WireError::new(ErrorCode::NotFound, format!("bookmarks has no bookmark {id}"))
}

/// Refuses what `legacy` refused (its file could not hold it).
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

fn add(ctx: &mut Context<'_>, new: NewBookmark) -> Result<u64, WireError> {
    validate(&new)?;
    let max = ctx.config::<u64>("max_bookmarks")?.unwrap_or(DEFAULT_MAX);
    let count = ctx.kv_list(PREFIX)?.len() as u64;
    if count >= max {
        return Err(WireError::plugin(format!("bookmarks already holds {count} bookmarks; its maximum is {max}")));
    }
    let id = ctx.kv_get_as::<u64>(NEXT_ID)?.unwrap_or(1);
    ctx.kv_set_as(&key(id), &Bookmark { id, title: new.title, url: new.url })?;
    ctx.kv_set_as(NEXT_ID, &(id + 1))?;
    Ok(id)
}

fn get(ctx: &mut Context<'_>, id: u64) -> Result<Bookmark, WireError> {
    ctx.kv_get_as(&key(id))?.ok_or_else(|| not_found(id))
}

fn list(ctx: &mut Context<'_>) -> Result<Vec<Bookmark>, WireError> {
    let mut items = Vec::new();
    for k in ctx.kv_list(PREFIX)? {
        if let Some(b) = ctx.kv_get_as(&k)? {
            items.push(b);
        }
    }
    Ok(items)
}

/// Stores every bookmark under `backup/<ms>-<tag>` (the timer fired).
fn make_backup(ctx: &mut Context<'_>) -> Result<(), WireError> {
    let items = list(ctx)?;
    if items.is_empty() {
        return Ok(());
    }
    let ms = ctx.now()?.unix_nanos / 1_000_000;
    let tag: String = ctx.random_bytes(8)?.iter().map(|b| format!("{b:02x}")).collect();
    ctx.kv_set_as(&format!("{BACKUP_PREFIX}{ms}-{tag}"), &items)
}

fn fetch(ctx: &mut Context<'_>, url: String) -> Result<u16, WireError> {
    let request = HttpRequest { method: "GET".into(), url, headers: Vec::new(), body: Vec::new(), timeout_ms: None };
    Ok(ctx.http(&request)?.status)
}

impl Plugin for Bookmarks {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "add") => Reply::encode(&add(ctx, msg.decode()?)?),
            (MessageKind::Request, "get") => Reply::encode(&get(ctx, msg.decode()?)?),
            (MessageKind::Request, "list") => Reply::encode(&list(ctx)?),
            (MessageKind::Request, "count") => Reply::encode(&(ctx.kv_list(PREFIX)?.len() as u64)),
            (MessageKind::Request, "remove") => Reply::encode(&ctx.kv_delete(&key(msg.decode()?))?),
            (MessageKind::Request, "backup") => {
                let count = ctx.kv_list(PREFIX)?.len() as u64;
                ctx.set_timeout(0, BACKUP, &())?;
                Reply::encode(&count)
            }
            (MessageKind::Request, "fetch") => {
                let url = get(ctx, msg.decode()?)?.url;
                Reply::encode(&fetch(ctx, url)?)
            }
            (MessageKind::Request, "open") => {
                let bookmark = get(ctx, msg.decode()?)?;
                ctx.publish(OPEN, &bookmark)?;
                Reply::encode(&())
            }
            (MessageKind::Event, BACKUP) if msg.from == HOST => {
                make_backup(ctx)?;
                Ok(Reply::empty())
            }
            (_, topic) => Err(WireError::new(ErrorCode::NotFound, format!("bookmarks has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Bookmarks);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::de::DeserializeOwned;
    use wasp_sdk::HostApi;
    use wasp_sdk::protocol::codec::{from_payload, to_payload};
    use wasp_sdk::protocol::services::{self as svc, ClockNow, KvKey, KvList, KvSet, RandomBytes, TimerSet};

    use super::*;

    /// A host with an in-memory store, no configuration, and timers that
    /// only record what they were asked.
    #[derive(Default)]
    struct FakeHost {
        kv: BTreeMap<String, Vec<u8>>,
        timers: Vec<TimerSet>,
        published: Vec<String>,
    }

    fn denied(what: &str) -> WireError {
        WireError::new(ErrorCode::PermissionDenied, format!("the fake host does not {what}"))
    }

    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
        to_payload(value).map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))
    }

    impl HostApi for FakeHost {
        fn send(&mut self, _: &str, _: &str, _: &[u8]) -> Result<(), WireError> {
            Err(denied("send"))
        }
        fn publish(&mut self, topic: &str, _: &[u8]) -> Result<(), WireError> {
            self.published.push(topic.to_owned());
            Ok(())
        }
        fn subscribe(&mut self, _: &str) -> Result<(), WireError> {
            Ok(())
        }
        fn unsubscribe(&mut self, _: &str) -> Result<(), WireError> {
            Ok(())
        }
        fn request(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<Vec<u8>, WireError> {
            Err(denied("request"))
        }
        fn request_async(&mut self, _: &str, _: &str, _: &[u8], _: Option<u32>) -> Result<u64, WireError> {
            Err(denied("request"))
        }
        fn reply(&mut self, _: u64, _: Result<&[u8], &WireError>) -> Result<(), WireError> {
            Ok(())
        }
        fn log(&mut self, _: LogLevel, _: &str) {}
        fn call(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError> {
            let bad =
                |e: wasp_sdk::protocol::codec::CodecError| WireError::new(ErrorCode::InvalidMessage, e.to_string());
            match service {
                svc::KV_GET => {
                    let KvKey { key } = from_payload(payload).map_err(bad)?;
                    encode(&self.kv.get(&key).map(|v| serde_bytes::Bytes::new(v)))
                }
                svc::KV_SET => {
                    let KvSet { key, value } = from_payload(payload).map_err(bad)?;
                    self.kv.insert(key, value);
                    encode(&())
                }
                svc::KV_DELETE => {
                    let KvKey { key } = from_payload(payload).map_err(bad)?;
                    encode(&self.kv.remove(&key).is_some())
                }
                svc::KV_LIST => {
                    let KvList { prefix } = from_payload(payload).map_err(bad)?;
                    encode(&self.kv.keys().filter(|k| k.starts_with(&prefix)).collect::<Vec<_>>())
                }
                svc::CONFIG_GET => encode(&None::<u64>),
                svc::TIMER_SET_TIMEOUT => {
                    self.timers.push(from_payload(payload).map_err(bad)?);
                    encode(&(self.timers.len() as u64))
                }
                svc::CLOCK_NOW => encode(&ClockNow { unix_nanos: 1_700_000_000_000_000_000, monotonic_nanos: 0 }),
                svc::RANDOM_BYTES => {
                    let RandomBytes { len } = from_payload(payload).map_err(bad)?;
                    encode(&serde_bytes::ByteBuf::from(vec![7u8; len as usize]))
                }
                other => Err(denied(other)),
            }
        }
    }

    fn request<T: Serialize, R: DeserializeOwned>(
        plugin: &mut Bookmarks,
        host: &mut FakeHost,
        topic: &str,
        value: &T,
    ) -> Result<R, WireError> {
        let payload = to_payload(value).expect("encode");
        let msg = Message { kind: MessageKind::Request, id: 1, from: "test", topic, payload: &payload };
        let reply = plugin.on_message(&mut Context::new(host), msg)?;
        Ok(from_payload(reply.payload().expect("a reply")).expect("decode"))
    }

    fn new(title: &str, url: &str) -> NewBookmark {
        NewBookmark { title: title.into(), url: url.into() }
    }

    /// The script `legacy`'s test runs too, with the same answers.
    #[test]
    fn keeps_bookmarks_in_storage_like_legacy_kept_its_file() {
        let (mut p, mut host) = (Bookmarks, FakeHost::default());
        let p = &mut p;
        let h = &mut host;
        assert_eq!(request::<_, u64>(p, h, "add", &new("wasp", "https://example.com/wasp")), Ok(1));
        assert_eq!(request::<_, u64>(p, h, "add", &new("docs", "https://example.com/docs")), Ok(2));
        assert_eq!(request::<_, u64>(p, h, "add", &new("abi", "https://example.com/abi")), Ok(3));
        assert_eq!(request::<_, bool>(p, h, "remove", &2u64), Ok(true));
        assert_eq!(request::<_, bool>(p, h, "remove", &2u64), Ok(false));
        assert_eq!(request::<_, Bookmark>(p, h, "get", &2u64).map_err(|e| e.code), Err(ErrorCode::NotFound));
        let bad = request::<_, u64>(p, h, "add", &new("", "https://example.com")).map_err(|e| e.code);
        assert_eq!(bad, Err(ErrorCode::InvalidArgument));
        assert_eq!(request::<_, u64>(p, h, "add", &new("four", "https://example.com/4")), Ok(4));
        let list: Vec<Bookmark> = request(p, h, "list", &()).expect("list");
        assert_eq!(list.iter().map(|b| b.id).collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(list[1], Bookmark { id: 3, title: "abi".into(), url: "https://example.com/abi".into() });
        assert_eq!(request::<_, u64>(p, h, "count", &()), Ok(3));
        assert_eq!(request::<_, u64>(p, h, "backup", &()), Ok(3));
        assert_eq!(request::<_, ()>(p, h, "nope", &()).map_err(|e| e.code), Err(ErrorCode::NotFound));

        // The backup is made when the timer fires.
        assert_eq!(h.timers.len(), 1);
        let fired = h.timers[0].payload.clone().expect("a payload");
        let msg = Message { kind: MessageKind::Event, id: 0, from: HOST, topic: BACKUP, payload: &fired };
        p.on_message(&mut Context::new(h), msg).expect("backup");
        let saved: Vec<_> = h.kv.iter().filter(|(k, _)| k.starts_with(BACKUP_PREFIX)).collect();
        assert_eq!(saved.len(), 1, "{:?}", h.kv.keys());
        assert_eq!(from_payload::<Vec<Bookmark>>(saved[0].1).expect("a backup"), list);

        // `open` leaves the opening to the app.
        assert_eq!(request::<_, ()>(p, h, "open", &3u64), Ok(()));
        assert_eq!(h.published, [OPEN]);
    }
}
