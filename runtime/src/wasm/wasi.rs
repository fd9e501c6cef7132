//! The WASI preview 1 subset under `wasi_snapshot_preview1`: wasmtime-wasi's
//! implementation, with the clock and the random source behind permissions,
//! paths checked and audited, and sleeps charged to the CPU budget.

use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::{AsContextMut, Caller, Linker};
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wasp_protocol::{ErrorCode, Permission, WireError, abi};

use super::memory::{CallError, bytes, bytes_mut, guard};
use super::state::GuestState;
use crate::hostcalls::MAX_PATH;

/// WASI errno values the shadowed functions return.
mod errno {
    pub(super) const SUCCESS: i32 = 0;
    pub(super) const ACCES: i32 = 2;
    pub(super) const BADF: i32 = 8;
    pub(super) const PERM: i32 = 63;
    pub(super) const NOTCAPABLE: i32 = 76;
    pub(super) const FAULT: i32 = 21;
    pub(super) const INVAL: i32 = 28;
    pub(super) const NAMETOOLONG: i32 = 37;
}

/// What every WASI call wasp wraps starts with: the guest's memory and the
/// state, the WASI context given the call's fuel; `None` when the guest has
/// no memory (the caller answers EFAULT).
fn wasi_call<'a>(c: &'a mut Caller<'_, GuestState>) -> Option<(&'a mut [u8], &'a mut GuestState)> {
    let memory = c.data().memory?;
    let fuel = c.as_context_mut().hostcall_fuel();
    let (mem, state) = memory.data_and_store_mut(c);
    WasiSnapshotPreview1::set_hostcall_fuel(&mut state.wasi, fuel);
    Some((mem, state))
}

/// The WASI preview 1 subset: wasmtime-wasi's implementation, with some
/// of its functions shadowed by wasp's own.
pub(super) fn define_wasi(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, |s: &mut GuestState| &mut s.wasi)?;
    linker.allow_shadowing(true);
    define_clock_and_random(linker)?;
    define_paths(linker)?;
    define_poll(linker)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The clock and the random source, behind the `clock` and `random`
/// permissions.
fn define_clock_and_random(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        abi::WASI_MODULE,
        "clock_time_get",
        |mut c: Caller<'_, GuestState>, id: i32, _precision: i64, out: i32| -> wasmtime::Result<i32> {
            guard(&c)?;
            if c.data_mut().host.wasi_require(Permission::Clock).is_err() {
                return Ok(errno::ACCES);
            }
            let nanos = match id {
                0 => SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos(),
                1..=3 => crate::hostcalls::monotonic_nanos(),
                _ => return Ok(errno::INVAL),
            };
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
            Ok(write_guest(&mut c, "clock_time_get", out, &nanos.to_le_bytes()))
        },
    )?;
    linker.func_wrap(
        abi::WASI_MODULE,
        "random_get",
        |mut c: Caller<'_, GuestState>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            guard(&c)?;
            if c.data_mut().host.wasi_require(Permission::Random).is_err() {
                return Ok(errno::ACCES);
            }
            let mut buf = vec![0u8; (len as u32 as usize).min(1 << 20)];
            if buf.len() != len as u32 as usize || getrandom::fill(&mut buf).is_err() {
                return Ok(errno::INVAL);
            }
            Ok(write_guest(&mut c, "random_get", ptr, &buf))
        },
    )?;
    Ok(())
}

/// The path calls std::fs makes: wasmtime-wasi does the work; wasp refuses
/// a path outside memory with EFAULT (wasmtime-wasi would trap) and audits
/// what WASI refuses, naming the path.
fn define_paths(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    macro_rules! audited_path_call {
        ($name:ident, write: $write:expr, ($($arg:ident: $ty:ty),*), dirfd: $dirfd:ident, path: ($ptr:ident, $len:ident)) => {
            linker.func_wrap_async(
                abi::WASI_MODULE,
                stringify!($name),
                |mut c: Caller<'_, GuestState>, ($($arg,)*): ($($ty,)*)| {
                    Box::new(async move {
                        guard(&c)?;
                        let Some((mem, state)) = wasi_call(&mut c) else { return Ok(errno::FAULT) };
                        let path = match bytes(mem, $ptr, $len) {
                            Ok(b) if b.len() > MAX_PATH => {
                                let e = WireError::new(
                                    ErrorCode::InvalidArgument,
                                    format!("a path of {} bytes; paths are at most {MAX_PATH} bytes", b.len()),
                                );
                                state.host.invalid_call(stringify!($name), &e);
                                return Ok(errno::NAMETOOLONG);
                            }
                            Ok(b) => String::from_utf8_lossy(b).into_owned(),
                            Err(CallError::Abi(e) | CallError::Call(e)) => {
                                state.host.invalid_call(stringify!($name), &e);
                                return Ok(errno::FAULT);
                            }
                        };
                        let mut guest = wiggle::GuestMemory::Unshared(mem);
                        let status =
                            wasmtime_wasi::p1::wasi_snapshot_preview1::$name(&mut state.wasi, &mut guest, $($arg),*)
                                .await?;
                        if matches!(status, errno::BADF | errno::NOTCAPABLE | errno::ACCES | errno::PERM) {
                            state.denied_path($dirfd, &path, $write, status);
                        }
                        Ok(status)
                    })
                },
            )?;
        };
    }
    audited_path_call!(
        path_open,
        write: wants_write(oflags, base),
        (dirfd: i32, dirflags: i32, p: i32, l: i32, oflags: i32, base: i64, inheriting: i64, fdflags: i32, out: i32),
        dirfd: dirfd,
        path: (p, l)
    );
    audited_path_call!(path_create_directory, write: true, (fd: i32, p: i32, l: i32), dirfd: fd, path: (p, l));
    audited_path_call!(path_remove_directory, write: true, (fd: i32, p: i32, l: i32), dirfd: fd, path: (p, l));
    audited_path_call!(path_unlink_file, write: true, (fd: i32, p: i32, l: i32), dirfd: fd, path: (p, l));
    audited_path_call!(
        path_filestat_get,
        write: false,
        (fd: i32, flags: i32, p: i32, l: i32, out: i32),
        dirfd: fd,
        path: (p, l)
    );
    audited_path_call!(
        path_rename,
        write: true,
        (fd: i32, p: i32, l: i32, new_fd: i32, new_p: i32, new_l: i32),
        dirfd: fd,
        path: (p, l)
    );
    Ok(())
}

/// `poll_oneoff` sleeps inside the host, where no epoch deadline can stop
/// it: the time asleep counts against the message's CPU budget, and a
/// sleep that outlasts what is left of it ends the message as a spent
/// budget would. So a message cannot stay in flight (holding, say, a
/// directory revoked meanwhile) longer than its budget.
fn define_poll(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        abi::WASI_MODULE,
        "poll_oneoff",
        |mut c: Caller<'_, GuestState>, (subs, events, n, count): (i32, i32, i32, i32)| {
            Box::new(async move {
                guard(&c)?;
                let Some((mem, state)) = wasi_call(&mut c) else { return Ok(errno::FAULT) };
                let left = state.slices.time_left();
                let started = std::time::Instant::now();
                let mut guest = wiggle::GuestMemory::Unshared(mem);
                let poll = wasmtime_wasi::p1::wasi_snapshot_preview1::poll_oneoff(
                    &mut state.wasi,
                    &mut guest,
                    subs,
                    events,
                    n,
                    count,
                );
                let status = match tokio::time::timeout(left, poll).await {
                    Ok(status) => status?,
                    Err(_) => return Err(state.slices.spend_all()),
                };
                state.slices.charge_sleep(started.elapsed())?;
                Ok(status)
            })
        },
    )?;
    Ok(())
}

/// Whether a `path_open` asks to create, truncate or write.
fn wants_write(oflags: i32, rights_base: i64) -> bool {
    const CREAT: i32 = 1;
    const TRUNC: i32 = 8;
    const FD_WRITE: i64 = 1 << 6;
    oflags & (CREAT | TRUNC) != 0 || rights_base & FD_WRITE != 0
}

impl GuestState {
    /// Audits a file access WASI refused: outside every granted directory,
    /// or writing where only reading is granted.
    fn denied_path(&mut self, dirfd: i32, path: &str, write: bool, status: i32) {
        // Descriptors 3, 4, … are the preopens, in order.
        // `dirfd` is the guest's: any i32, so no arithmetic that can overflow.
        let base = dirfd
            .checked_sub(3)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.fs_slots.get(i))
            .map(|(dir, _)| dir.as_str());
        let full = match base {
            Some(dir) => format!("{}/{path}", dir.trim_end_matches('/')),
            None => format!("/{}", path.trim_start_matches('/')),
        };
        let permission = if write { Permission::FsWrite(full.clone()) } else { Permission::FsRead(full.clone()) };
        let message = format!(
            "plugin `{}` was refused `{full}` (WASI errno {status}): no `{permission}` grant covers it",
            self.host.name()
        );
        self.host.file_denied(permission, message);
    }
}

/// Copies `data` into guest memory at `ptr`; a WASI errno. A pointer
/// outside memory is an invalid call, audited like one to a `wasp` import.
fn write_guest(c: &mut Caller<'_, GuestState>, call: &str, ptr: i32, data: &[u8]) -> i32 {
    let Some(memory) = c.data().memory else { return errno::FAULT };
    let (mem, st) = memory.data_and_store_mut(&mut *c);
    // `data` is at most 1 MiB (`random_get`), so its length fits an i32.
    match bytes_mut(mem, ptr, data.len() as i32) {
        Ok(dst) => {
            dst.copy_from_slice(data);
            errno::SUCCESS
        }
        Err(CallError::Abi(e) | CallError::Call(e)) => {
            st.host.invalid_call(call, &e);
            errno::FAULT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wants_write;

    #[test]
    fn opening_to_create_truncate_or_write_wants_write() {
        const CREAT: i32 = 1;
        const DIRECTORY: i32 = 2;
        const EXCL: i32 = 4;
        const TRUNC: i32 = 8;
        const FD_READ: i64 = 1 << 1;
        const FD_WRITE: i64 = 1 << 6;
        assert!(!wants_write(0, FD_READ));
        assert!(!wants_write(DIRECTORY | EXCL, FD_READ));
        assert!(wants_write(CREAT, FD_READ));
        assert!(wants_write(TRUNC, 0));
        assert!(wants_write(0, FD_READ | FD_WRITE));
        assert!(wants_write(-1, 0), "every flag set includes CREAT");
    }
}
