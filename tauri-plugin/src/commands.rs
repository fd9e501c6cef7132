//! The commands the webview invokes (`plugin:wasp|<command>`).
//!
//! `request`, `send` and `publish` take their input in one of two forms:
//!
//! - JSON (`invoke(cmd, { to, topic, payload })`): the payload is converted
//!   to MessagePack here, once, and a reply is converted back to JSON;
//! - raw (`invoke(cmd, bytes, { headers: { "wasp-to", "wasp-topic" } })`):
//!   the body is the MessagePack payload, passed through untouched, and a
//!   reply comes back as raw bytes (an `ArrayBuffer`), never as a JSON
//!   array of numbers.

use parking_lot::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tauri::async_runtime::JoinHandle;
use tauri::ipc::{Channel, CommandScope, GlobalScope, InvokeBody, InvokeResponseBody, Request, Response};
use tauri::{AppHandle, Manager, Runtime, Webview};
use wasp_actors::TapRecord;

use crate::WaspExt;
use crate::convert;
use crate::error::{Error, Result};
use crate::models::{AuditEntry, LoadFailure, Loaded, PermissionAsk, PluginEntry, Subscribed, WaspEvent};
use crate::scope::{self, Entry, Target};

/// The calling window's wasp scope, from its capabilities: the entries on
/// the command's permission and the plugin-wide ones ([`scope`]).
type Scope = CommandScope<Entry>;
type Global = GlobalScope<Entry>;

/// Checks `target` against the calling window's scope.
fn in_scope(scope: &Scope, global: &Global, target: Target<'_>) -> Result<()> {
    let allows = scope.allows().iter().chain(global.allows()).map(|e| &**e);
    let denies = scope.denies().iter().chain(global.denies()).map(|e| &**e);
    Ok(scope::check(allows, denies, target)?)
}

/// The arguments of a message command, from either form.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageArgs {
    #[serde(default)]
    to: String,
    topic: String,
    #[serde(default)]
    payload: serde_json::Value,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    panel: Option<String>,
    /// A ticket the page chose, to cancel the request with `cancel`.
    #[serde(default)]
    cancel: Option<String>,
}

/// A message: where it goes, its MessagePack payload, and whether the
/// caller wants raw bytes back.
struct Message {
    args: MessageArgs,
    bytes: Vec<u8>,
    raw: bool,
}

fn header(request: &Request<'_>, name: &str) -> Result<Option<String>> {
    match request.headers().get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.to_owned()))
            .map_err(|_| Error::InvalidPayload(format!("header `{name}` is not ASCII text"))),
    }
}

fn message(request: &Request<'_>, needs_to: bool) -> Result<Message> {
    match request.body() {
        InvokeBody::Json(json) => {
            let args: MessageArgs = serde_json::from_value(json.clone())
                .map_err(|e| Error::InvalidPayload(format!("bad arguments: {e}")))?;
            if needs_to && args.to.is_empty() {
                return Err(Error::InvalidPayload("missing `to`: the plugin to message".into()));
            }
            let bytes = convert::to_msgpack(&args.payload)?;
            Ok(Message { args, bytes, raw: false })
        }
        InvokeBody::Raw(bytes) => {
            let missing = |h: &str| Error::InvalidPayload(format!("a raw message needs the header `{h}`"));
            let to =
                if needs_to { header(request, "wasp-to")?.ok_or_else(|| missing("wasp-to"))? } else { String::new() };
            let topic = header(request, "wasp-topic")?.ok_or_else(|| missing("wasp-topic"))?;
            let timeout_ms = match header(request, "wasp-timeout-ms")? {
                Some(ms) => Some(
                    ms.parse()
                        .map_err(|_| Error::InvalidPayload(format!("`wasp-timeout-ms` is not a number: `{ms}`")))?,
                ),
                None => None,
            };
            let panel = header(request, "wasp-panel")?;
            let cancel = header(request, "wasp-cancel")?;
            let args = MessageArgs { to, topic, payload: serde_json::Value::Null, timeout_ms, panel, cancel };
            Ok(Message { args, bytes: bytes.clone(), raw: true })
        }
    }
}

/// Every loaded plugin with its state and counters, by name.
#[tauri::command]
pub(crate) async fn plugins<R: Runtime>(app: AppHandle<R>) -> Result<Vec<PluginEntry>> {
    Ok(app.wasp().host().plugins().into_iter().map(PluginEntry::from).collect())
}

/// The plugin folders that failed to load at start, and the plugin
/// directories that could not be read ([`Wasp::load_failures`](crate::Wasp::load_failures)).
#[tauri::command]
pub(crate) fn load_failures<R: Runtime>(app: AppHandle<R>) -> Vec<LoadFailure> {
    app.wasp().load_failures()
}

/// Loads a plugin folder, manifest or file from the app's plugin directories.
#[tauri::command]
pub(crate) async fn load<R: Runtime>(app: AppHandle<R>, path: String) -> Result<Loaded> {
    let wasp = app.wasp();
    let path = wasp.resolve(&path)?;
    Ok(wasp.load(path).await?.into())
}

/// Unloads a plugin (its queued messages are still handled).
#[tauri::command]
pub(crate) async fn unload<R: Runtime>(app: AppHandle<R>, name: String) -> Result<()> {
    Ok(app.wasp().host().unload(&name).await?)
}

/// Reloads a plugin's code from where it was loaded; no queued message is lost.
#[tauri::command]
pub(crate) async fn reload<R: Runtime>(app: AppHandle<R>, name: String) -> Result<Loaded> {
    Ok(app.wasp().host().reload(&name).await?.into())
}

/// Sends a request and answers with the reply (JSON, or raw MessagePack).
/// With a `cancel` ticket, the `cancel` command with that ticket ends it:
/// the answer is then `cancelled`, and the plugin is told.
#[tauri::command]
pub(crate) async fn request<R: Runtime>(
    app: AppHandle<R>,
    webview: Webview<R>,
    request: Request<'_>,
    scope: Scope,
    global: Global,
) -> Result<Response> {
    let Message { args, bytes, raw } = message(&request, true)?;
    in_scope(&scope, &global, Target::Plugin(&args.to))?;
    let wasp = app.wasp();
    let host = wasp.host();
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let panel = args.panel.as_deref();
    let reply = match &args.cancel {
        Some(ticket) => {
            let cancelled = wasp.cancels.register(webview.label(), ticket)?;
            let reply = host.request_until(panel, &args.to, &args.topic, bytes, timeout, cancelled).await;
            wasp.cancels.forget(webview.label(), ticket);
            reply?
        }
        None => host.request_until(panel, &args.to, &args.topic, bytes, timeout, std::future::pending()).await?,
    };
    if raw {
        return Ok(Response::new(reply));
    }
    let json = convert::to_json(&reply, &args.to)?;
    let text = serde_json::to_string(&json).map_err(|e| Error::InvalidPayload(e.to_string()))?;
    Ok(Response::new(InvokeResponseBody::Json(text)))
}

/// Sends a one-way message.
#[tauri::command]
pub(crate) async fn send<R: Runtime>(
    app: AppHandle<R>,
    request: Request<'_>,
    scope: Scope,
    global: Global,
) -> Result<()> {
    let Message { args, bytes, .. } = message(&request, true)?;
    in_scope(&scope, &global, Target::Plugin(&args.to))?;
    let host = app.wasp().host();
    match &args.panel {
        Some(plugin) => host.send_as(plugin, &args.to, &args.topic, bytes)?,
        None => host.send(&args.to, &args.topic, bytes)?,
    }
    Ok(())
}

/// Publishes on a topic, to plugins and host subscribers.
#[tauri::command]
pub(crate) async fn publish<R: Runtime>(
    app: AppHandle<R>,
    request: Request<'_>,
    scope: Scope,
    global: Global,
) -> Result<()> {
    let Message { args, bytes, .. } = message(&request, false)?;
    in_scope(&scope, &global, Target::Topic(&args.topic))?;
    let host = app.wasp().host();
    match &args.panel {
        Some(plugin) => host.publish_as(plugin, &args.topic, bytes)?,
        None => host.publish(&args.topic, bytes)?,
    }
    Ok(())
}

/// Subscribes the calling webview to events on `pattern`. Events arrive
/// on `channel`, in order, from the moment this answers (even before: the
/// channel exists first, so none is missed).
#[tauri::command]
pub(crate) async fn subscribe<R: Runtime>(
    app: AppHandle<R>,
    webview: Webview<R>,
    pattern: String,
    panel: Option<String>,
    channel: Channel<WaspEvent>,
    scope: Scope,
    global: Global,
) -> Result<Subscribed> {
    in_scope(&scope, &global, Target::Topic(&pattern))?;
    app.wasp().subscribe(webview.label(), &pattern, panel.as_deref(), channel)
}

/// Ends one of the calling webview's subscriptions.
#[tauri::command]
pub(crate) async fn unsubscribe<R: Runtime>(app: AppHandle<R>, webview: Webview<R>, id: u64) -> Result<()> {
    app.wasp().unsubscribe(webview.label(), id)
}

/// Cancels the calling webview's request with `ticket` (its `AbortSignal`).
#[tauri::command]
pub(crate) async fn cancel<R: Runtime>(app: AppHandle<R>, webview: Webview<R>, ticket: String) -> Result<()> {
    app.wasp().cancels.cancel(webview.label(), &ticket)
}

/// Offers `function` to plugins from the calling webview: each call arrives
/// on `channel`, and the webview answers it with `answer`.
#[tauri::command]
pub(crate) async fn serve<R: Runtime>(
    app: AppHandle<R>,
    webview: Webview<R>,
    function: String,
    channel: Channel<crate::ServedMessage>,
) -> Result<()> {
    let wasp = app.wasp();
    wasp.served.serve(wasp.host(), webview.label(), &function, channel)
}

/// The calling webview's answer to call `id` of a function it serves: a
/// JSON `payload`, or an `error` (`{ message }`, answered with the code
/// `plugin`).
#[tauri::command]
pub(crate) async fn answer<R: Runtime>(
    app: AppHandle<R>,
    webview: Webview<R>,
    id: u64,
    payload: Option<serde_json::Value>,
    error: Option<String>,
) -> Result<()> {
    let answer = match error {
        Some(message) => Err(wasp_protocol::WireError::new(wasp_protocol::ErrorCode::Plugin, message)),
        None => Ok(payload.unwrap_or(serde_json::Value::Null)),
    };
    app.wasp().served.answer(webview.label(), id, answer)
}

/// Stops offering `function`, which the calling webview serves.
#[tauri::command]
pub(crate) async fn withdraw<R: Runtime>(app: AppHandle<R>, webview: Webview<R>, function: String) -> Result<()> {
    let wasp = app.wasp();
    wasp.served.withdraw(wasp.host(), webview.label(), &function)
}

/// Grants a permission to a loaded plugin (remembered).
#[tauri::command]
pub(crate) async fn grant<R: Runtime>(app: AppHandle<R>, plugin: String, permission: String) -> Result<()> {
    Ok(app.wasp().host().grant(&plugin, &permission).await?)
}

/// Revokes a permission of a loaded plugin (remembered).
#[tauri::command]
pub(crate) async fn revoke<R: Runtime>(app: AppHandle<R>, plugin: String, permission: String) -> Result<()> {
    Ok(app.wasp().host().revoke(&plugin, &permission).await?)
}

/// The permission questions waiting for an answer.
#[tauri::command]
pub(crate) async fn pending_permissions<R: Runtime>(app: AppHandle<R>) -> Result<Vec<PermissionAsk>> {
    Ok(app.wasp().pending_permissions())
}

/// Answers a permission question.
#[tauri::command]
pub(crate) async fn answer_permission<R: Runtime>(app: AppHandle<R>, id: u64, allow: bool) -> Result<()> {
    app.wasp().answer_permission(id, allow)
}

/// The most recent audit events, oldest first.
#[tauri::command]
pub(crate) async fn audit<R: Runtime>(app: AppHandle<R>) -> Result<Vec<AuditEntry>> {
    Ok(app.wasp().host().audit_log().into_iter().map(AuditEntry::from).collect())
}

/// The webviews' open taps: each ends when its webview reloads or closes.
#[derive(Default)]
pub(crate) struct Taps(Mutex<Vec<(String, JoinHandle<()>)>>);

impl Taps {
    /// Closes the taps of webview `label`.
    pub(crate) fn drop_webview(&self, label: &str) {
        self.0.lock().retain(|(webview, task)| {
            let keep = webview != label;
            if !keep {
                task.abort();
            }
            keep
        });
    }
}

/// Streams every message the host routes to `channel`, one
/// [`TapRecord`] each (see `Host::tap`), until the webview reloads or
/// closes.
#[tauri::command]
pub(crate) async fn tap<R: Runtime>(app: AppHandle<R>, webview: Webview<R>, channel: Channel<TapRecord>) -> Result<()> {
    let mut tap = app.wasp().host().tap();
    let task = tauri::async_runtime::spawn(async move {
        while let Some(record) = tap.recv().await {
            if channel.send(record).is_err() {
                break;
            }
        }
    });
    match app.try_state::<Taps>() {
        Some(taps) => taps.0.lock().push((webview.label().to_owned(), task)),
        None => task.abort(),
    }
    Ok(())
}
