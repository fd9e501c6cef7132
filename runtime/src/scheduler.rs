//! Time slices for WASM plugins, by wasmtime epoch interruption.
//!
//! One ticker thread per [`Engine`](crate::Engine) bumps the epoch every
//! `tick`. Each store's deadline is `slice` ticks away; when it passes, the
//! deadline callback decides: *yield* (the actor's future returns to tokio so
//! other plugins run, then the guest continues with a fresh slice) while the
//! message still has CPU budget, *trap* once it is spent.

use std::time::Duration;

use wasmtime::UpdateDeadline;

/// Slice and tick lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How often the epoch advances (default 1 ms).
    pub tick: Duration,
    /// How long a guest runs before it yields (default 10 ms).
    pub slice: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { tick: Duration::from_millis(1), slice: Duration::from_millis(10) }
    }
}

impl Schedule {
    /// Ticks in one slice (at least one).
    pub fn slice_ticks(&self) -> u64 {
        (self.slice.as_nanos() / self.tick.as_nanos().max(1)).max(1) as u64
    }

    /// Slices a CPU budget allows (at least one).
    pub(crate) fn budget_slices(&self, budget: Duration) -> u32 {
        budget.as_nanos().div_ceil(self.slice.as_nanos().max(1)).clamp(1, u32::MAX as u128) as u32
    }
}

/// Per-store bookkeeping the deadline callback reads.
#[derive(Debug, Default)]
pub(crate) struct SliceState {
    pub(crate) slice_ticks: u64,
    pub(crate) budget_slices: u32,
    pub(crate) used_slices: u32,
    pub(crate) exceeded: bool,
    /// Ticks of the current slice already run, when the deadline comes
    /// more often than once a slice (while the plugin is being profiled).
    pub(crate) slice_elapsed: u64,
    /// The ticks to the deadline set last.
    pub(crate) pending: u64,
}

impl SliceState {
    /// Starts a new message's budget.
    pub(crate) fn start(&mut self, budget_slices: u32) {
        self.budget_slices = budget_slices;
        self.used_slices = 0;
        self.exceeded = false;
        self.fresh_slice();
    }

    /// Starts a new slice; the ticks to set the deadline to.
    pub(crate) fn fresh_slice(&mut self) -> u64 {
        self.slice_elapsed = 0;
        self.pending = self.slice_ticks;
        self.slice_ticks
    }

    /// The deadline policy: yield while budget remains, then trap.
    pub(crate) fn on_deadline(&mut self) -> wasmtime::Result<UpdateDeadline> {
        self.on_epoch(self.slice_ticks)
    }

    /// The deadline policy when the next deadline is to come `step` ticks
    /// later (1 while profiling, to sample every tick): at the end of each
    /// slice yield while budget remains, then trap; within a slice go on.
    pub(crate) fn on_epoch(&mut self, step: u64) -> wasmtime::Result<UpdateDeadline> {
        let step = step.clamp(1, self.slice_ticks.max(1));
        self.slice_elapsed += self.pending.max(1);
        self.pending = step;
        if self.slice_elapsed < self.slice_ticks {
            return Ok(UpdateDeadline::Continue(step));
        }
        self.slice_elapsed = 0;
        self.used_slices += 1;
        if self.used_slices >= self.budget_slices {
            self.exceeded = true;
            return Err(wasmtime::Error::msg("cpu budget exceeded"));
        }
        Ok(UpdateDeadline::YieldCustom(step, Box::pin(tokio::task::yield_now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_counted_in_slices() {
        let s = Schedule::default();
        assert_eq!(s.slice_ticks(), 10);
        assert_eq!(s.budget_slices(Duration::from_millis(95)), 10);
        assert_eq!(s.budget_slices(Duration::ZERO), 1);
        let mut st = SliceState { slice_ticks: 10, ..Default::default() };
        st.start(2);
        assert!(st.on_deadline().is_ok());
        assert!(st.on_deadline().is_err());
        assert!(st.exceeded);
    }

    #[test]
    fn sampling_every_tick_keeps_the_slices() {
        let mut st = SliceState { slice_ticks: 4, ..Default::default() };
        st.start(2);
        // The first deadline was a whole slice away; then one tick at a time.
        assert!(matches!(st.on_epoch(1), Ok(UpdateDeadline::YieldCustom(1, _))));
        for _ in 0..3 {
            assert!(matches!(st.on_epoch(1), Ok(UpdateDeadline::Continue(1))));
        }
        assert!(st.on_epoch(1).is_err());
        assert!(st.exceeded);
    }
}
