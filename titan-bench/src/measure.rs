//! The measuring harness: closed-loop callers, a warm-up, then a fixed window.
//!
//! Every row is measured the same way. A run starts a [`Window`]: first the
//! warm-up, whose calls are made but not counted, then the measured part.
//! Closed-loop callers each make one call at a time, back to back; a call's
//! latency runs from the end of the caller's previous call (or its start) to
//! its own end, so each call costs one clock read. Calls that finish inside
//! the measured part are counted and their latencies go into an
//! [`hdrhistogram`]; throughput is those calls divided by the measured part's
//! length.
//!
//! The rows of one group (a baseline, tarpc, Titan) are measured
//! [`interleaved`]: each row's measured time is cut into [`SLICES`] slices,
//! taken in turn, so that a slow spell of a shared machine falls on every
//! row of the group alike and their ratios hold.

use std::future::Future;

use futures::future::LocalBoxFuture;

use crate::report::{Group, Implementation, Row};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How long each row is warmed up and then measured.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Calls made before measuring, not counted.
    pub warmup: Duration,
    /// How long calls are counted.
    pub duration: Duration,
}

impl Settings {
    /// Starts a window now: the warm-up, then the measured part.
    pub fn window(&self) -> Window {
        let warm_end = Instant::now() + self.warmup;
        Window {
            warm_end,
            end: warm_end + self.duration,
        }
    }
}

/// When the warm-up ends and when measuring ends.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Calls that finish before this are warm-up.
    pub warm_end: Instant,
    /// Calls that finish after this are not counted, and callers stop.
    pub end: Instant,
}

/// The largest latency the histograms hold (longer ones are clamped to it).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant, valid bounds")
}

/// Records the calls of one caller (or of one pipelined connection).
#[derive(Debug)]
pub struct Recorder {
    window: Window,
    histogram: Histogram<u64>,
    calls: u64,
}

impl Recorder {
    /// A recorder for `window`.
    pub fn new(window: Window) -> Recorder {
        Recorder {
            window,
            histogram: histogram(),
            calls: 0,
        }
    }

    /// Records a call that ran from `start` to `end` (counted only if it ended
    /// inside the measured part); returns whether the caller should go on.
    pub fn record(&mut self, start: Instant, end: Instant) -> bool {
        if end >= self.window.warm_end && end < self.window.end {
            let nanos = u64::try_from(end.duration_since(start).as_nanos()).unwrap_or(u64::MAX);
            self.histogram
                .saturating_record(nanos.clamp(1, MAX_LATENCY_NS));
            self.calls += 1;
        }
        end < self.window.end
    }

    /// What was measured.
    pub fn finish(self) -> Measurement {
        Measurement {
            histogram: self.histogram,
            calls: self.calls,
            elapsed: self.window.end.duration_since(self.window.warm_end),
        }
    }
}

/// `calls` calls of `latency` each over one second: a made-up measurement for
/// the tests of what reads measurements.
#[cfg(test)]
pub(crate) fn constant(latency: Duration, calls: u32) -> Measurement {
    let now = Instant::now();
    let mut recorder = Recorder::new(Window {
        warm_end: now,
        end: now + Duration::from_secs(1),
    });
    for _ in 0..calls {
        recorder.record(now, now + latency);
    }
    recorder.finish()
}

/// The outcome of measuring one row.
#[derive(Debug, Clone)]
pub struct Measurement {
    histogram: Histogram<u64>,
    /// Calls counted.
    pub calls: u64,
    /// How long calls were counted.
    pub elapsed: Duration,
}

impl Measurement {
    /// Adds a later slice of the same row: its calls, latencies and time.
    pub fn append(&mut self, slice: &Measurement) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&slice.histogram);
        self.calls += slice.calls;
        self.elapsed += slice.elapsed;
    }

    /// The latency at quantile `q` (0.5 for the median).
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_nanos(self.histogram.value_at_quantile(q))
    }

    /// The median latency.
    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    /// The 99th percentile latency.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// Calls per second.
    pub fn throughput(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// One caller's way of making a call: a proxy clone, a channel, a client.
pub trait Call: Send + 'static {
    /// Makes one call and waits for its reply.
    fn call(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send + '_;
}

/// Runs `concurrency` closed-loop callers, each a clone of `caller`, as tasks
/// of the current runtime, through a warm-up and a measured window.
///
/// The callers share one recorder: one histogram stays in cache, where 64
/// histograms of their own (each a few hundred KiB) would cost every call a
/// cache miss that has nothing to do with what is measured. The callers run
/// on one thread, so the lock is never contended.
pub async fn closed_loop<C: Call + Clone>(
    settings: &Settings,
    concurrency: usize,
    caller: C,
) -> anyhow::Result<Measurement> {
    anyhow::ensure!(concurrency > 0, "no callers ran (concurrency 0)");
    let window = settings.window();
    let recorder = Arc::new(Mutex::new(Recorder::new(window)));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let mut caller = caller.clone();
        let recorder = recorder.clone();
        callers.spawn(async move {
            let mut start = Instant::now();
            loop {
                caller.call().await?;
                let end = Instant::now();
                let going = recorder
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .record(start, end);
                if !going {
                    break;
                }
                start = end;
            }
            anyhow::Ok(())
        });
    }
    drop(caller);
    while let Some(joined) = callers.join_next().await {
        joined??;
    }
    let recorder =
        Arc::into_inner(recorder).ok_or_else(|| anyhow::anyhow!("a caller outlived its window"))?;
    Ok(recorder
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .finish())
}

/// How many slices a row's measured time is cut into (see [`interleaved`]).
pub const SLICES: u32 = 4;

/// One row of a group, measured a slice at a time.
pub trait Contender {
    /// Measures one slice: `settings`' warm-up, then its measured part.
    fn slice(&mut self, settings: Settings) -> LocalBoxFuture<'_, anyhow::Result<Measurement>>;
}

/// Closed-loop callers (see [`closed_loop`]) as a [`Contender`].
pub struct Callers<C> {
    caller: C,
    concurrency: usize,
}

impl<C: Call + Clone> Callers<C> {
    /// `concurrency` clones of `caller`, boxed for [`interleaved`].
    pub fn boxed(caller: C, concurrency: usize) -> Box<dyn Contender> {
        Box::new(Callers {
            caller,
            concurrency,
        })
    }
}

impl<C: Call + Clone> Contender for Callers<C> {
    fn slice(&mut self, settings: Settings) -> LocalBoxFuture<'_, anyhow::Result<Measurement>> {
        Box::pin(closed_loop_owned(
            settings,
            self.concurrency,
            self.caller.clone(),
        ))
    }
}

async fn closed_loop_owned<C: Call + Clone>(
    settings: Settings,
    concurrency: usize,
    caller: C,
) -> anyhow::Result<Measurement> {
    closed_loop(&settings, concurrency, caller).await
}

/// Measures every contender over `settings`, in turns: the first slice of
/// each (after the whole warm-up), then the second of each (after a short
/// warm-up, to fill the pipeline again), and so on. Returns the
/// measurements in the contenders' order.
pub async fn interleaved(
    settings: &Settings,
    contenders: &mut [Box<dyn Contender>],
) -> anyhow::Result<Vec<Measurement>> {
    let mut totals: Vec<Option<Measurement>> = contenders.iter().map(|_| None).collect();
    for slice in 0..SLICES {
        let part = Settings {
            warmup: if slice == 0 {
                settings.warmup
            } else {
                settings.warmup / SLICES
            },
            duration: settings.duration / SLICES,
        };
        for (contender, total) in contenders.iter_mut().zip(&mut totals) {
            let measured = contender.slice(part).await?;
            match total {
                Some(total) => total.append(&measured),
                None => *total = Some(measured),
            }
        }
    }
    Ok(totals.into_iter().flatten().collect())
}

/// The rows of one case, each with what measures it, in the table's order.
#[derive(Default)]
pub struct Lineup {
    rows: Vec<(Implementation, &'static str, Box<dyn Contender>)>,
}

impl Lineup {
    /// Adds a row: `implementation`, named `label`, measured by `contender`.
    pub fn add(
        &mut self,
        implementation: Implementation,
        label: &'static str,
        contender: Box<dyn Contender>,
    ) {
        self.rows.push((implementation, label, contender));
    }

    /// Measures the rows [`interleaved`] into `group`; the contenders (and
    /// the connections they hold) are dropped on return.
    pub async fn measure(self, settings: &Settings, mut group: Group) -> anyhow::Result<Vec<Row>> {
        let (names, mut contenders): (Vec<_>, Vec<_>) = self
            .rows
            .into_iter()
            .map(|(implementation, label, contender)| ((implementation, label), contender))
            .unzip();
        let measured = interleaved(settings, &mut contenders).await?;
        for ((implementation, label), measured) in names.into_iter().zip(measured) {
            group.push(implementation, label, measured);
        }
        Ok(group.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_count_only_inside_the_window() {
        let now = Instant::now();
        let window = Window {
            warm_end: now + Duration::from_millis(10),
            end: now + Duration::from_millis(20),
        };
        let mut recorder = Recorder::new(window);
        assert!(recorder.record(now, now + Duration::from_millis(5)));
        assert!(recorder.record(now, now + Duration::from_millis(15)));
        assert!(!recorder.record(now, now + Duration::from_millis(25)));
        let measured = recorder.finish();
        assert_eq!(measured.calls, 1);
        assert_eq!(measured.elapsed, Duration::from_millis(10));
        let p50 = measured.p50();
        assert!(p50 >= Duration::from_millis(14) && p50 <= Duration::from_millis(16));
        assert!((measured.throughput() - 100.0).abs() < 1e-6);
    }

    /// Logs its slices and measures a made-up 100 calls of 1 µs each.
    struct Logged {
        name: &'static str,
        log: std::rc::Rc<std::cell::RefCell<Vec<(&'static str, Settings)>>>,
    }

    impl Contender for Logged {
        fn slice(&mut self, settings: Settings) -> LocalBoxFuture<'_, anyhow::Result<Measurement>> {
            self.log.borrow_mut().push((self.name, settings));
            Box::pin(async { Ok(constant(Duration::from_micros(1), 100)) })
        }
    }

    #[test]
    fn interleaved_rows_take_turns_and_add_up_their_slices() {
        let log = std::rc::Rc::default();
        let mut contenders: Vec<Box<dyn Contender>> = ["raw", "titan"]
            .into_iter()
            .map(|name| {
                Box::new(Logged {
                    name,
                    log: std::rc::Rc::clone(&log),
                }) as Box<dyn Contender>
            })
            .collect();
        let settings = Settings {
            warmup: Duration::from_millis(400),
            duration: Duration::from_millis(800),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let measured = runtime
            .block_on(interleaved(&settings, &mut contenders))
            .expect("measures");

        let log = log.borrow();
        let order: Vec<&str> = log.iter().map(|(name, _)| *name).collect();
        assert_eq!(order, ["raw", "titan"].repeat(SLICES as usize));
        assert_eq!(
            log[0].1.warmup, settings.warmup,
            "the first slice warms up fully"
        );
        assert_eq!(log[2].1.warmup, settings.warmup / SLICES);
        assert!(
            log.iter()
                .all(|(_, s)| s.duration == settings.duration / SLICES)
        );

        assert_eq!(measured.len(), 2);
        for row in &measured {
            assert_eq!(row.calls, 100 * u64::from(SLICES));
            assert_eq!(row.elapsed, Duration::from_secs(u64::from(SLICES)));
            assert!((row.throughput() - 100.0).abs() < 1e-6);
        }
    }
}
