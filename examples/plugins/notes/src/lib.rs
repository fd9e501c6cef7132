//! `notes`: a note keeper built on the host services.
//!
//! It shows each service behind the `call` import, and the permission each
//! one needs:
//!
//! - `storage`: notes live in the plugin's key-value store (one key
//!   `note/<id>` per note), so they survive restarts of the plugin and of
//!   the host, within the manifest's `storage_quota`;
//! - `random`: a note's id is 8 random bytes, in hex;
//! - `clock`: a note carries the wall-clock time it was added;
//! - `config`: `greeting`, and `max_notes` (how many notes it keeps at
//!   most), from the manifest's `[config]` or the host;
//! - `timers`: reminders, published as `notes.reminder` when they fall due
//!   (`publish:notes.*`);
//! - `net:<host>`: `http` fetches a URL, if the host granted that host.
//!
//! Requests:
//!
//! - `add` with a [`NewNote`]: stores it and answers its id;
//! - `get` with an id: the [`Note`] (`not_found` when there is none);
//! - `list`: every [`Note`], sorted by id;
//! - `delete` with an id: whether it existed;
//! - `remind` with a [`Remind`]: publishes `notes.reminder` with the
//!   [`Note`] once, `after_ms` from now; answers the timer's id;
//! - `remind_every` with a [`Remind`]: the same every `after_ms`, until
//!   `cancel`;
//! - `cancel` with a timer id: stops it; whether it was active;
//! - `greeting`: the configured greeting;
//! - `usage`: bytes stored and the quota ([`KvUsage`]);
//! - `now`: the host's clocks ([`ClockNow`]);
//! - `random` with a length: that many random bytes;
//! - `config` with a key: the configuration value as the host holds it
//!   (nil when absent), through [`Context::call_raw`];
//! - `http` with a URL: the [`HttpResponse`] to a `GET` of it;
//! - `import`: asks the app for a file chosen by the user (the app's
//!   function `files.pick`, which needs `call:files.pick`; the app answers a
//!   [`PickedFile`]) and adds its text as a note; answers the note's id.

use serde::{Deserialize, Serialize};
use wasp_sdk::prelude::*;
use wasp_sdk::protocol::services::{self as svc, ConfigGet};
use wasp_sdk::protocol::{HOST, codec};
use wasp_sdk::{ClockNow, HttpRequest, HttpResponse, KvUsage};

/// The topic reminders are published on.
pub const REMINDER: &str = "notes.reminder";
/// The topic of the timer events the plugin sets for itself.
const DUE: &str = "notes.due";
/// The prefix of the storage keys holding notes.
const PREFIX: &str = "note/";
/// `max_notes` when the configuration has none.
pub const DEFAULT_MAX_NOTES: u64 = 100;
/// `greeting` when the configuration has none.
pub const DEFAULT_GREETING: &str = "hello";

/// One stored note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// 16 hex digits.
    pub id: String,
    /// What the note says.
    pub text: String,
    /// When it was added, in milliseconds since 1970-01-01 UTC.
    pub created_ms: u64,
}

/// The payload of `add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNote {
    /// What the note says.
    pub text: String,
}

/// What the app's `files.pick` answers: the file the user chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickedFile {
    /// Its name, without the folders.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// The payload of `remind` and `remind_every`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remind {
    /// The note to be reminded of.
    pub id: String,
    /// The delay (`remind`) or period (`remind_every`), in milliseconds.
    pub after_ms: u64,
}

/// The notes plugin. Everything it keeps is in host storage: a restarted
/// instance finds its notes where it left them.
#[derive(Default)]
pub struct Notes;

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

fn get(ctx: &mut Context<'_>, id: &str) -> Result<Note, WireError> {
    ctx.kv_get_as::<Note>(&key(id))?
        .ok_or_else(|| WireError::new(ErrorCode::NotFound, format!("notes has no note `{id}`")))
}

fn add(ctx: &mut Context<'_>, new: NewNote) -> Result<String, WireError> {
    let max = ctx.config::<u64>("max_notes")?.unwrap_or(DEFAULT_MAX_NOTES);
    let count = ctx.kv_list(PREFIX)?.len() as u64;
    if count >= max {
        return Err(WireError::plugin(format!("notes already holds {count} notes; its max_notes is {max}")));
    }
    let id: String = ctx.random_bytes(8)?.iter().map(|b| format!("{b:02x}")).collect();
    let created_ms = ctx.now()?.unix_nanos / 1_000_000;
    ctx.kv_set_as(&key(&id), &Note { id: id.clone(), text: new.text, created_ms })?;
    Ok(id)
}

fn list(ctx: &mut Context<'_>) -> Result<Vec<Note>, WireError> {
    let keys = ctx.kv_list(PREFIX)?;
    let mut notes = Vec::with_capacity(keys.len());
    for k in keys {
        // A key deleted since the listing is simply skipped.
        if let Some(note) = ctx.kv_get_as::<Note>(&k)? {
            notes.push(note);
        }
    }
    Ok(notes)
}

impl Plugin for Notes {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match (msg.kind, msg.topic) {
            (MessageKind::Request, "add") => Reply::encode(&add(ctx, msg.decode()?)?),
            (MessageKind::Request, "import") => {
                let file: PickedFile = ctx.request(HOST, "files.pick", &())?;
                Reply::encode(&add(ctx, NewNote { text: format!("{}: {}", file.name, file.text) })?)
            }
            (MessageKind::Request, "get") => Reply::encode(&get(ctx, msg.decode()?)?),
            (MessageKind::Request, "list") => Reply::encode(&list(ctx)?),
            (MessageKind::Request, "delete") => Reply::encode(&ctx.kv_delete(&key(msg.decode()?))?),
            (MessageKind::Request, "remind") => {
                let remind: Remind = msg.decode()?;
                get(ctx, &remind.id)?;
                Reply::encode(&ctx.set_timeout(remind.after_ms, DUE, &remind.id)?)
            }
            (MessageKind::Request, "remind_every") => {
                let remind: Remind = msg.decode()?;
                get(ctx, &remind.id)?;
                Reply::encode(&ctx.set_interval(remind.after_ms, DUE, &remind.id)?)
            }
            (MessageKind::Request, "cancel") => Reply::encode(&ctx.cancel_timer(msg.decode()?)?),
            (MessageKind::Request, "greeting") => {
                Reply::encode(&ctx.config::<String>("greeting")?.unwrap_or_else(|| DEFAULT_GREETING.to_owned()))
            }
            (MessageKind::Request, "usage") => Reply::encode::<KvUsage>(&ctx.kv_usage()?),
            (MessageKind::Request, "now") => Reply::encode::<ClockNow>(&ctx.now()?),
            (MessageKind::Request, "random") => {
                Reply::encode(serde_bytes::Bytes::new(&ctx.random_bytes(msg.decode()?)?))
            }
            (MessageKind::Request, "config") => {
                let key: String = msg.decode()?;
                Ok(Reply::bytes(ctx.call_raw(svc::CONFIG_GET, &codec::to_payload(&ConfigGet { key })?)?))
            }
            (MessageKind::Request, "http") => {
                let url: String = msg.decode()?;
                let request =
                    HttpRequest { method: "GET".into(), url, headers: Vec::new(), body: Vec::new(), timeout_ms: None };
                Reply::encode::<HttpResponse>(&ctx.http(&request)?)
            }
            (MessageKind::Event, DUE) if msg.from == HOST => {
                let id: String = msg.decode()?;
                // A note deleted since the reminder was set is not recalled.
                if let Some(note) = ctx.kv_get_as::<Note>(&key(&id))? {
                    ctx.publish(REMINDER, &note)?;
                }
                Ok(Reply::empty())
            }
            (_, topic) => Err(WireError::new(ErrorCode::NotFound, format!("notes has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Notes);
