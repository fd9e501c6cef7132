//! A running core-module instance: its store, the exports the host calls,
//! and the buffer each message is written into before `wasp_handle` runs.

use wasmtime::{Memory, Store, TypedFunc};

use super::fault::Fault;
use super::state::GuestState;

type HandleFn = TypedFunc<(i32, i32, i64, i32, i32, i32), i32>;

pub(super) struct Exports {
    pub(super) memory: Memory,
    pub(super) alloc: TypedFunc<i32, i32>,
    pub(super) dealloc: TypedFunc<(i32, i32), ()>,
    pub(super) handle: HandleFn,
}

pub(super) struct Live {
    pub(super) store: Store<GuestState>,
    /// The instance, for the exports looked up once (`wasp_load`).
    pub(super) instance: wasmtime::Instance,
    pub(super) exports: Exports,
    /// The guest buffer incoming messages are written to: (pointer, capacity).
    pub(super) buffer: Option<(u32, u32)>,
}

impl Live {
    /// Prepares one call into the guest: a fresh CPU budget of `budget`
    /// slices, the first deadline, and no panic message left over (one
    /// belongs to the trap of the call that reported it).
    pub(super) fn arm(&mut self, budget: u32) {
        let state = self.store.data_mut();
        state.panic = None;
        state.slices.start(budget);
        let first = state.first_deadline();
        self.store.set_epoch_deadline(first);
    }

    /// Writes the message into the guest's buffer and calls `wasp_handle`.
    pub(super) async fn hand_over(
        &mut self,
        kind: i32,
        id: u64,
        from: &str,
        topic: &str,
        payload: &[u8],
    ) -> Result<i32, Fault> {
        let live = self;
        let needed = from.len() + topic.len() + payload.len();
        let needed32 = u32::try_from(needed)
            .map_err(|_| Fault::Guest(format!("message of {needed} bytes does not fit a 32-bit guest")))?;
        let ptr = match live.buffer {
            Some((ptr, cap)) if cap >= needed32 => ptr,
            old => {
                if let Some((ptr, cap)) = old {
                    live.buffer = None;
                    live.exports
                        .dealloc
                        .call_async(&mut live.store, (ptr as i32, cap as i32))
                        .await
                        .map_err(Fault::Wasm)?;
                }
                let cap = needed32.max(256).checked_next_power_of_two().unwrap_or(needed32);
                live.store.data_mut().inbound = true;
                let ptr = live.exports.alloc.call_async(&mut live.store, cap as i32).await;
                live.store.data_mut().inbound = false;
                let ptr = ptr.map_err(Fault::Wasm)? as u32;
                if ptr == 0 {
                    return Err(Fault::NoRoom(format!("a message of {needed} bytes (wasp_alloc({cap}) returned 0)")));
                }
                live.buffer = Some((ptr, cap));
                ptr
            }
        };
        let memory = live.exports.memory.data_mut(&mut live.store);
        let size = memory.len();
        let dst = (ptr as usize)
            .checked_add(needed)
            .and_then(|end| memory.get_mut(ptr as usize..end))
            .ok_or_else(|| {
                Fault::Guest(format!(
                    "wasp_alloc returned {ptr:#x}, but {needed} bytes from there fall outside the plugin's memory of {size} bytes"
                ))
            })?;
        let (d_from, rest) = dst.split_at_mut(from.len());
        let (d_topic, d_payload) = rest.split_at_mut(topic.len());
        d_from.copy_from_slice(from.as_bytes());
        d_topic.copy_from_slice(topic.as_bytes());
        d_payload.copy_from_slice(payload);
        live.exports
            .handle
            .call_async(
                &mut live.store,
                (ptr as i32, kind, id as i64, from.len() as i32, topic.len() as i32, payload.len() as i32),
            )
            .await
            .map_err(Fault::Wasm)
    }
}
