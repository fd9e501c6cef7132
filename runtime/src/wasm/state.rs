//! What a wasmtime store holds for one plugin instance, and the limiter that
//! audits the memory and tables it is refused.

use std::sync::Arc;

use wasmtime::{Memory, StoreLimits};
use wasmtime_wasi::p1::WasiP1Ctx;

use super::preopens::Access;
use crate::engine::ProfileSlot;
use crate::hostcalls::HostCalls;
use crate::library::call::{HasLibraries, LiveLibraries};
use crate::scheduler::SliceState;

/// What a wasmtime store holds for one plugin instance.
pub(crate) struct GuestState {
    pub(super) host: HostCalls,
    /// The WASI subset's context: only granted directories are preopened.
    pub(super) wasi: WasiP1Ctx,
    /// The preopened directories, in descriptor order, and how each may be
    /// used now.
    pub(super) fs_slots: Vec<(String, Access)>,
    pub(super) memory: Option<Memory>,
    /// The result slot of `request` and friends (`result_len` / `result_read`).
    pub(super) result: Vec<u8>,
    /// The message the guest's panic hook reported, if any.
    pub(super) panic: Option<String>,
    pub(super) slices: SliceState,
    pub(super) limits: StoreLimits,
    /// Where [`Engine::start_profile`] asks for samples.
    pub(super) profile: Arc<ProfileSlot>,
    /// The shared libraries the plugin uses, instantiated in this store at
    /// their first call.
    pub(super) libraries: LiveLibraries,
    /// Set while `wasp_alloc` makes room for an incoming message: memory it
    /// is refused then is the sender's doing, not a violation of the plugin.
    pub(super) inbound: bool,
}

impl HasLibraries for GuestState {
    fn libraries(&mut self) -> &mut LiveLibraries {
        &mut self.libraries
    }
}

/// The store's resource limiter: wasmtime's [`StoreLimits`], plus an audit
/// event when the plugin is refused memory or table growth.
impl wasmtime::ResourceLimiter for GuestState {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed && !self.inbound {
            let limit = self.host.env.limits.max_memory;
            self.host.limit_exceeded(
                "max_memory",
                format!("plugin `{}` was refused {desired} bytes of memory; its limit is {limit}", self.host.name()),
            );
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        if !allowed {
            let limit = self.host.env.limits.max_table_elements;
            self.host.limit_exceeded(
                "max_table_elements",
                format!(
                    "plugin `{}` was refused a table of {desired} elements; its limit is {limit}",
                    self.host.name()
                ),
            );
        }
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl GuestState {
    /// The ticks to the first deadline of a fresh slice: the slice, or one
    /// tick while the plugin is being profiled (each deadline takes a sample).
    pub(super) fn first_deadline(&mut self) -> u64 {
        if self.profile.active() {
            self.slices.pending = 1;
            1
        } else {
            self.slices.slice_ticks
        }
    }
}
