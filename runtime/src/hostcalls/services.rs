//! The host services of `docs/abi.md` §7, behind the one `call(service,
//! payload)` import: clock, random, config, timers, `fs.resolve`, HTTP,
//! key-value storage and library calls. Each is admitted (quarantine, rate)
//! and checked against the plugin's grants like every other host call.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasp_protocol::services::{self as svc, ClockNow, ConfigGet, RandomBytes, TimerCancel, TimerSet};
#[cfg(feature = "storage")]
use wasp_protocol::services::{KvKey, KvList, KvSet, KvUsage};
use wasp_protocol::{ErrorCode, Permission, WireError, codec};

use super::rules::Call;
use super::{HostCalls, MAX_PATH, monotonic_origin};
use crate::audit::AuditKind;
use crate::library::call::{LibraryHost, host_call, parse_service};
use crate::router::{Answer, BoxFuture, TimerSpec};
#[cfg(feature = "http")]
use crate::services::http::HttpClient;
#[cfg(feature = "storage")]
use crate::services::storage::Storage;

/// The most keys one `kv.list` returns.
#[cfg(feature = "storage")]
const MAX_LIST: usize = 10_000;

/// Decodes a host call's payload. Bytes that are not one well-formed value
/// nested at most [`codec::MAX_DEPTH`] deep are `invalid_message`, and are
/// refused before anything recursive reads them (this runs before the
/// permission check, for every plugin); a well-formed value of another
/// shape is `invalid_argument`.
fn decode<T: DeserializeOwned>(service: &str, shape: &str, payload: &[u8]) -> Result<T, WireError> {
    codec::from_payload(payload).map_err(|e| match e {
        codec::CodecError::Decode(_) => {
            WireError::new(ErrorCode::InvalidArgument, format!("{service}: the payload is not {shape}: {e}"))
        }
        other => {
            let code = WireError::from(other.clone()).code;
            WireError::new(code, format!("{service}: {other}"))
        }
    })
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Answer {
    Ok(codec::to_payload(value)?)
}

const NIL: [u8; 1] = [0xc0];

impl HostCalls {
    /// A host service (`docs/abi.md` §7). The returned future owns
    /// everything it needs, so the caller may await it without holding the
    /// plugin's state.
    pub(crate) fn call(&mut self, service: &str, payload: Vec<u8>) -> BoxFuture<Answer> {
        let ready = |answer: Answer| -> BoxFuture<Answer> { Box::pin(std::future::ready(answer)) };
        if let Err(e) = self.admit(service) {
            return ready(Err(e));
        }
        if let Some(parsed) = parse_service(service) {
            return match parsed {
                Ok((name, function)) => {
                    let env = &self.env;
                    let host = self
                        .library_host
                        .get_or_insert_with(|| {
                            Arc::new(tokio::sync::Mutex::new(LibraryHost::new(
                                env.name.clone(),
                                env.libraries.clone(),
                                env.limits.clone(),
                            )))
                        })
                        .clone();
                    host_call(host, name.to_owned(), function.to_owned(), payload)
                }
                Err(e) => ready(Err(e)),
            };
        }
        match self.call_inner(service, payload) {
            Ok(fut) => fut,
            Err(e) => ready(Err(e)),
        }
    }

    fn call_inner(&mut self, service: &str, payload: Vec<u8>) -> Result<BoxFuture<Answer>, WireError> {
        let ready =
            |answer: Answer| -> Result<BoxFuture<Answer>, WireError> { Ok(Box::pin(std::future::ready(answer))) };
        match service {
            svc::KV_GET | svc::KV_SET | svc::KV_DELETE | svc::KV_LIST | svc::KV_USAGE => {
                self.permit(Call::Storage)?;
                self.storage_call(service, payload)
            }
            svc::TIMER_SET_TIMEOUT | svc::TIMER_SET_INTERVAL => {
                self.permit(Call::Timers)?;
                let set: TimerSet = decode(service, "{ ms, topic, payload }", &payload)?;
                let topic = set.topic.unwrap_or_else(|| svc::DEFAULT_TIMER_TOPIC.to_owned());
                self.check_topic(service, &topic)?;
                let payload = set.payload.unwrap_or_else(|| NIL.to_vec());
                self.check_size(service, &payload)?;
                let spec = TimerSpec {
                    period: Duration::from_millis(set.ms.max(svc::MIN_TIMER_MS)),
                    repeat: service == svc::TIMER_SET_INTERVAL,
                    topic,
                    payload: payload.into(),
                    max_timers: self.env.limits.max_timers,
                    max_bytes: self.env.limits.timer_bytes,
                };
                let id = self.env.router.set_timer(&self.env.name, spec);
                if let Err(e) = &id {
                    let limit = match e.code {
                        ErrorCode::Busy => Some("max_timers"),
                        ErrorCode::TooLarge => Some("timer_bytes"),
                        _ => None,
                    };
                    if let Some(limit) = limit {
                        self.audit(AuditKind::LimitExceeded { limit: limit.into() }, e.message.clone());
                    }
                }
                ready(encode(&id?))
            }
            svc::TIMER_CANCEL => {
                self.permit(Call::Timers)?;
                let TimerCancel { id } = decode(service, "{ id }", &payload)?;
                ready(encode(&self.env.router.cancel_timer(&self.env.name, id)))
            }
            svc::CLOCK_NOW => {
                self.require(Permission::Clock)?;
                let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                let now = ClockNow {
                    unix_nanos: u64::try_from(unix.as_nanos()).unwrap_or(u64::MAX),
                    monotonic_nanos: u64::try_from(monotonic_origin().elapsed().as_nanos()).unwrap_or(u64::MAX),
                };
                ready(encode(&now))
            }
            svc::RANDOM_BYTES => {
                self.require(Permission::Random)?;
                let RandomBytes { len } = decode(service, "{ len }", &payload)?;
                if len > svc::MAX_RANDOM_BYTES {
                    return Err(WireError::new(
                        ErrorCode::InvalidArgument,
                        format!("{service}: {len} bytes asked, at most {} per call", svc::MAX_RANDOM_BYTES),
                    ));
                }
                let mut bytes = vec![0u8; len as usize];
                getrandom::fill(&mut bytes)
                    .map_err(|e| WireError::new(ErrorCode::Unavailable, format!("{service}: {e}")))?;
                ready(encode(serde_bytes::Bytes::new(&bytes)))
            }
            svc::CONFIG_GET => {
                self.require(Permission::Config)?;
                let ConfigGet { key } = decode(service, "{ key }", &payload)?;
                ready(Ok(self.env.config.get(&key).cloned().unwrap_or_else(|| NIL.to_vec())))
            }
            svc::FS_RESOLVE => {
                let svc::FsResolve { path, write } = decode(service, "{ path, write }", &payload)?;
                ready(encode(&self.resolve_path(&path, write)?))
            }
            #[cfg(not(feature = "http"))]
            svc::HTTP_FETCH => Err(crate::features::wire_off(service, "http")),
            #[cfg(feature = "http")]
            svc::HTTP_FETCH => {
                let mut req: wasp_protocol::services::HttpRequest =
                    decode(service, "{ method, url, headers, body, timeout_ms }", &payload)?;
                // A plugin may shorten the host's request timeout, never lengthen it.
                let cap = u32::try_from(self.env.limits.request_timeout.as_millis()).unwrap_or(u32::MAX);
                req.timeout_ms = Some(req.timeout_ms.map_or(cap, |ms| ms.min(cap)));
                let permission = HttpClient::permission_for(&req.url)?;
                self.require(permission)?;
                let http = self.env.services.http.clone().ok_or_else(|| {
                    WireError::new(ErrorCode::Unavailable, format!("{service}: this host offers no outbound HTTP"))
                })?;
                let max = self.env.limits.max_message_size;
                Ok(Box::pin(async move { encode(&http.fetch(req, max).await?) }))
            }
            other => Err(WireError::new(
                ErrorCode::NotFound,
                format!("no host service named `{other}`; this host offers {}", svc::ALL.join(", ")),
            )),
        }
    }

    /// `fs.resolve`: the host path of a file as a WASI plugin sees it,
    /// under the granted directory that holds it.
    fn resolve_path(&mut self, path: &str, write: bool) -> Result<String, WireError> {
        if path.len() > MAX_PATH || path.contains('\0') {
            let err = WireError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "{}: a path of {} bytes; paths are at most {MAX_PATH} bytes, without NUL",
                    svc::FS_RESOLVE,
                    path.len()
                ),
            );
            self.invalid_call(svc::FS_RESOLVE, &err);
            return Err(err);
        }
        let invalid =
            |why: &str| WireError::new(ErrorCode::InvalidArgument, format!("{}: `{path}` {why}", svc::FS_RESOLVE));
        if !path.starts_with('/') {
            return Err(invalid("is not absolute; WASI paths start with `/`, such as `/data/notes.txt`"));
        }
        if path.split('/').any(|part| part == "..") {
            return Err(invalid("leaves its directory; `..` is not allowed"));
        }
        self.refresh_grants();
        // The granted directory whose guest path is the longest prefix of `path`.
        let mut best: Option<(std::path::PathBuf, String, String)> = None;
        for grant in self.grants.1.granted() {
            let (Permission::FsRead(dir) | Permission::FsWrite(dir)) = grant else { continue };
            let Some((host, guest)) = self.env.services.resolve_dir(&self.env.name, dir) else { continue };
            let inside = path == guest || path.starts_with(&format!("{}/", guest.trim_end_matches('/')));
            if inside && best.as_ref().is_none_or(|(_, g, _)| guest.len() > g.len()) {
                best = Some((host, guest, dir.clone()));
            }
        }
        let Some((host, guest, grant_dir)) = best else {
            let wanted = if write { Permission::FsWrite(path.to_owned()) } else { Permission::FsRead(path.to_owned()) };
            self.require(wanted)?;
            return Err(invalid("is under no directory this host can resolve"));
        };
        // `fs.write:<dir>` covers reading it too.
        self.require(if write {
            Permission::FsWrite(grant_dir.clone())
        } else {
            Permission::FsRead(grant_dir.clone())
        })?;
        if write && grant_dir.starts_with(wasp_protocol::DATA_DIR) {
            // WASI creates the data directory when it preopens it; so do we.
            let _ = std::fs::create_dir_all(&host);
        }
        let rest = path[guest.len()..].trim_start_matches('/');
        // On Windows `\` separates too and `C:` or `\\server` restarts a
        // path: joined onto the directory, such a rest would leave it.
        let stays_inside = std::path::Path::new(rest)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if !stays_inside {
            return Err(invalid("leaves its directory"));
        }
        let full = if rest.is_empty() { host } else { host.join(rest) };
        Ok(full.to_string_lossy().into_owned())
    }

    fn storage_call(&mut self, service: &str, payload: Vec<u8>) -> Result<BoxFuture<Answer>, WireError> {
        #[cfg(not(feature = "storage"))]
        let stored: Option<std::convert::Infallible> = None;
        #[cfg(feature = "storage")]
        let stored = self.env.services.storage.clone();
        match stored {
            #[cfg(feature = "storage")]
            Some(storage) => {
                serve_storage(storage, self.env.name.clone(), self.env.limits.storage_quota, service, &payload)
            }
            // A plugin out of process: the store is its host's.
            None => self.env.router.storage(&self.env.name, service, payload).ok_or_else(|| {
                if !cfg!(feature = "storage") {
                    return crate::features::wire_off(service, "storage");
                }
                WireError::new(
                    ErrorCode::Unavailable,
                    format!("{service}: this host keeps no plugin storage (it was built without a data directory)"),
                )
            }),
        }
    }
}

/// Serves one `kv.*` call of `plugin` from `storage` (its permission
/// already checked): the store's half of a plugin's storage calls, for a
/// host that serves them for a plugin running elsewhere (a `wasp-node`).
///
/// # Errors
///
/// `invalid_argument` for a payload that does not decode.
#[cfg(feature = "storage")]
pub fn serve_storage(
    storage: Storage,
    plugin: Arc<str>,
    quota: u64,
    service: &str,
    payload: &[u8],
) -> Result<BoxFuture<Answer>, WireError> {
    let service: &'static str = svc::ALL.iter().copied().find(|s| *s == service).unwrap_or("kv");
    let op: Box<dyn FnOnce() -> Answer + Send> = match service {
        svc::KV_GET => {
            let KvKey { key } = decode(service, "{ key }", payload)?;
            Box::new(move || match storage.get(&plugin, &key)? {
                Some(value) => encode(serde_bytes::Bytes::new(&value)),
                None => Ok(NIL.to_vec()),
            })
        }
        svc::KV_SET => {
            let KvSet { key, value } = decode(service, "{ key, value }", payload)?;
            Box::new(move || {
                storage.set(&plugin, &key, &value, quota)?;
                Ok(NIL.to_vec())
            })
        }
        svc::KV_DELETE => {
            let KvKey { key } = decode(service, "{ key }", payload)?;
            Box::new(move || encode(&storage.delete(&plugin, &key)?))
        }
        svc::KV_LIST => {
            let KvList { prefix } = decode(service, "{ prefix }", payload)?;
            Box::new(move || encode(&storage.list(&plugin, &prefix, MAX_LIST)?))
        }
        _ => Box::new(move || encode(&KvUsage { used: storage.usage(&plugin)?, quota })),
    };
    Ok(Box::pin(async move {
        // The database does file I/O (a write waits for fsync): keep it off the async workers.
        tokio::task::spawn_blocking(op).await.unwrap_or_else(|e| {
            Err(WireError::new(ErrorCode::Internal, format!("{service}: the storage task failed: {e}")))
        })
    }))
}
