//! Rate limits: a token bucket, and a plugin's log-line budget built on
//! one, shared by everything that writes lines on the plugin's account.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, holding at most `rate`. The
/// clock is read only when the tokens run out, so a call under the limit
/// costs a decrement.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    tokens: u64,
    /// Fractional tokens carried between refills.
    carry: f64,
    at: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: u32) -> Self {
        let rate = rate.max(1);
        Self { rate: f64::from(rate), tokens: u64::from(rate), carry: 0.0, at: Instant::now() }
    }

    pub(crate) fn take(&mut self) -> bool {
        self.take_with(Instant::now)
    }

    /// Takes a token, reading the clock (`now`) only when the bucket is
    /// empty: it then refills with the tokens earned since the last refill,
    /// at most a full bucket, the fraction of a token carried to the next.
    fn take_with(&mut self, now: impl FnOnce() -> Instant) -> bool {
        if self.tokens == 0 {
            let now = now();
            let earned = now.duration_since(self.at).as_secs_f64() * self.rate + self.carry;
            self.at = now;
            let whole = earned.min(self.rate).floor();
            self.carry = if earned >= self.rate { 0.0 } else { earned - whole };
            self.tokens = whole as u64;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// Whether a second has passed since `last` (updating it if so).
pub(crate) fn once_a_second(last: &mut Option<Instant>) -> bool {
    once_a_second_at(last, Instant::now())
}

/// [`once_a_second`] as of `now`.
fn once_a_second_at(last: &mut Option<Instant>, now: Instant) -> bool {
    if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
        return false;
    }
    *last = Some(now);
    true
}

/// What [`LogRate::admit`] decided about one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAdmission {
    /// Write it.
    Write,
    /// Drop it, silently: a report went out less than a second ago.
    Drop,
    /// Drop it, and report the drops: this many lines (this one included)
    /// were dropped since the last report.
    Report(u64),
}

/// One plugin's log-line budget ([`Limits::log_rate`](crate::Limits::log_rate)):
/// its own `log` calls, and every line the host writes because of it (a
/// message it sent that could not be delivered, a timer event refused).
/// All of the plugin's instances and the broker share one.
///
/// ```
/// use wasp_runtime::{LogAdmission, LogRate};
/// let rate = LogRate::new(2);
/// assert_eq!(rate.admit(), LogAdmission::Write);
/// assert_eq!(rate.admit(), LogAdmission::Write);
/// assert_eq!(rate.admit(), LogAdmission::Report(1));
/// assert_eq!(rate.admit(), LogAdmission::Drop);
/// assert_eq!((rate.written(), rate.dropped()), (2, 2));
/// ```
#[derive(Debug)]
pub struct LogRate {
    state: Mutex<LogState>,
    written: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct LogState {
    bucket: Bucket,
    rate: u32,
    /// When dropped lines were last reported.
    reported: Option<Instant>,
    /// Lines dropped since then.
    unreported: u64,
}

impl LogRate {
    /// A budget of `rate` lines a second (at least 1), with a burst of as many.
    pub fn new(rate: u32) -> Self {
        let state = LogState { bucket: Bucket::new(rate), rate, reported: None, unreported: 0 };
        Self { state: Mutex::new(state), written: AtomicU64::new(0), dropped: AtomicU64::new(0) }
    }

    /// The lines a second it allows.
    pub fn rate(&self) -> u32 {
        self.lock().rate
    }

    /// Sets the lines a second it allows (a reload changed the manifest).
    pub fn set_rate(&self, rate: u32) {
        let mut state = self.lock();
        if state.rate != rate {
            state.rate = rate;
            state.bucket = Bucket::new(rate);
        }
    }

    /// Decides about one line: write it, or drop it (reporting the drops at
    /// most once a second).
    pub fn admit(&self) -> LogAdmission {
        let mut state = self.lock();
        if state.bucket.take() {
            self.written.fetch_add(1, Ordering::Relaxed);
            return LogAdmission::Write;
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        state.unreported += 1;
        if once_a_second(&mut state.reported) {
            return LogAdmission::Report(std::mem::take(&mut state.unreported));
        }
        LogAdmission::Drop
    }

    /// The audit message reporting `dropped` lines of `plugin` dropped.
    pub fn report(&self, plugin: &str, dropped: u64) -> String {
        format!(
            "plugin `{plugin}` exceeded {} log lines per second; {dropped} lines dropped since the last report",
            self.rate()
        )
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, LogState> {
        self.state.lock()
    }
}

impl Default for LogRate {
    fn default() -> Self {
        Self::new(crate::Limits::default().log_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes tokens until the bucket refuses, as of `now`.
    fn drain(bucket: &mut Bucket, now: Instant) -> u64 {
        let mut taken = 0;
        while bucket.take_with(|| now) {
            taken += 1;
        }
        taken
    }

    #[test]
    fn a_bucket_starts_full_and_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10);
        bucket.at = start;
        assert_eq!(drain(&mut bucket, start), 10, "a full bucket is the burst");
        assert_eq!(drain(&mut bucket, start), 0, "nothing earned in no time");
        assert_eq!(drain(&mut bucket, start + Duration::from_millis(500)), 5, "half a second, half the rate");
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10);
        bucket.at = start;
        drain(&mut bucket, start);
        assert_eq!(drain(&mut bucket, start + Duration::from_secs(3600)), 10, "an hour idle still earns one burst");
    }

    #[test]
    fn fractions_of_a_token_carry_over() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10);
        bucket.at = start;
        drain(&mut bucket, start);
        // 150 ms earn 1.5 tokens: one now, the half kept.
        assert_eq!(drain(&mut bucket, start + Duration::from_millis(150)), 1);
        // Another 50 ms earn half a token, which with the carried half is one.
        assert_eq!(drain(&mut bucket, start + Duration::from_millis(200)), 1);
    }

    #[test]
    fn a_rate_of_zero_is_one_a_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new(0);
        bucket.at = start;
        assert_eq!(drain(&mut bucket, start), 1);
        assert_eq!(drain(&mut bucket, start + Duration::from_millis(999)), 0);
        assert_eq!(drain(&mut bucket, start + Duration::from_millis(1999)), 1);
    }

    #[test]
    fn once_a_second_says_yes_first_then_after_each_second() {
        let start = Instant::now();
        let mut last = None;
        assert!(once_a_second_at(&mut last, start), "the first time");
        assert!(!once_a_second_at(&mut last, start + Duration::from_millis(999)));
        assert!(once_a_second_at(&mut last, start + Duration::from_secs(1)));
        assert!(!once_a_second_at(&mut last, start + Duration::from_millis(1500)), "counted from the last yes");
    }

    #[test]
    fn a_flood_writes_the_burst_and_reports_drops_once_a_second() {
        let rate = LogRate::new(100);
        let outcomes: Vec<LogAdmission> = (0..100_000).map(|_| rate.admit()).collect();
        let written = outcomes.iter().filter(|o| **o == LogAdmission::Write).count();
        assert!((100..=110).contains(&written), "{written} lines written");
        let reports: Vec<u64> =
            outcomes.iter().filter_map(|o| if let LogAdmission::Report(n) = o { Some(*n) } else { None }).collect();
        assert!(!reports.is_empty() && reports.len() <= 2, "{reports:?}");
        assert_eq!(rate.written() + rate.dropped(), 100_000);
    }
}
