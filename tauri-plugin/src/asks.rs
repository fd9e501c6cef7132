//! Asking the user about permissions the policy leaves open.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::oneshot;
use wasp_actors::{AskRequest, Decision, Policy};

use crate::error::{Error, Result};
use crate::models::PermissionAsk;

/// The future an [`Ask::Callback`] returns.
pub type AskFuture = Pin<Box<dyn Future<Output = Decision> + Send>>;

type Callback = Arc<dyn Fn(AskRequest) -> AskFuture + Send + Sync>;

/// Who answers a permission request that no policy rule and no remembered
/// answer decides.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Ask {
    /// Nobody: it is denied (and not remembered).
    #[default]
    Deny,
    /// The user, in the app's webview: every webview gets the event
    /// `wasp://permission` with a [`PermissionAsk`]; the page answers with
    /// the `answer_permission` command (permission set `wasp:ask`).
    /// Questions asked before the page listened are listed by
    /// `pending_permissions`. The load waits for the answer.
    Webview,
    /// Your own code — a native dialog, a settings file. The answer is
    /// remembered.
    Callback(Callback),
}

impl Ask {
    /// An [`Ask::Callback`] from an async function.
    pub fn callback<F, Fut>(f: F) -> Self
    where
        F: Fn(AskRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        Self::Callback(Arc::new(move |q| Box::pin(f(q))))
    }
}

impl std::fmt::Debug for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Deny => "Deny",
            Self::Webview => "Webview",
            Self::Callback(_) => "Callback",
        })
    }
}

/// The questions waiting for the webview's answers.
pub(crate) struct Asks {
    pending: Mutex<BTreeMap<u64, Pending>>,
    next: AtomicU64,
    timeout: Duration,
}

struct Pending {
    ask: PermissionAsk,
    answer: oneshot::Sender<bool>,
}

impl Asks {
    pub(crate) fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self { pending: Mutex::default(), next: AtomicU64::new(1), timeout })
    }

    /// The policy with `ask` attached.
    pub(crate) fn attach<R: Runtime>(self: &Arc<Self>, ask: Ask, policy: Policy, app: AppHandle<R>) -> Policy {
        match ask {
            Ask::Deny => policy,
            Ask::Callback(callback) => policy.ask(move |q| callback(q)),
            Ask::Webview => {
                let asks = self.clone();
                policy.ask_or_skip(move |q| {
                    let asks = asks.clone();
                    let app = app.clone();
                    async move { asks.ask_webview(&app, q).await }
                })
            }
        }
    }

    async fn ask_webview<R: Runtime>(&self, app: &AppHandle<R>, q: AskRequest) -> Option<Decision> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let ask = PermissionAsk {
            id,
            plugin: q.plugin,
            version: q.version,
            permission: q.permission.to_string(),
            description: q.description,
            identity: q.identity,
            publisher: q.publisher,
            previous_identity: q.previous_identity,
        };
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, Pending { ask: ask.clone(), answer: tx });
        if let Err(e) = app.emit("wasp://permission", &ask) {
            tracing::warn!(target: "wasp::tauri", "cannot emit a permission question: {e}");
        }
        let answer = tokio::time::timeout(self.timeout, rx).await;
        self.lock().remove(&id);
        match answer {
            Ok(Ok(allow)) => Some(if allow { Decision::Allow } else { Decision::Deny }),
            // No answer in time, or the app is closing: denied this time only.
            _ => None,
        }
    }

    /// The questions still waiting, oldest first.
    pub(crate) fn pending(&self) -> Vec<PermissionAsk> {
        self.lock().values().map(|p| p.ask.clone()).collect()
    }

    /// Answers question `id`.
    pub(crate) fn answer(&self, id: u64, allow: bool) -> Result<()> {
        let pending = self
            .lock()
            .remove(&id)
            .ok_or_else(|| Error::NotFound(format!("no permission question #{id} is waiting")))?;
        let _ = pending.answer.send(allow);
        Ok(())
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, BTreeMap<u64, Pending>> {
        self.pending.lock()
    }
}
