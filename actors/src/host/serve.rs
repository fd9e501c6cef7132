//! The app's own functions, which plugins call: a request to `host` on a
//! topic naming the function, under the plugin's `call:<function>`
//! permission (`docs/guide.md`, "Functions the app offers").

use std::future::Future;

use wasp_protocol::WireError;
use wasp_runtime::rules;

use crate::broker::{AppCall, app_fn};

use super::Host;

impl Host {
    /// Offers `function` to plugins: a plugin holding `call:<function>` (or a
    /// pattern covering it) reaches `handler` with a request to `host` on
    /// topic `function`, from every form — WASM (`request`/`request_async`),
    /// native, in process, components and the parts of a hybrid plugin.
    ///
    /// The handler runs on a task of its own, once per call, while the
    /// plugin waits (or, after `request_async`, gets its answer later). Its
    /// future is dropped — the call is cancelled — when the plugin's request
    /// timeout passes (the plugin is answered `timeout`) or the plugin stops
    /// waiting; a handler that panics answers `internal`, and an answer
    /// larger than the plugin takes answers `too_large`. A plugin without the
    /// permission is refused `permission_denied` before the handler is
    /// reached, and the refusal is audited like any other.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), wasp_protocol::WireError> {
    /// use wasp_actors::{AppCall, Host};
    /// let host = Host::builder().build().unwrap();
    /// host.serve("clock.zone", |_call: AppCall| async move {
    ///     Ok(wasp_protocol::codec::to_payload("Europe/Paris")?)
    /// })?;
    /// assert_eq!(host.served(), ["clock.zone"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_argument` when `function` is not a valid topic (plugins
    /// could not name it) or is served already ([`Host::withdraw`] it first).
    pub fn serve<F, Fut>(&self, function: &str, handler: F) -> Result<(), WireError>
    where
        F: Fn(AppCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, WireError>> + Send + 'static,
    {
        rules::check_topic(function)?;
        if function.contains('*') {
            return Err(WireError::new(
                wasp_protocol::ErrorCode::InvalidArgument,
                format!("`{function}`: a function's name cannot hold `*` (permissions use it as a pattern)"),
            ));
        }
        self.inner.broker.app.add(function, app_fn(handler))
    }

    /// Stops offering `function`: later calls are answered `not_found`;
    /// calls running go on. Says whether it was offered.
    pub fn withdraw(&self, function: &str) -> bool {
        self.inner.broker.app.remove(function)
    }

    /// The names of the functions the app offers, sorted.
    pub fn served(&self) -> Vec<String> {
        self.inner.broker.app.names()
    }
}
