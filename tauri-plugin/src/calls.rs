//! What a webview does with calls in flight: cancelling its own requests
//! (the JS `request`'s `AbortSignal`), and answering plugins' calls of
//! functions it serves (the JS `serve`).
//!
//! Both are the webview's own: a ticket or a call id means something only
//! to the webview that made it, so one page can neither cancel another's
//! requests nor answer its calls. Both are bounded: [`MAX_TICKETS`]
//! cancellable requests and [`MAX_CALLS`] unanswered calls at a time.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tauri::ipc::Channel;
use tokio::sync::oneshot;
use wasp_actors::{AppCall, Host};
use wasp_protocol::{ErrorCode, WireError};

use crate::error::{Error, Result};

/// The most cancellable requests in flight, over every webview.
pub const MAX_TICKETS: usize = 4096;
/// The most calls of webview-served functions waiting for their answer.
pub const MAX_CALLS: usize = 4096;
/// The longest ticket a page may choose.
const MAX_TICKET_LEN: usize = 128;

/// A cancellable request's slot: waiting, or cancelled before the request
/// got here (the two commands race).
enum Slot {
    Waiting(oneshot::Sender<()>),
    Cancelled,
}

/// The webviews' cancellable requests, by (webview, ticket).
#[derive(Default)]
pub(crate) struct Cancels(Mutex<HashMap<(String, String), Slot>>);

impl Cancels {
    /// Registers the request with `ticket` of webview `label`; the returned
    /// future completes when it is cancelled.
    pub(crate) fn register(&self, label: &str, ticket: &str) -> Result<impl Future<Output = ()> + use<>> {
        check_ticket(ticket)?;
        let (tx, rx) = oneshot::channel();
        let mut slots = self.0.lock();
        let key = (label.to_owned(), ticket.to_owned());
        let already = match slots.remove(&key) {
            Some(Slot::Cancelled) => true,
            Some(Slot::Waiting(_)) => return Err(Error::InvalidPayload(format!("ticket `{ticket}` is in use"))),
            None => false,
        };
        if !already {
            if slots.len() >= MAX_TICKETS {
                return Err(busy("cancellable requests", MAX_TICKETS));
            }
            slots.insert(key, Slot::Waiting(tx));
        }
        Ok(async move {
            if !already {
                // A dropped sender (the request ended) is no cancellation.
                if rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
    }

    /// The request with `ticket` of webview `label` ended.
    pub(crate) fn forget(&self, label: &str, ticket: &str) {
        self.0.lock().remove(&(label.to_owned(), ticket.to_owned()));
    }

    /// Cancels the request with `ticket` of webview `label`; a cancel that
    /// arrives first is kept for the request (within [`MAX_TICKETS`]).
    pub(crate) fn cancel(&self, label: &str, ticket: &str) -> Result<()> {
        check_ticket(ticket)?;
        let mut slots = self.0.lock();
        let key = (label.to_owned(), ticket.to_owned());
        match slots.remove(&key) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(());
            }
            Some(Slot::Cancelled) | None if slots.len() >= MAX_TICKETS => {
                return Err(busy("cancellable requests", MAX_TICKETS));
            }
            Some(Slot::Cancelled) | None => {
                slots.insert(key, Slot::Cancelled);
            }
        }
        Ok(())
    }

    /// Forgets every ticket of a webview (it closed or navigated away).
    pub(crate) fn drop_webview(&self, label: &str) {
        self.0.lock().retain(|(webview, _), _| webview != label);
    }
}

fn check_ticket(ticket: &str) -> Result<()> {
    if ticket.is_empty() || ticket.len() > MAX_TICKET_LEN {
        return Err(Error::InvalidPayload(format!("a ticket has 1 to {MAX_TICKET_LEN} bytes")));
    }
    Ok(())
}

fn busy(what: &str, max: usize) -> Error {
    Error::Wire(WireError::new(ErrorCode::Busy, format!("too many {what} in flight (at most {max})")))
}

/// What a webview serving functions receives on its channel.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ServedMessage {
    /// A plugin calls the function: answer with the `answer` command and `id`.
    #[serde(rename_all = "camelCase")]
    Call {
        /// The call's id, for `answer`.
        id: u64,
        /// The function called.
        function: String,
        /// The calling plugin.
        plugin: String,
        /// The payload, as JSON.
        payload: serde_json::Value,
    },
    /// The plugin stopped waiting (its timeout, or it was stopped): an
    /// answer to `id` is no longer wanted.
    Cancel {
        /// The call's id.
        id: u64,
    },
}

/// What a page answers a call with: JSON, or an error.
pub(crate) type PageAnswer = std::result::Result<serde_json::Value, WireError>;

/// The calls of webview-served functions waiting for their answer.
#[derive(Default)]
pub(crate) struct Served {
    next: AtomicU64,
    /// id → (the serving webview, where the answer goes).
    waiting: Mutex<HashMap<u64, (String, oneshot::Sender<PageAnswer>)>>,
    /// function → the webview serving it.
    functions: Mutex<HashMap<String, String>>,
}

impl Served {
    /// Serves `function` from webview `label`: each call is sent on
    /// `channel` and waits for [`Served::answer`].
    pub(crate) fn serve(
        self: &Arc<Self>,
        host: &Host,
        label: &str,
        function: &str,
        channel: Channel<ServedMessage>,
    ) -> Result<()> {
        let served = Arc::downgrade(self);
        let webview = label.to_owned();
        host.serve(function, move |call: AppCall| {
            let (served, webview, channel) = (served.clone(), webview.clone(), channel.clone());
            async move {
                let Some(served) = served.upgrade() else {
                    return Err(WireError::new(ErrorCode::Unavailable, "the app is shutting down"));
                };
                served.call(&webview, &channel, call).await
            }
        })?;
        self.functions.lock().insert(function.to_owned(), label.to_owned());
        Ok(())
    }

    /// One call: sent to the page, answered by it, or cancelled (the future
    /// dropped) — then the page is told.
    async fn call(
        &self,
        webview: &str,
        channel: &Channel<ServedMessage>,
        call: AppCall,
    ) -> std::result::Result<Vec<u8>, WireError> {
        let payload = wasp_protocol::json::to_json(call.payload())?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = self.waiting.lock();
            if waiting.len() >= MAX_CALLS {
                return Err(WireError::new(ErrorCode::Busy, format!("the app has {MAX_CALLS} calls unanswered")));
            }
            waiting.insert(id, (webview.to_owned(), tx));
        }
        let message =
            ServedMessage::Call { id, function: call.function().to_owned(), plugin: call.plugin().to_owned(), payload };
        let guard = Unanswered { served: self, channel, id };
        if channel.send(message).is_err() {
            return Err(WireError::new(
                ErrorCode::Unavailable,
                format!("the page serving `{}` is gone", call.function()),
            ));
        }
        let answer = rx.await.unwrap_or_else(|_| {
            Err(WireError::new(ErrorCode::Unavailable, format!("the page serving `{}` went away", call.function())))
        });
        drop(guard);
        wasp_protocol::json::from_json(&answer?)
    }

    /// The page's answer to call `id`.
    pub(crate) fn answer(&self, label: &str, id: u64, answer: PageAnswer) -> Result<()> {
        let mut waiting = self.waiting.lock();
        match waiting.get(&id) {
            Some((webview, _)) if webview == label => {}
            _ => return Err(Error::NotFound(format!("this webview has no unanswered call #{id}"))),
        }
        if let Some((_, tx)) = waiting.remove(&id) {
            let _ = tx.send(answer);
        }
        Ok(())
    }

    /// Stops serving `function` from webview `label`.
    pub(crate) fn withdraw(&self, host: &Host, label: &str, function: &str) -> Result<()> {
        let mut functions = self.functions.lock();
        match functions.get(function) {
            Some(webview) if webview == label => {}
            _ => return Err(Error::NotFound(format!("this webview serves no function `{function}`"))),
        }
        functions.remove(function);
        host.withdraw(function);
        Ok(())
    }

    /// Withdraws a webview's functions and fails its unanswered calls (it
    /// closed or navigated away).
    pub(crate) fn drop_webview(&self, host: &Host, label: &str) {
        self.functions.lock().retain(|function, webview| {
            let keep = webview != label;
            if !keep {
                host.withdraw(function);
            }
            keep
        });
        self.waiting.lock().retain(|_, (webview, _)| webview != label);
    }
}

/// A call still waiting when its future is dropped (the plugin's timeout,
/// or the plugin stopped): forgets it and tells the page.
struct Unanswered<'a> {
    served: &'a Served,
    channel: &'a Channel<ServedMessage>,
    id: u64,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if self.served.waiting.lock().remove(&self.id).is_some() {
            let _ = self.channel.send(ServedMessage::Cancel { id: self.id });
        }
    }
}
