//! `cargo wasp bench`: timed request round trips through a one-shot host.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::CommandError;
use crate::run::OneShot;

/// What to send, and how much of it.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The request's topic.
    pub topic: String,
    /// Its MessagePack payload, sent as is every time.
    pub payload: Vec<u8>,
    /// How many requests to time (after one untimed warm-up request).
    pub requests: u64,
    /// How many requests are in flight at once.
    pub concurrency: usize,
}

impl Default for BenchOptions {
    /// 1,000 requests on `ping` with a `nil` payload, one at a time.
    fn default() -> Self {
        Self { topic: "ping".into(), payload: vec![0xc0], requests: 1000, concurrency: 1 }
    }
}

/// Timings of a benchmark run. Latencies are per request, from sending it
/// to having its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BenchReport {
    /// The plugin benchmarked.
    pub plugin: String,
    /// The topic sent.
    pub topic: String,
    /// Requests sent (timed).
    pub count: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// The first error answered, as `code: message`.
    pub first_error: Option<String>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Wall time of the whole run.
    #[serde(rename = "total_ms", serialize_with = "millis")]
    pub total: Duration,
    /// Mean latency.
    #[serde(rename = "mean_us", serialize_with = "micros")]
    pub mean: Duration,
    /// Median latency.
    #[serde(rename = "p50_us", serialize_with = "micros")]
    pub p50: Duration,
    /// 99th-percentile latency.
    #[serde(rename = "p99_us", serialize_with = "micros")]
    pub p99: Duration,
    /// Requests completed per second of wall time.
    pub requests_per_second: f64,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e6)
}

/// Sends `options.requests` requests to the one-shot host's plugin,
/// `options.concurrency` at a time, and times each; `on_done` is called
/// after each one (for a progress bar).
///
/// One untimed request goes first: if it fails, that error is returned
/// and nothing is timed. Requests answered with an error later are counted
/// in [`BenchReport::errors`].
///
/// ```no_run
/// use std::path::Path;
/// use wasp_cli::bench::{BenchOptions, bench};
/// use wasp_cli::run::{OneShot, RunOptions};
///
/// # async fn demo() -> Result<(), wasp_cli::error::CommandError> {
/// let host = OneShot::start(Path::new("plugins/echo"), &RunOptions::default()).await?;
/// let report = bench(&host, &BenchOptions::default(), || {}).await?;
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
pub async fn bench(
    target: &OneShot,
    options: &BenchOptions,
    on_done: impl Fn() + Send + Sync + 'static,
) -> Result<BenchReport, CommandError> {
    if options.concurrency == 0 {
        return Err(CommandError::Usage("the concurrency must be at least 1".into()));
    }
    target.request(&options.topic, options.payload.clone()).await?;
    let on_done = Arc::new(on_done);
    let next = Arc::new(AtomicU64::new(0));
    let plugin: Arc<str> = Arc::from(target.plugin().name());
    let topic: Arc<str> = Arc::from(options.topic.as_str());
    let started = Instant::now();
    let mut workers = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        let (host, next, on_done) = (target.host().clone(), next.clone(), on_done.clone());
        let (plugin, topic, payload, timeout) =
            (plugin.clone(), topic.clone(), options.payload.clone(), target.timeout());
        let total = options.requests;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let sent = Instant::now();
                let answer = host.request_with_timeout(&plugin, &topic, payload.clone(), timeout).await;
                latencies.push(sent.elapsed());
                if let Err(e) = answer {
                    errors.push(format!("{}: {}", e.code, e.message));
                }
                on_done();
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(usize::try_from(options.requests).unwrap_or(0));
    let mut errors = Vec::new();
    for worker in workers {
        let (mut times, mut failed) =
            worker.await.map_err(|e| wasp_runtime::Error::Internal(format!("a benchmark task failed: {e}")))?;
        latencies.append(&mut times);
        errors.append(&mut failed);
    }
    let total = started.elapsed();
    Ok(summarize(target.plugin().name(), options, latencies, errors, total))
}

fn summarize(
    plugin: &str,
    options: &BenchOptions,
    mut latencies: Vec<Duration>,
    errors: Vec<String>,
    total: Duration,
) -> BenchReport {
    latencies.sort_unstable();
    let count = latencies.len() as u64;
    let sum: Duration = latencies.iter().sum();
    let mean = if count == 0 { Duration::ZERO } else { sum / u32::try_from(count).unwrap_or(u32::MAX) };
    let seconds = total.as_secs_f64();
    BenchReport {
        plugin: plugin.to_owned(),
        topic: options.topic.clone(),
        count,
        errors: errors.len() as u64,
        first_error: errors.into_iter().next(),
        concurrency: options.concurrency,
        total,
        mean,
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        requests_per_second: if seconds > 0.0 { count as f64 / seconds } else { 0.0 },
    }
}

/// The nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// `812 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} `{}`, concurrency {}", self.plugin, self.topic, self.concurrency)?;
        writeln!(f, "  requests    {}", self.count)?;
        if self.errors > 0 {
            writeln!(f, "  errors      {}", self.errors)?;
            if let Some(first) = &self.first_error {
                writeln!(f, "  first error {first}")?;
            }
        }
        writeln!(f, "  total       {}", human(self.total))?;
        writeln!(f, "  mean        {}", human(self.mean))?;
        writeln!(f, "  p50         {}", human(self.p50))?;
        writeln!(f, "  p99         {}", human(self.p99))?;
        writeln!(f, "  requests/s  {:.0}", self.requests_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_micros(50));
        assert_eq!(percentile(&sorted, 99), Duration::from_micros(99));
        assert_eq!(percentile(&sorted[..1], 99), Duration::from_micros(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn the_summary_counts_errors_and_rates() {
        let latencies = vec![Duration::from_millis(2), Duration::from_millis(1)];
        let report =
            summarize("echo", &BenchOptions::default(), latencies, vec!["busy: full".into()], Duration::from_secs(1));
        assert_eq!((report.count, report.errors), (2, 1));
        assert_eq!(report.first_error.as_deref(), Some("busy: full"));
        assert_eq!(report.mean, Duration::from_micros(1500));
        assert!((report.requests_per_second - 2.0).abs() < 1e-9);
        assert!(report.to_string().contains("requests/s  2"));
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(human(Duration::from_nanos(812)), "812 ns");
        assert_eq!(human(Duration::from_nanos(12_345)), "12.3 µs");
        assert_eq!(human(Duration::from_millis(1200)), "1.20 s");
    }
}
