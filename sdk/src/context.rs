//! How a plugin talks to the host and to other plugins.

use serde::{Serialize, de::DeserializeOwned};
use wasp_protocol::services::{
    self as svc, ClockNow, ConfigGet, FsResolve, HttpRequest, HttpResponse, KvKey, KvList, KvSet, KvUsage, RandomBytes,
    TimerCancel, TimerSet,
};
use wasp_protocol::{ErrorCode, HostApi, LogLevel, WireError};

use crate::message::encode;

/// A plugin's handle on the outside world, valid for one call.
///
/// Every method goes through the host, which checks it against the plugin's
/// permissions and limits: nothing here can block the host or reach what the
/// host did not allow.
pub struct Context<'a> {
    host: &'a mut dyn HostApi,
    restored: Option<&'a [u8]>,
}

impl<'a> Context<'a> {
    /// Wraps a backend's host API. Backends call this; plugins receive it.
    pub fn new(host: &'a mut dyn HostApi) -> Self {
        Self { host, restored: None }
    }

    /// A context for [`Plugin::on_load`](crate::Plugin::on_load) of an
    /// instance started by a hot reload, carrying the state the old
    /// instance returned from [`Plugin::on_unload`](crate::Plugin::on_unload).
    /// Backends call this.
    pub fn with_restored(host: &'a mut dyn HostApi, restored: Option<&'a [u8]>) -> Self {
        Self { host, restored }
    }

    /// The state the previous instance returned from
    /// [`Plugin::on_unload`](crate::Plugin::on_unload) when a hot reload
    /// replaced it with this code. `Some` only during
    /// [`Plugin::on_load`](crate::Plugin::on_load) of a reloaded instance
    /// whose predecessor saved a state; `None` on a first load, after a
    /// crash, and in every other call.
    pub fn restored(&self) -> Option<&[u8]> {
        self.restored
    }

    /// [`Context::restored`], decoded from MessagePack (the pair of
    /// [`crate::encode`] in `on_unload`). A state that does not decode is an
    /// `invalid_message` error: return it from `on_load` to refuse the reload
    /// and keep the old code running, or ignore it to start afresh.
    pub fn restored_as<T: DeserializeOwned>(&self) -> Result<Option<T>, WireError> {
        self.restored
            .map(|bytes| {
                wasp_protocol::codec::from_slice(bytes).map_err(|e| {
                    WireError::new(ErrorCode::InvalidMessage, format!("the restored state does not decode: {e}"))
                })
            })
            .transpose()
    }

    /// The shared library `name` that the plugin's manifest `uses`
    /// (`uses = ["json@1"]`): call its functions with
    /// [`Library::call`](crate::Library::call).
    ///
    /// ```no_run
    /// # use wasp_sdk::prelude::*;
    /// # fn f(ctx: &mut Context<'_>) -> Result<(), WireError> {
    /// let packed = ctx.library("json").call("to_msgpack", br#"{"a": 1}"#)?;
    /// # Ok(()) }
    /// ```
    pub fn library<'c>(&'c mut self, name: &'c str) -> crate::Library<'c, 'a> {
        crate::Library::new(self, name)
    }

    /// Sends `value` one-way to the plugin `to` (or `host`).
    pub fn send<T: Serialize + ?Sized>(&mut self, to: &str, topic: &str, value: &T) -> Result<(), WireError> {
        self.host.send(to, topic, &encode(value)?)
    }

    /// [`Context::send`] with a payload that is already MessagePack.
    pub fn send_raw(&mut self, to: &str, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        self.host.send(to, topic, payload)
    }

    /// Publishes `value` to every subscriber of `topic`.
    pub fn publish<T: Serialize + ?Sized>(&mut self, topic: &str, value: &T) -> Result<(), WireError> {
        self.host.publish(topic, &encode(value)?)
    }

    /// [`Context::publish`] with a payload that is already MessagePack.
    pub fn publish_raw(&mut self, topic: &str, payload: &[u8]) -> Result<(), WireError> {
        self.host.publish(topic, payload)
    }

    /// Receives every later publish whose topic matches `pattern`: the exact
    /// topic, or any topic starting with the text before a trailing `*`.
    pub fn subscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        self.host.subscribe(pattern)
    }

    /// Undoes [`Context::subscribe`] for the same pattern.
    pub fn unsubscribe(&mut self, pattern: &str) -> Result<(), WireError> {
        self.host.unsubscribe(pattern)
    }

    /// Sends a request and waits for the reply, decoded as `R`.
    ///
    /// The plugin is suspended meanwhile (its mailbox waits). A request that
    /// would close a cycle of plugins waiting on each other, including a
    /// plugin requesting itself, fails at once with
    /// [`ErrorCode::WouldDeadlock`]; use [`Context::request_async`] there.
    pub fn request<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        to: &str,
        topic: &str,
        value: &T,
    ) -> Result<R, WireError> {
        let reply = self.host.request(to, topic, &encode(value)?, None)?;
        wasp_protocol::codec::from_slice(&reply).map_err(|e| {
            WireError::new(
                ErrorCode::InvalidMessage,
                format!("reply from `{to}` to `{topic}` is not what the plugin expects: {e}"),
            )
        })
    }

    /// [`Context::request`] with raw MessagePack in and out, and an optional
    /// timeout in milliseconds (`None`: the host's default).
    pub fn request_raw(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<Vec<u8>, WireError> {
        self.host.request(to, topic, payload, timeout_ms)
    }

    /// Sends a request without waiting. The answer arrives later as a message
    /// of kind [`MessageKind::Reply`](crate::MessageKind::Reply) or
    /// [`MessageKind::Error`](crate::MessageKind::Error) whose
    /// [`id`](crate::Message::id) is the value returned here; meanwhile the
    /// plugin keeps serving its mailbox. Exactly one answer arrives: the reply,
    /// or an error such as a timeout.
    pub fn request_async<T: Serialize + ?Sized>(&mut self, to: &str, topic: &str, value: &T) -> Result<u64, WireError> {
        self.host.request_async(to, topic, &encode(value)?, None)
    }

    /// [`Context::request_async`] with raw MessagePack and an optional timeout.
    pub fn request_async_raw(
        &mut self,
        to: &str,
        topic: &str,
        payload: &[u8],
        timeout_ms: Option<u32>,
    ) -> Result<u64, WireError> {
        self.host.request_async(to, topic, payload, timeout_ms)
    }

    /// Answers the request `id` that an earlier `on_message` deferred.
    pub fn reply<T: Serialize + ?Sized>(&mut self, id: u64, value: &T) -> Result<(), WireError> {
        self.host.reply(id, Ok(&encode(value)?))
    }

    /// [`Context::reply`] with a payload that is already MessagePack.
    pub fn reply_raw(&mut self, id: u64, payload: &[u8]) -> Result<(), WireError> {
        self.host.reply(id, Ok(payload))
    }

    /// Answers the deferred request `id` with an error.
    pub fn reply_error(&mut self, id: u64, error: &WireError) -> Result<(), WireError> {
        self.host.reply(id, Err(error))
    }

    /// Writes a line to the host's log (`tracing`, target `wasp::plugin`).
    pub fn log(&mut self, level: LogLevel, message: &str) {
        self.host.log(level, message);
    }

    /// Calls a host service with raw MessagePack in and out
    /// ([`wasp_protocol::services`] lists them). The typed methods below
    /// are built on it.
    pub fn call_raw(&mut self, service: &str, payload: &[u8]) -> Result<Vec<u8>, WireError> {
        self.host.call(service, payload)
    }

    fn call<T: Serialize + ?Sized, R: DeserializeOwned>(&mut self, service: &str, value: &T) -> Result<R, WireError> {
        let reply = self.host.call(service, &encode(value)?)?;
        wasp_protocol::codec::from_slice(&reply).map_err(|e| {
            WireError::new(ErrorCode::InvalidMessage, format!("reply of host service `{service}` is malformed: {e}"))
        })
    }

    /// Reads `key` from the plugin's own key-value store (permission `storage`).
    ///
    /// The store survives restarts of the plugin and of the host.
    pub fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, WireError> {
        let value: Option<serde_bytes::ByteBuf> = self.call(svc::KV_GET, &KvKey { key: key.into() })?;
        Ok(value.map(serde_bytes::ByteBuf::into_vec))
    }

    /// Writes `key` (permission `storage`). Fails with
    /// [`ErrorCode::TooLarge`] when the plugin's quota would be exceeded.
    pub fn kv_set(&mut self, key: &str, value: &[u8]) -> Result<(), WireError> {
        self.call::<_, ()>(svc::KV_SET, &KvSet { key: key.into(), value: value.to_vec() })
    }

    /// Reads `key` and decodes it as MessagePack.
    pub fn kv_get_as<R: DeserializeOwned>(&mut self, key: &str) -> Result<Option<R>, WireError> {
        match self.kv_get(key)? {
            None => Ok(None),
            Some(bytes) => wasp_protocol::codec::from_slice(&bytes).map(Some).map_err(|e| {
                WireError::new(
                    ErrorCode::InvalidMessage,
                    format!("stored value `{key}` is not what the plugin expects: {e}"),
                )
            }),
        }
    }

    /// Encodes `value` as MessagePack and writes it to `key`.
    pub fn kv_set_as<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), WireError> {
        self.kv_set(key, &encode(value)?)
    }

    /// Deletes `key`; says whether it existed (permission `storage`).
    pub fn kv_delete(&mut self, key: &str) -> Result<bool, WireError> {
        self.call(svc::KV_DELETE, &KvKey { key: key.into() })
    }

    /// The keys starting with `prefix`, sorted (permission `storage`).
    pub fn kv_list(&mut self, prefix: &str) -> Result<Vec<String>, WireError> {
        self.call(svc::KV_LIST, &KvList { prefix: prefix.into() })
    }

    /// Bytes stored and the quota (permission `storage`).
    pub fn kv_usage(&mut self) -> Result<KvUsage, WireError> {
        self.call(svc::KV_USAGE, &())
    }

    /// Delivers `value` to this plugin once, as an event from `host` on
    /// `topic`, after `ms` milliseconds; returns the timer's id
    /// (permission `timers`).
    pub fn set_timeout<T: Serialize + ?Sized>(&mut self, ms: u64, topic: &str, value: &T) -> Result<u64, WireError> {
        let set = TimerSet { ms, topic: Some(topic.into()), payload: Some(encode(value)?) };
        self.call(svc::TIMER_SET_TIMEOUT, &set)
    }

    /// Like [`Context::set_timeout`], every `ms` milliseconds until cancelled.
    pub fn set_interval<T: Serialize + ?Sized>(&mut self, ms: u64, topic: &str, value: &T) -> Result<u64, WireError> {
        let set = TimerSet { ms, topic: Some(topic.into()), payload: Some(encode(value)?) };
        self.call(svc::TIMER_SET_INTERVAL, &set)
    }

    /// Stops a timer; says whether it was still active.
    pub fn cancel_timer(&mut self, id: u64) -> Result<bool, WireError> {
        self.call(svc::TIMER_CANCEL, &TimerCancel { id })
    }

    /// Wall-clock and monotonic time (permission `clock`).
    pub fn now(&mut self) -> Result<ClockNow, WireError> {
        self.call(svc::CLOCK_NOW, &())
    }

    /// `len` bytes from the host's CSPRNG (permission `random`).
    pub fn random_bytes(&mut self, len: u32) -> Result<Vec<u8>, WireError> {
        let bytes: serde_bytes::ByteBuf = self.call(svc::RANDOM_BYTES, &RandomBytes { len })?;
        Ok(bytes.into_vec())
    }

    /// The configuration value `key` from the manifest's `[config]` or the
    /// host, decoded as `R`; `None` when absent (permission `config`).
    pub fn config<R: DeserializeOwned>(&mut self, key: &str) -> Result<Option<R>, WireError> {
        self.call(svc::CONFIG_GET, &ConfigGet { key: key.into() })
    }

    /// One outbound HTTP request (permission `net:<host>` for the URL's
    /// host). Redirects are returned, not followed.
    pub fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, WireError> {
        self.call(svc::HTTP_FETCH, request)
    }

    /// The path to open for `path`, a file as a WASI plugin sees it
    /// (`/data/…`, or under a granted directory), so that one source uses
    /// files in every form:
    ///
    /// - built for `wasm32-wasip1`, it is `path` itself: the host preopened
    ///   the granted directories, and WASI checks each access;
    /// - native and in process, the host maps it onto the real file
    ///   (`/data/x` → `<data dir>/plugins/<name>/x`) after checking
    ///   `fs.write:<dir>` for [`FileAccess::Write`], `fs.read:<dir>` or
    ///   `fs.write:<dir>` for [`FileAccess::Read`]. A path outside every
    ///   granted directory is `permission_denied`.
    ///
    /// Native code can open any file the process can; this is how a
    /// well-behaved plugin keeps to its grants, and how it keeps working
    /// when it moves to WASM.
    pub fn file_path(&mut self, path: &str, access: FileAccess) -> Result<std::path::PathBuf, WireError> {
        if cfg!(target_os = "wasi") {
            return Ok(path.into());
        }
        let host: String =
            self.call(svc::FS_RESOLVE, &FsResolve { path: path.into(), write: access == FileAccess::Write })?;
        Ok(host.into())
    }
}

/// What a plugin means to do with a file ([`Context::file_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileAccess {
    /// Read it, or list a directory.
    Read,
    /// Create, write, rename or delete.
    Write,
}
