//! The app's own functions (`Host::serve`): what a plugin reaches with a
//! request to `host` on a topic naming the function, under `call:<function>`.
//!
//! A call runs the app's handler on a task of its own, so a handler that
//! panics answers `internal` instead of taking a broker thread with it. The
//! handler's future is dropped (Rust's cancellation) when the plugin's
//! timeout passes, when the plugin stops waiting (its instance faulted or
//! was replaced), and when the function is withdrawn; the plugin is then
//! answered `timeout` or nothing (nobody waits).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::de::DeserializeOwned;
use wasp_protocol::{ErrorCode, WireError, codec};
use wasp_runtime::{Answer, BoxFuture, ReplyTo};

use super::Broker;

/// One call of an app function by a plugin: who calls, which function, and
/// the MessagePack payload it sent.
///
/// ```
/// # async fn demo(host: wasp_actors::Host) -> Result<(), wasp_protocol::WireError> {
/// use wasp_actors::AppCall;
/// host.serve("greet", |call: AppCall| async move {
///     let name: String = call.decode()?;
///     Ok(wasp_protocol::codec::to_payload(&format!("hello {name}, you are {}", call.plugin()))?)
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AppCall {
    plugin: Arc<str>,
    function: Arc<str>,
    payload: Vec<u8>,
    max_message_size: usize,
}

impl AppCall {
    /// The calling plugin's name (a component's own name for a hybrid's part).
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The function called: the request's topic.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The payload as sent: MessagePack bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload, taken.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// The payload decoded as `T`.
    ///
    /// # Errors
    ///
    /// `invalid_message` when the payload is not exactly one MessagePack
    /// value of type `T` (or nests too deep): answer the plugin with it.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WireError> {
        Ok(codec::decode(&self.payload, self.max_message_size)?)
    }
}

/// An app function as the broker keeps it.
pub(crate) type AppFn = Arc<dyn Fn(AppCall) -> BoxFuture<Answer> + Send + Sync>;

/// Boxes a handler written as an async closure.
pub(crate) fn app_fn<F, Fut>(handler: F) -> AppFn
where
    F: Fn(AppCall) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    Arc::new(move |call| Box::pin(handler(call)))
}

/// The functions the app serves, by name.
#[derive(Default)]
pub(crate) struct AppFunctions(DashMap<Arc<str>, AppFn>);

impl AppFunctions {
    /// Serves `function` with `handler`, unless it is served already.
    pub(crate) fn add(&self, function: &str, handler: AppFn) -> Result<(), WireError> {
        match self.0.entry(Arc::from(function)) {
            dashmap::Entry::Occupied(_) => Err(WireError::new(
                ErrorCode::InvalidArgument,
                format!("the app serves a function `{function}` already; withdraw it first"),
            )),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(handler);
                Ok(())
            }
        }
    }

    /// Withdraws `function`; says whether it was served.
    pub(crate) fn remove(&self, function: &str) -> bool {
        self.0.remove(function).is_some()
    }

    /// The names served, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.iter().map(|f| f.key().to_string()).collect();
        names.sort();
        names
    }

    /// Whether `function` is served.
    pub(crate) fn serves(&self, function: &str) -> bool {
        self.0.contains_key(function)
    }

    fn get(&self, function: &str) -> Option<AppFn> {
        self.0.get(function).map(|f| f.value().clone())
    }
}

/// The answer to a call of a function the app does not serve.
pub(crate) fn no_function(function: &str) -> WireError {
    WireError::new(ErrorCode::NotFound, format!("the app serves no function `{function}`"))
}

/// Aborts the task running a call when whoever waits for it goes away.
pub(crate) struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Broker {
    /// Runs app function `function` for plugin `from` (its permission was
    /// checked), answering `reply` within `timeout`. The returned handle
    /// aborts the call; `None` when the call was answered at once (no such
    /// function).
    pub(crate) fn call_app(
        &self,
        from: &Arc<str>,
        function: &str,
        payload: Vec<u8>,
        timeout: Duration,
        reply: ReplyTo,
    ) -> Option<tokio::task::AbortHandle> {
        self.counters.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(handler) = self.app.get(function) else {
            reply.send(Err(no_function(function)));
            return None;
        };
        // The answer goes to the plugin: no larger than it takes.
        let max = self.route(from).map_or(usize::MAX, |r| r.max_message_size);
        let call = AppCall { plugin: from.clone(), function: Arc::from(function), payload, max_message_size: max };
        let function = call.function.clone();
        let task = tokio::spawn(async move {
            // The handler on a task of its own: a panic is its task's end,
            // and this one answers for it.
            let handling = tokio::spawn(handler(call));
            let _abort = AbortOnDrop(handling.abort_handle());
            let answer = match tokio::time::timeout(timeout, handling).await {
                Ok(Ok(Ok(payload))) if payload.len() > max => Err(WireError::new(
                    ErrorCode::TooLarge,
                    format!("the app's `{function}` answered {} bytes; the plugin takes at most {max}", payload.len()),
                )),
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(WireError::new(ErrorCode::Internal, format!("the app's `{function}` panicked"))),
                Err(_) => Err(WireError::new(
                    ErrorCode::Timeout,
                    format!("the app's `{function}` did not answer within {} ms", timeout.as_millis()),
                )),
            };
            reply.send(answer);
        });
        Some(task.abort_handle())
    }

    /// A plugin's waited request to app function `function`.
    pub(crate) fn request_app(
        &self,
        from: &Arc<str>,
        function: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<Answer> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reply = ReplyTo::new(move |answer| {
            let _ = tx.send(answer);
        });
        let guard = self.call_app(from, function, payload, timeout, reply).map(AbortOnDrop);
        let function = function.to_owned();
        Box::pin(async move {
            let answer = rx.await.unwrap_or_else(|_| {
                Err(WireError::new(ErrorCode::Internal, format!("the answer of the app's `{function}` was lost")))
            });
            drop(guard);
            answer
        })
    }
}
