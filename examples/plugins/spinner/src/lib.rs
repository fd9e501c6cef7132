//! `spinner`: a runaway plugin, for showing preemption.
//!
//! - request `spin`: loops forever. As WASM it yields every time slice and is
//!   stopped when its CPU budget is spent; the caller gets
//!   `deadline_exceeded`. Never send it to the in-process form: native code
//!   cannot be preempted. As a native library the watchdog answers
//!   `deadline_exceeded` too, but the thread spins on for good: there, use
//!   `work` with a large n to overrun the budget for a while;
//! - request `work` with a `u64` n: n rounds of busy arithmetic, answers the
//!   checksum (safe in every form);
//! - request `ping`: answers `"pong"`.

use wasp_sdk::prelude::*;

/// The spinner plugin.
#[derive(Default)]
pub struct Spinner;

/// Busy arithmetic the optimiser cannot remove.
pub fn work(rounds: u64) -> u64 {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rounds {
        x = core::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01b3);
    }
    x
}

impl Plugin for Spinner {
    fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "spin" => {
                let mut rounds: u64 = 0;
                loop {
                    rounds = core::hint::black_box(work(core::hint::black_box(1_000)).wrapping_add(rounds));
                }
            }
            "work" => Reply::encode(&work(msg.decode::<u64>()?)),
            "ping" => Reply::encode("pong"),
            topic => Err(WireError::new(ErrorCode::NotFound, format!("spinner has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Spinner);
