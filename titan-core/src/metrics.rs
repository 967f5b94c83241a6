//! Per-process metrics: calls, errors, in-flight calls, latency percentiles,
//! restarts, uptime, and for child processes CPU and memory.
//!
//! Latencies are kept in HDR histograms ([`LatencyHistogram`]) rather than
//! as running averages, so that the metrics of a pool's workers merge
//! exactly: the p99 of a pool is the p99 of all its calls, not an average of
//! its workers' p99s.
//!
//! ```
//! use std::time::Duration;
//! use titan_core::metrics::LatencyHistogram;
//!
//! let mut fast = LatencyHistogram::new();
//! let mut slow = LatencyHistogram::new();
//! for _ in 0..98 { fast.record(Duration::from_millis(1)); }
//! for _ in 0..2 { slow.record(Duration::from_millis(500)); }
//!
//! let mut pool = fast.clone();
//! pool.merge(&slow);
//! let latency = pool.summary();
//! assert_eq!(latency.count, 100);
//! assert!(latency.p50 < Duration::from_millis(2));
//! assert!(latency.p99 > Duration::from_millis(499));
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// The longest latency a histogram tells apart: one hour, in microseconds.
/// Longer calls are recorded as one hour.
const HIGHEST_MICROS: u64 = 3_600_000_000;

/// Latency distribution of calls: an HDR histogram (microsecond resolution,
/// 1 µs ..= 1 h, 3 significant digits) that merges exactly.
///
/// Values are kept to within 0.1 % of what was recorded; a latency beyond an
/// hour is recorded as an hour, one below a microsecond as zero. Merging
/// adds counts, so the quantiles of a merged histogram are those of all the
/// values recorded into its parts.
///
/// ```
/// use std::time::Duration;
/// use titan_core::metrics::LatencyHistogram;
///
/// let mut h = LatencyHistogram::new();
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.count(), 100);
/// let p50 = h.quantile(0.5).as_secs_f64();
/// assert!((p50 - 0.050).abs() < 0.050 * 0.001);
/// ```
#[derive(Clone, PartialEq)]
pub struct LatencyHistogram {
    /// Microseconds.
    inner: Histogram<u64>,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            inner: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .expect("constant bounds are valid"),
        }
    }

    /// Records one call's latency (clamped to 1 h).
    pub fn record(&mut self, latency: Duration) {
        self.inner.saturating_record(to_micros(latency));
    }

    /// Adds `other`'s counts to this one: afterwards this histogram is
    /// exactly what recording both sets of values into one would have given.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if self.inner.add(&other.inner).is_err() {
            // Not reachable with identical bounds; kept so that a merge can
            // never fail, clamping rather than dropping values.
            for value in other.inner.iter_recorded() {
                self.inner
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// Whether no latency was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The latency below or at which a fraction `q` of the calls fall
    /// (`0.99` for p99); `q` is clamped to `0..=1`. Zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.inner.is_empty() {
            return Duration::ZERO;
        }
        let q = if q >= 0.0 { q.min(1.0) } else { 0.0 };
        from_micros(self.inner.value_at_quantile(q))
    }

    /// The longest latency recorded (to histogram precision); zero when empty.
    pub fn max(&self) -> Duration {
        if self.inner.is_empty() {
            return Duration::ZERO;
        }
        from_micros(self.inner.max())
    }

    /// The mean latency (to histogram precision); zero when empty.
    pub fn mean(&self) -> Duration {
        let micros = self.inner.mean();
        Duration::try_from_secs_f64(micros / 1e6)
            .unwrap_or(Duration::ZERO)
            .min(from_micros(HIGHEST_MICROS))
    }

    /// Count, p50, p95, p99, max and mean.
    pub fn summary(&self) -> Latency {
        Latency {
            count: self.count(),
            p50: self.quantile(0.50),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            max: self.max(),
            mean: self.mean(),
        }
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LatencyHistogram {
    /// The summary, not the tens of thousands of buckets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Latency {
            count,
            p50,
            p95,
            p99,
            max,
            mean,
        } = self.summary();
        f.debug_struct("LatencyHistogram")
            .field("count", &count)
            .field("p50", &p50)
            .field("p95", &p95)
            .field("p99", &p99)
            .field("max", &max)
            .field("mean", &mean)
            .finish()
    }
}

fn to_micros(latency: Duration) -> u64 {
    latency.as_micros().min(u128::from(HIGHEST_MICROS)) as u64
}

/// A histogram value back to a duration; a bucket's top may lie a little
/// past the bound, which is clamped too.
fn from_micros(micros: u64) -> Duration {
    Duration::from_micros(micros.min(HIGHEST_MICROS))
}

/// Latency percentiles of a process's calls, as summarised from its
/// [`LatencyHistogram`] (all zero when no call has finished).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Latency {
    /// Calls measured.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest call.
    pub max: Duration,
    /// Mean.
    pub mean: Duration,
}

/// A snapshot of one process's metrics (or, [merged](Metrics::merge), of a pool's).
///
/// `calls` are the calls that ended, successfully or not; `errors` those of
/// them that ended with an error from the runtime (the process crashed or
/// was stopped, a timeout, a transport failure, a caller that gave up).
/// An application's own error — a `#[public]` method returning
/// `Result<T, E>` that returned `Err` — travels in its reply and counts as a
/// successful call.
///
/// ```
/// use std::time::Duration;
/// use titan_core::metrics::Metrics;
///
/// let mut a = Metrics::default();
/// a.calls = 10;
/// a.errors = 1;
/// a.histogram.record(Duration::from_millis(5));
/// let mut b = Metrics::default();
/// b.calls = 5;
/// b.memory_bytes = Some(1 << 20);
/// b.histogram.record(Duration::from_millis(7));
///
/// let pool = Metrics::merge([&a, &b]);
/// assert_eq!((pool.calls, pool.errors), (15, 1));
/// assert_eq!(pool.latency.count, 2);
/// assert_eq!(pool.memory_bytes, Some(1 << 20));
/// assert_eq!(pool.cpu_percent, None);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Calls that ended, successfully or not.
    pub calls: u64,
    /// Calls that ended with an error from the runtime (not an application's `Err`).
    pub errors: u64,
    /// Calls under way.
    pub in_flight: u64,
    /// Latency percentiles, summarised from `histogram`.
    pub latency: Latency,
    /// The full latency distribution, so that pools can merge exactly.
    pub histogram: LatencyHistogram,
    /// Times the process was restarted.
    pub restarts: u32,
    /// Time since the current run started.
    pub uptime: Duration,
    /// CPU use of a child process (100 % = one core fully busy); `None` for
    /// processes inside the manager's own process, or before a second sample.
    pub cpu_percent: Option<f64>,
    /// Resident memory of a child process; `None` when not known.
    pub memory_bytes: Option<u64>,
}

impl Metrics {
    /// The total of several processes' metrics (a pool's): counters are
    /// summed, histograms merged exactly and `latency` summarised from the
    /// merged histogram; `uptime` is the longest; CPU and memory are summed
    /// over the processes that know them (`None` when none does).
    pub fn merge<'a>(all: impl IntoIterator<Item = &'a Metrics>) -> Metrics {
        let mut total = Metrics::default();
        for m in all {
            total.calls = total.calls.saturating_add(m.calls);
            total.errors = total.errors.saturating_add(m.errors);
            total.in_flight = total.in_flight.saturating_add(m.in_flight);
            total.histogram.merge(&m.histogram);
            total.restarts = total.restarts.saturating_add(m.restarts);
            total.uptime = total.uptime.max(m.uptime);
            if let Some(cpu) = m.cpu_percent {
                total.cpu_percent = Some(total.cpu_percent.unwrap_or(0.0) + cpu);
            }
            if let Some(bytes) = m.memory_bytes {
                total.memory_bytes = Some(total.memory_bytes.unwrap_or(0).saturating_add(bytes));
            }
        }
        total.latency = total.histogram.summary();
        total
    }
}

/// The live recorder the manager keeps per process: atomics for the
/// counters, a mutex around the histogram.
///
/// Shared as `Arc<CallRecorder>`; each call holds a [`CallTimer`] from
/// [`begin`](Self::begin) to its end. Recording costs one clock read at each
/// end, a few relaxed atomics and one short, normally uncontended lock.
#[derive(Debug, Default)]
pub(crate) struct CallRecorder {
    calls: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    /// Counters change under this lock when a call ends, so that a
    /// [`snapshot`](Self::snapshot) is consistent (`calls` equals the
    /// histogram's count).
    histogram: Mutex<LatencyHistogram>,
}

impl CallRecorder {
    /// A recorder with nothing recorded.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A call starts: counts it in flight until the returned timer is
    /// finished or dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> CallTimer {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        CallTimer {
            recorder: Some(Arc::clone(self)),
            started: Instant::now(),
        }
    }

    /// Calls that ended.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls that ended with a runtime error (or whose caller gave up).
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Calls under way.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A copy of the latency histogram.
    #[allow(
        dead_code,
        reason = "for tests and future callers; `snapshot` includes it"
    )]
    pub(crate) fn histogram(&self) -> LatencyHistogram {
        self.lock().clone()
    }

    /// A consistent snapshot of the calls, errors, in-flight count and
    /// latency; the manager fills in restarts, uptime, CPU and memory.
    pub(crate) fn snapshot(&self) -> Metrics {
        let guard = self.lock();
        let histogram = guard.clone();
        let (calls, errors, in_flight) = (self.calls(), self.errors(), self.in_flight());
        drop(guard);
        Metrics {
            calls,
            errors,
            in_flight,
            latency: histogram.summary(),
            histogram,
            restarts: 0,
            uptime: Duration::ZERO,
            cpu_percent: None,
            memory_bytes: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LatencyHistogram> {
        // Recording cannot panic, so a poisoned lock still holds good data.
        self.histogram
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn end(&self, started: Instant, ok: bool) {
        let latency = started.elapsed();
        let mut histogram = self.lock();
        histogram.record(latency);
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One call being measured, from [`CallRecorder::begin`] until
/// [`finish`](Self::finish).
///
/// Owns an `Arc` of its recorder, so it can be held across `.await` in a
/// `'static` future. Dropping it without finishing (the caller gave up: the
/// call's future was cancelled, say by a timeout) records the call, with its
/// latency so far, as an error.
#[derive(Debug)]
#[must_use = "a call timer dropped at once records an errored call"]
pub(crate) struct CallTimer {
    /// `None` once recorded.
    recorder: Option<Arc<CallRecorder>>,
    started: Instant,
}

impl CallTimer {
    /// The call ended: `ok` is false for an `Err` from the runtime, true for
    /// a reply (including an application's own `Err`).
    pub(crate) fn finish(mut self, ok: bool) {
        if let Some(recorder) = self.recorder.take() {
            recorder.end(self.started, ok);
        }
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.end(self.started, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Within HDR precision (3 significant digits) of `expected`.
    fn close(got: Duration, expected: Duration) -> bool {
        let (g, e) = (got.as_secs_f64(), expected.as_secs_f64());
        (g - e).abs() <= e * 0.001 + 1e-6
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.summary(), Latency::default());
        for n in 1..=1000 {
            h.record(ms(n));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!(close(s.p50, ms(500)), "{s:?}");
        assert!(close(s.p95, ms(950)), "{s:?}");
        assert!(close(s.p99, ms(990)), "{s:?}");
        assert!(close(s.max, ms(1000)), "{s:?}");
        assert!(close(s.mean, Duration::from_micros(500_500)), "{s:?}");
        assert!(close(h.quantile(0.0), ms(1)));
        assert!(close(h.quantile(1.0), ms(1000)));
        // Out-of-range quantiles are clamped rather than panicking.
        assert_eq!(h.quantile(-1.0), h.quantile(0.0));
        assert_eq!(h.quantile(f64::NAN), h.quantile(0.0));
        assert_eq!(h.quantile(2.0), h.quantile(1.0));
    }

    #[test]
    fn out_of_range_latencies_are_clamped() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::ZERO);
        h.record(Duration::from_nanos(1));
        h.record(Duration::from_secs(86_400));
        h.record(Duration::MAX);
        assert_eq!(h.count(), 4);
        assert_eq!(h.quantile(0.0), Duration::ZERO);
        assert_eq!(h.max(), Duration::from_secs(3600));
        assert!(h.mean() <= Duration::from_secs(3600));
    }

    #[test]
    fn merging_histograms_equals_recording_into_one() {
        let (mut a, mut b, mut all) = (
            LatencyHistogram::new(),
            LatencyHistogram::new(),
            LatencyHistogram::new(),
        );
        for i in 0..5000u64 {
            // Two different distributions: fast calls in `a`, a slow tail in `b`.
            let fast = Duration::from_micros(100 + (i * 7919) % 900);
            let slow = ms(20 + (i * 104_729) % 480);
            a.record(fast);
            all.record(fast);
            if i % 10 == 0 {
                b.record(slow);
                all.record(slow);
            }
        }
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged.count(), 5500);
        assert!(merged == all, "{merged:?} != {all:?}");
        for q in [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(merged.quantile(q), all.quantile(q), "q = {q}");
        }
        assert_eq!(merged.summary(), all.summary());
        // Merging an empty histogram changes nothing.
        merged.merge(&LatencyHistogram::new());
        assert!(merged == all);
    }

    #[test]
    fn merging_metrics_sums_counters() {
        let mut a = Metrics {
            calls: 10,
            errors: 2,
            in_flight: 1,
            restarts: 1,
            uptime: Duration::from_secs(30),
            cpu_percent: Some(12.5),
            memory_bytes: Some(1000),
            ..Metrics::default()
        };
        a.histogram.record(ms(10));
        let mut b = Metrics {
            calls: 5,
            errors: 1,
            in_flight: 3,
            restarts: 2,
            uptime: Duration::from_secs(90),
            ..Metrics::default()
        };
        b.histogram.record(ms(30));
        b.histogram.record(ms(50));
        let c = Metrics {
            cpu_percent: Some(50.0),
            ..Metrics::default()
        };

        let total = Metrics::merge([&a, &b, &c]);
        assert_eq!(
            (total.calls, total.errors, total.in_flight, total.restarts),
            (15, 3, 4, 3)
        );
        assert_eq!(total.uptime, Duration::from_secs(90));
        assert_eq!(total.cpu_percent, Some(62.5));
        assert_eq!(total.memory_bytes, Some(1000));
        assert_eq!(total.latency.count, 3);
        assert!(close(total.latency.p50, ms(30)), "{:?}", total.latency);
        assert_eq!(total.latency, total.histogram.summary());

        let none = Metrics::merge([&b]);
        assert_eq!((none.cpu_percent, none.memory_bytes), (None, None));
        let empty = Metrics::merge([]);
        assert_eq!((empty.calls, empty.latency), (0, Latency::default()));
    }

    #[test]
    fn finished_and_dropped_timers() {
        let recorder = Arc::new(CallRecorder::new());
        let ok = recorder.begin();
        let failed = recorder.begin();
        let abandoned = recorder.begin();
        assert_eq!(recorder.in_flight(), 3);
        assert_eq!(recorder.calls(), 0);

        ok.finish(true);
        failed.finish(false);
        assert_eq!(
            (recorder.calls(), recorder.errors(), recorder.in_flight()),
            (2, 1, 1)
        );
        drop(abandoned);
        assert_eq!(
            (recorder.calls(), recorder.errors(), recorder.in_flight()),
            (3, 2, 0)
        );
        let m = recorder.snapshot();
        assert_eq!((m.calls, m.errors, m.in_flight), (3, 2, 0));
        assert_eq!(m.latency.count, 3);
        assert_eq!(recorder.histogram().count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_held_across_await_measures_the_call() {
        let recorder = Arc::new(CallRecorder::new());
        let call = {
            let recorder = Arc::clone(&recorder);
            // A `'static + Send` future holding the timer across an await.
            let fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>> =
                Box::pin(async move {
                    let timer = recorder.begin();
                    tokio::time::sleep(ms(250)).await;
                    timer.finish(true);
                });
            tokio::spawn(fut)
        };
        tokio::task::yield_now().await;
        assert_eq!(recorder.in_flight(), 1);
        call.await.expect("the call task completes");
        let m = recorder.snapshot();
        assert_eq!((m.calls, m.errors, m.in_flight), (1, 0, 0));
        assert!(close(m.latency.p50, ms(250)), "{:?}", m.latency);

        // A call cancelled by a timeout counts as an error.
        let slow = {
            let recorder = Arc::clone(&recorder);
            async move {
                let timer = recorder.begin();
                tokio::time::sleep(ms(1000)).await;
                timer.finish(true);
            }
        };
        assert!(tokio::time::timeout(ms(100), slow).await.is_err());
        let m = recorder.snapshot();
        assert_eq!((m.calls, m.errors, m.in_flight), (2, 1, 0));
    }

    #[test]
    fn concurrent_recording_counts_every_call() {
        let recorder = Arc::new(CallRecorder::new());
        let (threads, per_thread) = (8, 2000);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let recorder = &recorder;
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let timer = recorder.begin();
                        if (t + i) % 4 == 0 {
                            drop(timer);
                        } else {
                            timer.finish(true);
                        }
                    }
                });
            }
        });
        let m = recorder.snapshot();
        let total = threads * per_thread;
        assert_eq!(m.calls, total);
        assert_eq!(m.errors, total / 4);
        assert_eq!(m.in_flight, 0);
        assert_eq!(m.histogram.count(), total);
    }
}
