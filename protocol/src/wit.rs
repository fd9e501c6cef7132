//! The `wasp:plugin` WIT world (`wit/plugin.wit`) mapped onto the message
//! model, written once for both sides.
//!
//! The host (wasmtime's `bindgen!`) and the guest (wit-bindgen) each
//! generate their own Rust types for the world's `message-kind`, `level`
//! and `status` enums, so the conversions cannot be plain functions here.
//! [`wit_mapping!`](crate::wit_mapping) writes them for the generated types
//! it is given, in the crate that generated them: the runtime and the SDK
//! invoke it once each, and a case added to the WIT enums stops both from
//! compiling until it is mapped here.

/// Writes the conversions between the message model and a crate's
/// generated types of the `wasp:plugin` WIT world.
///
/// Invoke it where the generated `message-kind`, `level` and `status`
/// enums are in scope, with their names. Here with stand-ins shaped as
/// the generators make them:
///
/// ```
/// use wasp_protocol::{LogLevel, MessageKind};
///
/// # #[derive(Debug, PartialEq)]
/// enum WitKind { Request, Event, Reply, Failure, Unload, Restore }
/// enum Level { Trace, Debug, Info, Warn, Error }
/// enum Status { Done, Deferred }
///
/// wasp_protocol::wit_mapping!(WitKind, Level, Status);
///
/// assert_eq!(WitKind::from(MessageKind::Error), WitKind::Failure);
/// assert_eq!(MessageKind::try_from(WitKind::Failure), Ok(MessageKind::Error));
/// assert_eq!(LogLevel::from(Level::Warn), LogLevel::Warn);
/// ```
///
/// It implements `From<MessageKind>`, `From<Lifecycle>`, `From<LogLevel>`
/// and `From<Dispatched>` for the WIT types, and the way back:
/// `TryFrom<WitKind> for MessageKind` (a lifecycle message is the
/// [`Lifecycle`](crate::Lifecycle) error), `From<Level> for LogLevel`,
/// `From<Status> for Dispatched`. The WIT `failure` is the model's
/// [`MessageKind::Error`](crate::MessageKind::Error).
#[macro_export]
macro_rules! wit_mapping {
    ($kind:ident, $level:ident, $status:ident) => {
        impl ::core::convert::From<$crate::MessageKind> for $kind {
            fn from(kind: $crate::MessageKind) -> Self {
                match kind {
                    $crate::MessageKind::Request => $kind::Request,
                    $crate::MessageKind::Event => $kind::Event,
                    $crate::MessageKind::Reply => $kind::Reply,
                    $crate::MessageKind::Error => $kind::Failure,
                }
            }
        }

        impl ::core::convert::From<$crate::Lifecycle> for $kind {
            fn from(lifecycle: $crate::Lifecycle) -> Self {
                match lifecycle {
                    $crate::Lifecycle::Unload => $kind::Unload,
                    $crate::Lifecycle::Restore => $kind::Restore,
                }
            }
        }

        impl ::core::convert::TryFrom<$kind> for $crate::MessageKind {
            type Error = $crate::Lifecycle;

            fn try_from(kind: $kind) -> ::core::result::Result<Self, $crate::Lifecycle> {
                match kind {
                    $kind::Request => Ok($crate::MessageKind::Request),
                    $kind::Event => Ok($crate::MessageKind::Event),
                    $kind::Reply => Ok($crate::MessageKind::Reply),
                    $kind::Failure => Ok($crate::MessageKind::Error),
                    $kind::Unload => Err($crate::Lifecycle::Unload),
                    $kind::Restore => Err($crate::Lifecycle::Restore),
                }
            }
        }

        impl ::core::convert::From<$crate::LogLevel> for $level {
            fn from(level: $crate::LogLevel) -> Self {
                match level {
                    $crate::LogLevel::Trace => $level::Trace,
                    $crate::LogLevel::Debug => $level::Debug,
                    $crate::LogLevel::Info => $level::Info,
                    $crate::LogLevel::Warn => $level::Warn,
                    $crate::LogLevel::Error => $level::Error,
                }
            }
        }

        impl ::core::convert::From<$level> for $crate::LogLevel {
            fn from(level: $level) -> Self {
                match level {
                    $level::Trace => $crate::LogLevel::Trace,
                    $level::Debug => $crate::LogLevel::Debug,
                    $level::Info => $crate::LogLevel::Info,
                    $level::Warn => $crate::LogLevel::Warn,
                    $level::Error => $crate::LogLevel::Error,
                }
            }
        }

        impl ::core::convert::From<$crate::Dispatched> for $status {
            fn from(dispatched: $crate::Dispatched) -> Self {
                match dispatched {
                    $crate::Dispatched::Done => $status::Done,
                    $crate::Dispatched::Deferred => $status::Deferred,
                }
            }
        }

        impl ::core::convert::From<$status> for $crate::Dispatched {
            fn from(status: $status) -> Self {
                match status {
                    $status::Done => $crate::Dispatched::Done,
                    $status::Deferred => $crate::Dispatched::Deferred,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{Dispatched, Lifecycle, LogLevel, MessageKind};

    /// The world's enums as both generators produce them: one unit variant
    /// per case, in the order of `wit/plugin.wit`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum WitKind {
        Request,
        Event,
        Reply,
        Failure,
        Unload,
        Restore,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Level {
        Trace,
        Debug,
        Info,
        Warn,
        Error,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Status {
        Done,
        Deferred,
    }

    crate::wit_mapping!(WitKind, Level, Status);

    /// The cases of `enum name { ... }` in `wit/plugin.wit`, in order.
    fn wit_cases(name: &str) -> Vec<String> {
        let wit = include_str!("../wit/plugin.wit");
        let start = wit.find(&format!("enum {name} {{")).unwrap_or_else(|| panic!("enum {name} in the world"));
        let body = &wit[start..];
        let body = &body[body.find('{').expect("opens") + 1..body.find('}').expect("closes")];
        body.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("//"))
            .map(|line| line.trim_end_matches(',').to_owned())
            .collect()
    }

    #[test]
    fn the_mirror_enums_are_the_world_s() {
        assert_eq!(wit_cases("message-kind"), ["request", "event", "reply", "failure", "unload", "restore"]);
        assert_eq!(wit_cases("level"), ["trace", "debug", "info", "warn", "error"]);
        assert_eq!(wit_cases("status"), ["done", "deferred"]);
    }

    #[test]
    fn every_kind_crosses_the_world_and_back() {
        let wit: Vec<WitKind> = MessageKind::ALL.iter().map(|&k| WitKind::from(k)).collect();
        assert_eq!(wit, [WitKind::Request, WitKind::Event, WitKind::Reply, WitKind::Failure]);
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::try_from(WitKind::from(kind)), Ok(kind));
        }
        for lifecycle in [Lifecycle::Unload, Lifecycle::Restore] {
            assert_eq!(MessageKind::try_from(WitKind::from(lifecycle)), Err(lifecycle));
        }
        // The world's order is the ABI's numbering, lifecycle messages included.
        for (number, wit) in [WitKind::Request, WitKind::Event, WitKind::Reply, WitKind::Failure]
            .into_iter()
            .chain([WitKind::Unload, WitKind::Restore])
            .enumerate()
        {
            let abi = match MessageKind::try_from(wit) {
                Ok(kind) => kind.to_abi(),
                Err(lifecycle) => lifecycle.to_abi(),
            };
            assert_eq!(abi, number as i32, "{wit:?}");
        }
    }

    #[test]
    fn levels_and_statuses_cross_the_world_and_back() {
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::from(Level::from(level)), level);
        }
        assert_eq!(Level::from(LogLevel::Warn), Level::Warn);
        for dispatched in [Dispatched::Done, Dispatched::Deferred] {
            assert_eq!(Dispatched::from(Status::from(dispatched)), dispatched);
        }
    }
}
