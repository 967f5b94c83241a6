//! Restart policy: when a crashed process is restarted, after how long, and
//! when the manager gives up and leaves it `Failed`.
//!
//! A [`RestartPolicy`] says how many restarts are allowed within a sliding
//! window, how long to wait before each one ([`Backoff`]) and how long a run
//! must last to count as stable (`min_uptime`). The manager keeps one
//! tracker per managed process and asks it, each time a run ends by crashing
//! or failing its liveness probe, whether to restart and after what delay.
//!
//! ```
//! use std::time::Duration;
//! use titan_core::restart::{Backoff, RestartPolicy};
//!
//! let policy = RestartPolicy::new()
//!     .max_restarts(10, Duration::from_secs(300))
//!     .backoff(Backoff::linear(Duration::from_millis(500), Duration::from_secs(5)).jitter(0.2))
//!     .min_uptime(Duration::from_secs(5));
//! assert!(policy.enabled);
//! assert_eq!(policy.max_restarts, 10);
//!
//! assert!(!RestartPolicy::never().enabled);
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When and how often a process that crashed is restarted.
///
/// The default ([`RestartPolicy::new`]): enabled, at most 5 restarts within
/// 60 s, exponential backoff from 100 ms doubling up to 30 s with 10 % jitter
/// (see [`Backoff::default`]), and a run must last 1 s to count as stable.
///
/// Each time a run of the process ends (it crashed, or stopped answering its
/// liveness probe), the manager decides:
///
/// - **Disabled** (`enabled == false`, see [`RestartPolicy::never`]): the
///   process is left `Failed` ("restarts are disabled").
/// - **Stable or unstable run.** A run that lasted at least `min_uptime` was
///   stable: the backoff starts over, and the restart waits
///   [`initial`](Backoff::initial). A run shorter than `min_uptime` was
///   unstable: each unstable run in a row moves the backoff one step further
///   (`initial`, `initial × factor`, … for exponential backoff). More than
///   `max_restarts` unstable runs in a row leave the process `Failed`, with a
///   reason naming the count and `min_uptime` — a process that keeps dying as
///   soon as it starts is broken, not unlucky (PM2 marks such a process
///   "errored").
/// - **Rate limit.** Independently, a restart that would make more than
///   `max_restarts` restarts within the sliding `window` (counting restarts
///   granted at exits less than `window` ago) is refused, and the process is
///   left `Failed` with a reason naming the count and the window. A zero
///   window counts no earlier restarts, so only `max_restarts == 0` refuses.
///
/// ```
/// use std::time::Duration;
/// use titan_core::restart::{Backoff, BackoffKind, RestartPolicy};
///
/// let policy = RestartPolicy::default();
/// assert!(policy.enabled);
/// assert_eq!(policy.max_restarts, 5);
/// assert_eq!(policy.window, Duration::from_secs(60));
/// assert_eq!(policy.backoff.kind, BackoffKind::Exponential);
/// assert_eq!(policy.min_uptime, Duration::from_secs(1));
/// assert_eq!(policy, RestartPolicy::new());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// Whether crashed runs are restarted at all.
    pub enabled: bool,
    /// The most restarts allowed within `window`, and the most unstable runs
    /// (shorter than `min_uptime`) allowed in a row.
    pub max_restarts: u32,
    /// The sliding window `max_restarts` applies to.
    pub window: Duration,
    /// How long to wait before each restart.
    pub backoff: Backoff,
    /// How long a run must last to count as stable; a stable run resets the
    /// backoff and the count of unstable runs.
    pub min_uptime: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff: Backoff::default(),
            min_uptime: Duration::from_secs(1),
        }
    }
}

impl RestartPolicy {
    /// The default policy: enabled, 5 restarts within 60 s, exponential
    /// backoff 100 ms → 30 s (factor 2, jitter 0.1), `min_uptime` 1 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy that never restarts: a crashed process is left `Failed`.
    ///
    /// ```
    /// # use titan_core::restart::RestartPolicy;
    /// assert!(!RestartPolicy::never().enabled);
    /// ```
    pub fn never() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Allows at most `n` restarts within the sliding `window` (and at most
    /// `n` unstable runs in a row).
    pub fn max_restarts(mut self, n: u32, window: Duration) -> Self {
        self.max_restarts = n;
        self.window = window;
        self
    }

    /// Sets how long to wait before each restart.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets how long a run must last to count as stable.
    pub fn min_uptime(mut self, min_uptime: Duration) -> Self {
        self.min_uptime = min_uptime;
        self
    }
}

/// How the delay before a restart grows with the number of unstable runs in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackoffKind {
    /// `initial × (attempt + 1)`: 1, 2, 3, 4, … times `initial`.
    Linear,
    /// `initial × factor^attempt`: 1, 2, 4, 8, … times `initial` with factor 2.
    Exponential,
}

/// The delay before a restart: linear or exponential growth from `initial`,
/// capped at `max`, with optional random jitter.
///
/// ```
/// use std::time::Duration;
/// use titan_core::restart::Backoff;
///
/// let ms = Duration::from_millis;
/// let exp = Backoff::exponential(ms(100), ms(1000));
/// let delays: Vec<_> = (0..6).map(|attempt| exp.delay(attempt, 0.5)).collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
///
/// let lin = Backoff::linear(ms(100), ms(250));
/// assert_eq!(lin.delay(0, 0.5), ms(100));
/// assert_eq!(lin.delay(1, 0.5), ms(200));
/// assert_eq!(lin.delay(2, 0.5), ms(250));
///
/// // 10 % jitter: the delay is scaled by a factor in [0.9, 1.1].
/// let jittered = Backoff::exponential(ms(100), ms(1000)).jitter(0.1);
/// assert_eq!(jittered.delay(0, 0.0), ms(90));
/// assert_eq!(jittered.delay(0, 1.0), ms(110));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Linear or exponential growth.
    pub kind: BackoffKind,
    /// The delay of attempt 0 (the first restart after a stable run).
    pub initial: Duration,
    /// The longest delay, jitter included.
    pub max: Duration,
    /// The growth factor of exponential backoff (linear backoff ignores it);
    /// values below 1 (or NaN) count as 1.
    pub factor: f64,
    /// The fraction, in `0..=1`, by which a delay is randomly scaled: it is
    /// multiplied by a uniform factor in `[1 - jitter, 1 + jitter]` (then
    /// capped at `max`). Out-of-range values are clamped; NaN counts as 0.
    pub jitter: f64,
}

impl Default for Backoff {
    /// Exponential from 100 ms up to 30 s, factor 2, jitter 0.1.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100), Duration::from_secs(30)).jitter(0.1)
    }
}

impl Backoff {
    /// Exponential backoff: `initial × 2^attempt` capped at `max`, no jitter.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Self {
            kind: BackoffKind::Exponential,
            initial,
            max,
            factor: 2.0,
            jitter: 0.0,
        }
    }

    /// Linear backoff: `initial × (attempt + 1)` capped at `max`, no jitter.
    pub fn linear(initial: Duration, max: Duration) -> Self {
        Self {
            kind: BackoffKind::Linear,
            initial,
            max,
            factor: 2.0,
            jitter: 0.0,
        }
    }

    /// Sets the growth factor of exponential backoff (values below 1 count as 1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets the jitter fraction, clamped to `0..=1`: each delay is scaled by
    /// a uniform random factor in `[1 - jitter, 1 + jitter]`, then capped at `max`.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = clamp_unit(jitter);
        self
    }

    /// The delay before restart `attempt` (0 = the first after a stable run),
    /// given a uniform random number `unit_random` in `[0, 1]` for the jitter
    /// (0 gives the shortest delay, 1 the longest; values outside are clamped).
    ///
    /// Pure and total: huge attempts or factors saturate at `max` rather than
    /// overflow or panic.
    pub fn delay(&self, attempt: u32, unit_random: f64) -> Duration {
        let growth = match self.kind {
            BackoffKind::Linear => f64::from(attempt) + 1.0,
            BackoffKind::Exponential => {
                // Written as `>= 1` so that NaN, too, counts as 1.
                let factor = if self.factor >= 1.0 { self.factor } else { 1.0 };
                factor.powf(f64::from(attempt))
            }
        };
        let jitter = clamp_unit(self.jitter);
        let scale = 1.0 - jitter + 2.0 * jitter * clamp_unit(unit_random);
        // In nanoseconds so that round multiples stay exact (100 ms × 8 is
        // exactly 800 ms): an f64 holds whole nanoseconds exactly up to
        // 2^53 ns (~104 days), far beyond any sensible restart delay.
        let nanos = self.initial.as_nanos() as f64 * growth * scale;
        let max_nanos = self.max.as_nanos() as f64;
        // Written so that NaN (0 × ∞) falls through to `max`, too.
        if nanos >= 0.0 && nanos < max_nanos {
            let delay = if nanos < u64::MAX as f64 {
                Duration::from_nanos(nanos.round() as u64)
            } else {
                Duration::try_from_secs_f64(nanos / 1e9).unwrap_or(self.max)
            };
            delay.min(self.max)
        } else {
            self.max
        }
    }
}

/// Clamps to `[0, 1]`, NaN to 0.
fn clamp_unit(x: f64) -> f64 {
    if x >= 0.0 { x.min(1.0) } else { 0.0 }
}

/// What to do about a run of a process that ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Start the process again after `delay`.
    Restart {
        /// How long to wait first.
        delay: Duration,
        /// The backoff step the delay came from: the number of unstable runs
        /// in a row before the one that just ended (0 after a stable run).
        attempt: u32,
    },
    /// Leave the process `Failed`, for this human-readable reason.
    GiveUp {
        /// A sentence saying which limit was exceeded.
        reason: String,
    },
}

/// The restart bookkeeping of one managed process: applies a
/// [`RestartPolicy`] to the runs that end.
#[derive(Debug, Clone)]
pub(crate) struct RestartTracker {
    policy: RestartPolicy,
    rng: SplitMix64,
    /// Unstable runs (shorter than `min_uptime`) in a row, the latest included.
    unstable: u32,
    /// The exits at which restarts were granted less than `window` ago, oldest first.
    recent: VecDeque<Instant>,
    /// Restarts granted in total.
    restarts: u32,
}

impl RestartTracker {
    /// A tracker for `policy`; `seed` drives the jitter (a fixed seed gives a
    /// reproducible sequence of delays).
    pub(crate) fn new(policy: RestartPolicy, seed: u64) -> Self {
        Self {
            policy,
            rng: SplitMix64(seed),
            unstable: 0,
            recent: VecDeque::new(),
            restarts: 0,
        }
    }

    /// The process's run that started at `started` ended (crashed or failed
    /// its liveness probe) at `now`: restart after a delay, or give up.
    pub(crate) fn on_exit(&mut self, started: Instant, now: Instant) -> Decision {
        let policy = &self.policy;
        if !policy.enabled {
            return Decision::GiveUp {
                reason: "restarts are disabled".to_owned(),
            };
        }

        let uptime = now.saturating_duration_since(started);
        let attempt = if uptime >= policy.min_uptime {
            self.unstable = 0;
            0
        } else {
            self.unstable = self.unstable.saturating_add(1);
            if self.unstable > policy.max_restarts {
                return Decision::GiveUp {
                    reason: format!(
                        "the process exited {} times in a row less than min_uptime ({:?}) after \
                         starting, more than the {} allowed",
                        self.unstable, policy.min_uptime, policy.max_restarts
                    ),
                };
            }
            self.unstable - 1
        };

        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= policy.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let in_window = self.recent.len().saturating_add(1);
        if in_window > policy.max_restarts as usize {
            return Decision::GiveUp {
                reason: format!(
                    "restarting would make {in_window} restarts within {:?}, more than the {} \
                     allowed",
                    policy.window, policy.max_restarts
                ),
            };
        }

        let delay = policy.backoff.delay(attempt, self.rng.next_unit());
        self.recent.push_back(now);
        self.restarts = self.restarts.saturating_add(1);
        Decision::Restart { delay, attempt }
    }

    /// The restarts granted so far.
    #[allow(
        dead_code,
        reason = "the manager counts restarts itself; tests use this"
    )]
    pub(crate) fn restarts(&self) -> u32 {
        self.restarts
    }
}

/// SplitMix64 (Steele, Lea and Flood): a tiny, fast, good-enough generator
/// for jitter. Not for anything that needs unpredictability.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`: the top 53 bits as a fraction.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn restart(decision: Decision) -> (Duration, u32) {
        match decision {
            Decision::Restart { delay, attempt } => (delay, attempt),
            Decision::GiveUp { reason } => panic!("gave up: {reason}"),
        }
    }

    fn give_up(decision: Decision) -> String {
        match decision {
            Decision::GiveUp { reason } => reason,
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    /// No jitter, so delays are exact.
    fn exact(policy: RestartPolicy) -> RestartTracker {
        let backoff = policy.backoff.clone().jitter(0.0);
        RestartTracker::new(policy.backoff(backoff), 7)
    }

    #[test]
    fn exponential_sequence_doubles_up_to_max() {
        let b = Backoff::exponential(ms(100), ms(30_000));
        let delays: Vec<u64> = (0..12)
            .map(|a| b.delay(a, 0.3).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000
            ]
        );
        let b3 = Backoff::exponential(ms(10), ms(1000)).factor(3.0);
        assert_eq!(b3.delay(2, 0.0), ms(90));
        // A factor below 1 (or NaN) counts as 1: a constant delay.
        assert_eq!(b.clone().factor(0.5).delay(5, 0.0), ms(100));
        assert_eq!(b.clone().factor(f64::NAN).delay(5, 0.0), ms(100));
    }

    #[test]
    fn linear_sequence_adds_initial_up_to_max() {
        let b = Backoff::linear(ms(250), ms(1000));
        let delays: Vec<Duration> = (0..6).map(|a| b.delay(a, 0.9)).collect();
        assert_eq!(
            delays,
            [ms(250), ms(500), ms(750), ms(1000), ms(1000), ms(1000)]
        );
        // The factor does not apply to linear backoff.
        assert_eq!(b.factor(10.0).delay(1, 0.0), ms(500));
    }

    #[test]
    fn jitter_stays_within_bounds_and_is_deterministic_for_a_seed() {
        let b = Backoff::exponential(ms(1000), ms(60_000)).jitter(0.25);
        assert_eq!(b.delay(0, 0.0), ms(750));
        assert_eq!(b.delay(0, 0.5), ms(1000));
        assert_eq!(b.delay(0, 1.0), ms(1250));
        // Out-of-range randoms are clamped; jitter beyond 1 is clamped to 1.
        assert_eq!(b.delay(0, -3.0), ms(750));
        assert_eq!(b.delay(0, f64::NAN), ms(750));
        assert_eq!(b.delay(0, 7.0), ms(1250));
        assert_eq!(Backoff::linear(ms(100), ms(1000)).jitter(5.0).jitter, 1.0);
        assert_eq!(
            Backoff::linear(ms(100), ms(1000)).jitter(f64::NAN).jitter,
            0.0
        );
        // Jitter never pushes a delay past `max`.
        let capped = Backoff::exponential(ms(1000), ms(1100)).jitter(0.5);
        assert_eq!(capped.delay(0, 1.0), ms(1100));

        let policy = RestartPolicy::new()
            .max_restarts(u32::MAX, Duration::from_secs(1))
            .backoff(Backoff::exponential(ms(1000), ms(60_000)).jitter(0.1));
        let run = |seed| {
            let mut tracker = RestartTracker::new(policy.clone(), seed);
            let t0 = Instant::now();
            (0..200u64)
                .map(|i| {
                    // Stable runs, spread out: always attempt 0.
                    let started = t0 + Duration::from_secs(10 * i);
                    restart(tracker.on_exit(started, started + Duration::from_secs(5))).0
                })
                .collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42), "same seed, same delays");
        assert_ne!(a, run(43), "another seed, other delays");
        assert!(a.iter().all(|d| (ms(900)..=ms(1100)).contains(d)), "{a:?}");
        // The jitter is spread over the range rather than stuck at one end.
        assert!(a.iter().any(|d| *d < ms(950)) && a.iter().any(|d| *d > ms(1050)));
    }

    #[test]
    fn huge_attempts_and_factors_do_not_overflow() {
        let b = Backoff::exponential(ms(100), ms(30_000));
        assert_eq!(b.delay(u32::MAX, 0.5), ms(30_000));
        assert_eq!(b.clone().factor(f64::MAX).delay(u32::MAX, 1.0), ms(30_000));
        assert_eq!(b.clone().factor(f64::INFINITY).delay(0, 0.0), ms(100));
        assert_eq!(b.clone().factor(f64::INFINITY).delay(3, 0.0), ms(30_000));
        let lin = Backoff::linear(Duration::MAX, Duration::MAX).jitter(1.0);
        assert_eq!(lin.delay(u32::MAX, 1.0), Duration::MAX);
        // Past u64 nanoseconds (~585 years), in seconds.
        let huge = Backoff::exponential(Duration::from_secs(1 << 40), Duration::MAX);
        assert_eq!(huge.delay(0, 0.0), Duration::from_secs(1 << 40));
        assert_eq!(huge.delay(1, 0.0), Duration::from_secs(1 << 41));
        assert_eq!(huge.delay(30, 0.0), Duration::MAX);
        // A zero initial delay stays zero, even with an infinite factor.
        let zero = Backoff::exponential(Duration::ZERO, ms(10)).factor(f64::INFINITY);
        assert_eq!(zero.delay(0, 0.0), Duration::ZERO);
        // 0 × ∞ is NaN, which saturates at `max` rather than panicking.
        assert_eq!(zero.delay(5, 0.0), ms(10));
        // A tracker survives unstable runs far beyond any real count.
        let mut tracker = exact(
            RestartPolicy::new()
                .max_restarts(u32::MAX, Duration::ZERO)
                .min_uptime(Duration::from_secs(1)),
        );
        tracker.unstable = u32::MAX - 2;
        let t = Instant::now();
        let (delay, attempt) = restart(tracker.on_exit(t, t));
        assert_eq!((delay, attempt), (ms(30_000), u32::MAX - 2));
        for _ in 0..3 {
            assert_eq!(restart(tracker.on_exit(t, t)).0, ms(30_000));
        }
        assert_eq!(tracker.unstable, u32::MAX);
    }

    #[test]
    fn a_stable_run_resets_the_backoff() {
        let mut tracker = exact(RestartPolicy::new().max_restarts(100, Duration::ZERO));
        let mut t = Instant::now();
        let mut quick = |tracker: &mut RestartTracker, uptime: Duration| {
            let started = t;
            t += uptime + Duration::from_secs(100);
            restart(tracker.on_exit(started, started + uptime))
        };
        assert_eq!(quick(&mut tracker, ms(10)), (ms(100), 0));
        assert_eq!(quick(&mut tracker, ms(10)), (ms(200), 1));
        assert_eq!(quick(&mut tracker, ms(10)), (ms(400), 2));
        // Exactly min_uptime is stable.
        assert_eq!(quick(&mut tracker, ms(1000)), (ms(100), 0));
        assert_eq!(quick(&mut tracker, ms(10)), (ms(100), 0));
        assert_eq!(quick(&mut tracker, ms(10)), (ms(200), 1));
        assert_eq!(quick(&mut tracker, Duration::from_secs(3600)), (ms(100), 0));
        assert_eq!(tracker.restarts(), 7);
    }

    #[test]
    fn max_restarts_within_window_gives_up_at_the_next_exit() {
        let policy = RestartPolicy::new()
            .max_restarts(3, Duration::from_secs(60))
            .min_uptime(Duration::ZERO);
        let t0 = Instant::now();
        let secs = Duration::from_secs;

        // Four stable runs of 5 s inside one minute: the fourth exit is refused.
        let mut tracker = exact(policy.clone());
        for i in 0..3 {
            let started = t0 + secs(10 * i);
            assert_eq!(
                restart(tracker.on_exit(started, started + secs(5))),
                (ms(100), 0)
            );
        }
        let reason = give_up(tracker.on_exit(t0 + secs(30), t0 + secs(35)));
        assert!(reason.contains("4 restarts within 60s"), "{reason}");
        assert!(reason.contains("the 3 allowed"), "{reason}");
        assert_eq!(tracker.restarts(), 3);

        // The same exits spread wider than the window are all restarted: at
        // any exit, the previous three granted are not all within 60 s.
        let mut tracker = exact(policy.clone());
        for i in 0..20 {
            let started = t0 + secs(25 * i);
            restart(tracker.on_exit(started, started + secs(5)));
        }
        assert_eq!(tracker.restarts(), 20);

        // A restart exactly `window` ago no longer counts.
        let mut tracker = exact(policy);
        for i in 0..3 {
            restart(tracker.on_exit(t0, t0 + secs(5 + i)));
        }
        restart(tracker.on_exit(t0, t0 + secs(65)));
        give_up(tracker.on_exit(t0, t0 + secs(65)));
    }

    #[test]
    fn repeated_quick_deaths_give_up() {
        let mut tracker = exact(
            RestartPolicy::new()
                .max_restarts(3, Duration::ZERO)
                .min_uptime(ms(1500)),
        );
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        // Spread out in time, so only min_uptime can stop them.
        for (i, expected) in [100, 200, 400].into_iter().enumerate() {
            let started = t0 + secs(1000 * i as u64);
            let (delay, attempt) = restart(tracker.on_exit(started, started + ms(200)));
            assert_eq!((delay, attempt), (ms(expected), i as u32));
        }
        let started = t0 + secs(5000);
        let reason = give_up(tracker.on_exit(started, started + ms(200)));
        assert!(reason.contains("4 times in a row"), "{reason}");
        assert!(reason.contains("1.5s"), "{reason}");
        assert!(reason.contains("the 3 allowed"), "{reason}");
        assert_eq!(tracker.restarts(), 3);
    }

    #[test]
    fn the_default_policy_gives_up_on_a_crash_loop() {
        let mut tracker = RestartTracker::new(RestartPolicy::default(), 1);
        let t0 = Instant::now();
        let mut delays = Vec::new();
        let mut started = t0;
        let decision = loop {
            let now = started + ms(50);
            match tracker.on_exit(started, now) {
                Decision::Restart { delay, .. } => {
                    delays.push(delay);
                    started = now + delay;
                }
                give_up => break give_up,
            }
        };
        assert_eq!(delays.len(), 5);
        for (i, d) in delays.iter().enumerate() {
            let nominal = 100.0 * 2f64.powi(i as i32);
            let got = d.as_secs_f64() * 1000.0;
            assert!(
                got >= nominal * 0.9 - 1e-6 && got <= nominal * 1.1 + 1e-6,
                "{delays:?}"
            );
        }
        assert!(give_up(decision).contains("6 times in a row"));
    }

    #[test]
    fn disabled_gives_up_at_once() {
        let mut tracker = RestartTracker::new(RestartPolicy::never(), 0);
        let t = Instant::now();
        let reason = give_up(tracker.on_exit(t, t + Duration::from_secs(3600)));
        assert_eq!(reason, "restarts are disabled");
        assert_eq!(tracker.restarts(), 0);
    }

    #[test]
    fn zero_max_restarts_never_restarts() {
        let mut tracker = exact(RestartPolicy::new().max_restarts(0, Duration::ZERO));
        let t = Instant::now();
        give_up(tracker.on_exit(t, t + Duration::from_secs(10)));
    }

    #[test]
    fn an_exit_before_its_start_counts_as_a_zero_uptime() {
        let mut tracker = exact(RestartPolicy::new());
        let t = Instant::now();
        assert_eq!(restart(tracker.on_exit(t + ms(10), t)), (ms(100), 0));
        assert_eq!(tracker.unstable, 1);
    }

    #[test]
    fn splitmix_is_uniform_enough() {
        let mut rng = SplitMix64(0);
        // The reference output of SplitMix64 seeded with 0.
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut rng = SplitMix64(12345);
        let n = 10_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.next_unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
