//! What a guest's failure means: why handing it a message failed, what its
//! trap says, and the message of a failed load.

use wasmtime::{Trap, WasmBacktrace};

use crate::Error;

pub(super) enum Fault {
    /// The guest broke the ABI (a bad buffer from `wasp_alloc`).
    Guest(String),
    /// `wasp_alloc` found no room for the message (it returned 0): the host
    /// could not hand it over, which is not the plugin's fault. Says how
    /// large the message was and what was asked.
    NoRoom(String),
    /// A trap or a spent budget.
    Wasm(wasmtime::Error),
}

/// The message of a failed load: the status, and the last line the plugin
/// logged at error level (the SDK logs the error `on_load` returned) if any.
pub(crate) fn load_failure(what: &str, status: i32, reason: Option<String>) -> String {
    match reason {
        Some(reason) => format!("{what} {status}: {reason}"),
        None => format!("{what} {status}; the plugin logged no error to say why"),
    }
}

/// What a guest's trap means, for core modules and components alike: its
/// CPU budget spent (`slices` says so), a quarantine, or a trap with the
/// panic message the guest recorded and its backtrace.
pub(crate) fn fault_of(
    plugin: &str,
    budget: std::time::Duration,
    slices: &mut crate::scheduler::SliceState,
    quarantined: bool,
    panic: Option<String>,
    e: &wasmtime::Error,
) -> Error {
    let plugin = plugin.to_owned();
    if slices.exceeded {
        slices.exceeded = false;
        return Error::DeadlineExceeded { plugin, budget };
    }
    if quarantined {
        return Error::Quarantined { plugin };
    }
    let backtrace = e.downcast_ref::<WasmBacktrace>().map(|bt| bt.to_string());
    // A host function's error (WASI's `proc_exit`, say) is the root cause
    // under wasmtime's "error while executing" context.
    let trap = e.downcast_ref::<Trap>().map_or_else(|| e.root_cause().to_string(), |t| t.to_string());
    let message = match panic {
        Some(panic) => format!("{trap} after a panic: {panic}"),
        None => trap,
    };
    Error::Trap { plugin, message, backtrace }
}

#[cfg(test)]
mod tests {
    use super::load_failure;

    #[test]
    fn a_failed_load_names_the_status_and_the_reason_logged() {
        assert_eq!(
            load_failure("wasp_load returned status", 7, Some("no config".into())),
            "wasp_load returned status 7: no config"
        );
        assert_eq!(
            load_failure("wasp_load returned status", -1, None),
            "wasp_load returned status -1; the plugin logged no error to say why"
        );
    }
}
