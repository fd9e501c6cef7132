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
    /// How long one slice lasts, to charge time spent asleep in a host call
    /// (WASI's `poll_oneoff`) as slices.
    pub(crate) slice_len: Duration,
    /// Time asleep not yet charged: less than one slice.
    pub(crate) asleep: Duration,
}

impl SliceState {
    /// Starts a new message's budget.
    pub(crate) fn start(&mut self, budget_slices: u32) {
        self.budget_slices = budget_slices;
        self.used_slices = 0;
        self.exceeded = false;
        self.asleep = Duration::ZERO;
        self.fresh_slice();
    }

    /// What is left of the message's budget, as time.
    pub(crate) fn time_left(&self) -> Duration {
        self.slice_len.saturating_mul(self.budget_slices.saturating_sub(self.used_slices))
    }

    /// Charges time the guest spent asleep as the slices it would have run
    /// (a remainder under one slice carries over to the next sleep); an
    /// error once the budget is spent, as [`on_deadline`](Self::on_deadline)'s.
    pub(crate) fn charge_sleep(&mut self, slept: Duration) -> wasmtime::Result<()> {
        let slept = self.asleep.saturating_add(slept);
        let slice = self.slice_len.as_nanos().max(1);
        let whole = u32::try_from(slept.as_nanos() / slice).unwrap_or(u32::MAX);
        self.asleep = Duration::from_nanos((slept.as_nanos() % slice) as u64);
        self.used_slices = self.used_slices.saturating_add(whole);
        if self.used_slices >= self.budget_slices {
            self.exceeded = true;
            return Err(wasmtime::Error::msg("cpu budget exceeded"));
        }
        Ok(())
    }

    /// Marks the budget spent (a sleep outlasted it).
    pub(crate) fn spend_all(&mut self) -> wasmtime::Error {
        self.used_slices = self.budget_slices;
        self.exceeded = true;
        wasmtime::Error::msg("cpu budget exceeded")
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
    fn time_asleep_is_charged_as_slices_with_the_remainder_carried() {
        let mut st = SliceState { slice_ticks: 10, slice_len: Duration::from_millis(10), ..Default::default() };
        st.start(10);
        assert_eq!(st.time_left(), Duration::from_millis(100));
        assert!(st.charge_sleep(Duration::from_millis(25)).is_ok());
        assert_eq!((st.used_slices, st.asleep), (2, Duration::from_millis(5)));
        // Short sleeps add up: nine of 6 ms are five slices and 4 ms over.
        for _ in 0..9 {
            assert!(st.charge_sleep(Duration::from_millis(6)).is_ok());
        }
        assert_eq!((st.used_slices, st.asleep), (7, Duration::from_millis(9)));
        assert_eq!(st.time_left(), Duration::from_millis(30));
        assert!(st.charge_sleep(Duration::from_millis(21)).is_err());
        assert!(st.exceeded);
        assert_eq!(st.time_left(), Duration::ZERO);
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
