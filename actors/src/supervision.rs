//! Supervision: restart with backoff, quarantine repeat offenders.

use std::time::Duration;

/// How the host restarts plugins that fault, and when it gives up on them.
///
/// A plugin that traps, panics or spends its CPU budget is restarted after
/// `backoff_initial`, doubling with each further failure within
/// `failure_window` up to `backoff_max`; messages queued meanwhile wait for
/// the new instance. The `max_failures`-th failure within the window puts it
/// in quarantine instead, as does the `max_violations`-th violation (denied
/// call, exceeded limit, broken ABI call) within `violation_window`.
///
/// | knob | default |
/// | --- | --- |
/// | `backoff_initial` | 10 ms |
/// | `backoff_max` | 5 s |
/// | `max_failures` / `failure_window` | 5 within 60 s |
/// | `max_violations` / `violation_window` | 100 within 60 s |
///
/// ```
/// use std::time::Duration;
/// use wasp_actors::Supervision;
/// let s = Supervision { max_failures: 3, ..Supervision::default() };
/// assert_eq!(s.backoff(1), Duration::from_millis(10));
/// assert_eq!(s.backoff(3), Duration::from_millis(40));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervision {
    /// The delay before the first restart.
    pub backoff_initial: Duration,
    /// The longest delay between restarts.
    pub backoff_max: Duration,
    /// Failures within `failure_window` that quarantine the plugin.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub failure_window: Duration,
    /// Violations within `violation_window` that quarantine the plugin.
    pub max_violations: u32,
    /// The window violations are counted in.
    pub violation_window: Duration,
}

impl Default for Supervision {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_secs(5),
            max_failures: 5,
            failure_window: Duration::from_secs(60),
            max_violations: 100,
            violation_window: Duration::from_secs(60),
        }
    }
}

impl Supervision {
    /// The delay before the restart that follows the `failures`-th failure
    /// within the window (1-based).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.backoff_initial.saturating_mul(1 << doublings).min(self.backoff_max)
    }
}
