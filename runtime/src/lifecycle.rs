//! Hot reload's hand-over (ABI 1.2): the old instance's state, asked for with
//! an `unload` message, and given to the new one with a `restore` message
//! before its `on_load`.

use parking_lot::Mutex;
use std::sync::Arc;

use wasp_protocol::{ApiVersion, ErrorCode, WireError, abi};

use crate::router::{Answer, ReplyTo};

/// The id of `unload` and `restore` messages: positive as an `i64` (the ABI
/// promises ids `> 0`) and above any id the broker's counter reaches, so it
/// never collides with a request the plugin deferred.
pub(crate) const LIFECYCLE_ID: u64 = i64::MAX as u64;

/// What asking an instance for its state gave. The outer `Result` of
/// [`Instance::unload`](crate::Instance::unload) is the instance's health;
/// this is the plugin's answer.
pub type Unloaded = Result<Option<Vec<u8>>, WireError>;

/// Whether a plugin built for `abi` receives `unload` and `restore`.
pub(crate) fn speaks_lifecycle(built: ApiVersion) -> bool {
    // Built for 1.2 or a later 1.x.
    built.accepts(abi::LIFECYCLE_SINCE).is_ok()
}

/// Catches the answer the plugin gives to its `unload` message.
pub(crate) struct Capture(Arc<Mutex<Option<Answer>>>);

impl Capture {
    /// A capture and the reply target that fills it.
    pub(crate) fn new() -> (Self, ReplyTo) {
        let slot = Arc::new(Mutex::new(None));
        let target = slot.clone();
        let reply = ReplyTo::new(move |answer| {
            *target.lock() = Some(answer);
        });
        (Self(slot), reply)
    }

    /// The plugin's answer as a state: a reply is the state, no reply is no
    /// state, an error reply is the plugin refusing the hand-over.
    pub(crate) fn state(self) -> Unloaded {
        match self.0.lock().take() {
            Some(Ok(state)) => Ok(Some(state)),
            None => Ok(None),
            Some(Err(e)) if e.code == ErrorCode::NoReply => Ok(None),
            Some(Err(e)) => Err(e),
        }
    }
}
