//! Load-balancing strategies: which worker of a pool gets the next call.
//!
//! A pool keeps one [`WorkerLoad`] per worker, updated on every call with
//! atomics only. Whenever its membership or the workers' availability changes
//! (rarely) it builds a [`WorkerSet`], an immutable snapshot that precomputes
//! what the strategies need (the consistent-hash ring, the smooth
//! weighted-round-robin sequence, the weights' running sums). On every call a
//! [`Balancer`], made once from the pool's [`Strategy`], picks an index into
//! that snapshot:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use titan_core::pool::{Strategy, WorkerLoad, WorkerSet};
//!
//! let loads: Vec<Arc<WorkerLoad>> = (1..=3).map(|id| Arc::new(WorkerLoad::new(id, 1))).collect();
//! let set = WorkerSet::new(loads);
//! let balancer = Strategy::LeastConnections.balancer();
//!
//! let i = balancer.pick(&set, None).expect("the set is not empty");
//! let worker = &set.workers()[i];
//! worker.begin();
//! // … the call …
//! worker.end(Duration::from_micros(250), true);
//! assert_eq!((worker.requests(), worker.in_flight()), (1, 0));
//! ```
//!
//! Every built-in pick is lock-free and allocation-free: O(1) (round-robin,
//! random, weighted round-robin, power-of-two-choices), O(log n) (key-hash,
//! consistent-hash, weighted-random) or one pass over the workers reading one
//! word each (least-connections, least-loaded, least-response-time, latency,
//! adaptive: each worker keeps its own rank up to date as its figures
//! change). Ties between equally good workers are broken by starting the
//! scan at a random worker, so an idle pool still spreads its calls.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::caller::CallKey;

/// Virtual nodes per worker on the consistent-hash ring of a [`WorkerSet`].
pub const VIRTUAL_NODES: usize = 160;

/// The longest smooth weighted-round-robin sequence a [`WorkerSet`] keeps;
/// weights whose (gcd-reduced) sum exceeds it are scaled down to fit.
pub const MAX_WRR_PERIOD: u64 = 1 << 14;

/// What an unmeasured worker with calls in flight is assumed to take per call
/// by the latency-based strategies: long enough that it is not flooded before
/// its first call returns.
pub const UNMEASURED_PENALTY: Duration = Duration::from_secs(1);

const UNMEASURED_PENALTY_NS: u64 = UNMEASURED_PENALTY.as_secs() * 1_000_000_000;

/// The weight of a faster sample in the latency EWMA, as a shift: 1/8.
const LATENCY_DECAY_SHIFT: u32 = 3;
/// The weight of one call's outcome in the error-rate EWMA, as a shift: 1/16.
const ERROR_DECAY_SHIFT: u32 = 4;
/// An error rate of 1 in the error-rate EWMA's fixed point.
const ERROR_ONE: u32 = 1 << 24;
/// CPU usage is kept in hundredths of a percent: 100 % is this much.
const CPU_FULL: f32 = 10_000.0;

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: a bijective 64-bit mix.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform index below `n` from 64 random bits (Lemire's multiply-shift,
/// no division).
fn below(random: u64, n: usize) -> usize {
    ((u128::from(random) * n as u128) >> 64) as usize
}

/// A duration in nanoseconds, at most 2^62 (146 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).map_or(MAX_NANOS, |ns| ns.min(MAX_NANOS))
}

const MAX_NANOS: u64 = 1 << 62;

// ---------------------------------------------------------------------------
// WorkerLoad

/// Live load figures of one worker, updated by the pool on every call
/// (atomics only, never a lock).
///
/// The pool calls [`begin`](WorkerLoad::begin) when a call is sent to the
/// worker and [`end`](WorkerLoad::end) when its reply (or failure) arrives,
/// and for child workers samples the OS figures into
/// [`set_usage`](WorkerLoad::set_usage). Strategies read the figures while
/// they change; every figure is individually exact, but two figures read
/// together may be from slightly different moments, which is good enough to
/// balance by.
///
/// For the strategies that rank every worker on each pick (least-loaded,
/// least-response-time, latency, adaptive), a worker also keeps its rank
/// under the strategy that last picked from it, recomputed by `begin`, `end`
/// and `set_usage` (some 10–20 ns), so that a pick reads one word per
/// worker. Under the other strategies a worker skips that work.
///
/// ```
/// use std::time::Duration;
/// use titan_core::pool::WorkerLoad;
///
/// let load = WorkerLoad::new(7, 2);
/// load.begin();
/// assert_eq!(load.in_flight(), 1);
/// load.end(Duration::from_millis(4), false);
/// assert_eq!((load.in_flight(), load.requests(), load.errors()), (0, 1, 1));
/// assert_eq!(load.mean_latency(), Duration::from_millis(4));
/// ```
#[derive(Debug)]
#[repr(C, align(64))] // keeps what the picks read in the first cache line
pub struct WorkerLoad {
    // What the strategies read, together in the first cache line.
    in_flight: AtomicU32,
    /// CPU usage in hundredths of a percent; 0 when unknown.
    cpu: AtomicU32,
    /// The cached rank key (high half) and the tag of the rank it is for
    /// (low half, see [`tag`]); 0 until a ranking strategy adopts the worker.
    ranked: AtomicU64,
    /// The rank (see [`rank`]) `ranked` is kept for; 0 for none.
    rank: AtomicU64,
    /// Peak-EWMA latency in nanoseconds; 0 until the first call ends.
    ewma_ns: AtomicU64,
    /// Mean latency in nanoseconds, as of the last call's end; 0 until then.
    mean_ns: AtomicU64,
    /// Error-rate EWMA, [`ERROR_ONE`] being 1.
    error_rate: AtomicU32,
    weight: u32,
    inv_weight: f32,
    id: u64,
    // Counters.
    requests: AtomicU64,
    errors: AtomicU64,
    total_ns: AtomicU64,
    memory: AtomicU64,
}

impl WorkerLoad {
    /// A worker's figures, all zero: `id` is the worker's stable id (the
    /// number of its `ProcessId`), `weight` its relative capacity for the
    /// weighted strategies (0 is taken as 1).
    pub fn new(id: u64, weight: u32) -> WorkerLoad {
        let weight = weight.max(1);
        WorkerLoad {
            in_flight: AtomicU32::new(0),
            cpu: AtomicU32::new(0),
            ranked: AtomicU64::new(0),
            rank: AtomicU64::new(0),
            ewma_ns: AtomicU64::new(0),
            mean_ns: AtomicU64::new(0),
            error_rate: AtomicU32::new(0),
            weight,
            inv_weight: 1.0 / weight as f32,
            id,
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            memory: AtomicU64::new(0),
        }
    }

    /// The worker's stable id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The worker's weight (at least 1).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// A call to this worker starts: one more call in flight.
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Relaxed);
        self.refresh();
    }

    /// A call to this worker ended after `latency`, successfully or not
    /// (`ok`): one call fewer in flight (never below zero), one more request
    /// (and error), and the latency and error-rate averages move.
    ///
    /// The EWMA latency is *peak*-sensitive: a slower sample replaces it at
    /// once, a faster one pulls it 1/8 of the way down. The error rate is an
    /// EWMA of the outcomes weighting each call 1/16, so a worker that
    /// recovers is forgiven within a few dozen successful calls.
    pub fn end(&self, latency: Duration, ok: bool) {
        let _ = self
            .in_flight
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        // At least 1 ns, so that 0 keeps meaning "never measured".
        let ns = nanos(latency).max(1);
        let requests = self.requests.fetch_add(1, Relaxed).wrapping_add(1).max(1);
        let total = self.total_ns.fetch_add(ns, Relaxed).saturating_add(ns);
        self.mean_ns.store((total / requests).max(1), Relaxed);
        let _ = self.ewma_ns.fetch_update(Relaxed, Relaxed, |old| {
            Some(if ns >= old {
                ns
            } else {
                old - ((old - ns).div_ceil(1 << LATENCY_DECAY_SHIFT))
            })
        });
        if !ok {
            self.errors.fetch_add(1, Relaxed);
        }
        let _ = self.error_rate.fetch_update(Relaxed, Relaxed, |rate| {
            let step = (1 << ERROR_DECAY_SHIFT) - 1;
            Some(if ok {
                rate - ((rate + step) >> ERROR_DECAY_SHIFT)
            } else {
                rate + ((ERROR_ONE - rate + step) >> ERROR_DECAY_SHIFT)
            })
        });
        self.refresh();
    }

    /// Calls started and not yet ended.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Calls ended, successfully or not.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Calls ended unsuccessfully.
    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }

    /// The recent error rate, from 0 to 1: an EWMA of the calls' outcomes
    /// (each call weighs 1/16), so old failures fade as calls succeed.
    pub fn error_rate(&self) -> f64 {
        f64::from(self.error_rate.load(Relaxed)) / f64::from(ERROR_ONE)
    }

    /// The peak-EWMA latency (see [`end`](WorkerLoad::end)); zero until a
    /// call has ended.
    pub fn ewma_latency(&self) -> Duration {
        Duration::from_nanos(self.ewma_ns.load(Relaxed))
    }

    /// The mean latency over every call ended so far; zero until one has.
    pub fn mean_latency(&self) -> Duration {
        let requests = self.requests.load(Relaxed);
        if requests == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.total_ns.load(Relaxed) / requests)
    }

    /// Whether a call to this worker has ended yet (the latency-based
    /// strategies treat a worker without one specially).
    pub fn is_measured(&self) -> bool {
        self.ewma_ns.load(Relaxed) != 0
    }

    /// Records the worker's sampled OS usage: `cpu_percent` of one core (may
    /// exceed 100 on several) and resident `memory_bytes`. Zero means
    /// unknown; negative or NaN CPU is taken as zero.
    pub fn set_usage(&self, cpu_percent: f32, memory_bytes: u64) {
        // `as` saturates: NaN and negatives give 0, huge values u32::MAX.
        self.cpu.store((cpu_percent * 100.0) as u32, Relaxed);
        self.memory.store(memory_bytes, Relaxed);
        self.refresh();
    }

    /// The last sampled CPU usage in percent of one core; 0 when unknown.
    pub fn cpu_percent(&self) -> f32 {
        self.cpu.load(Relaxed) as f32 / 100.0
    }

    /// The last sampled resident memory in bytes; 0 when unknown.
    pub fn memory_bytes(&self) -> u64 {
        self.memory.load(Relaxed)
    }

    /// What the ranks are computed from, read now.
    fn figures(&self) -> Figures {
        Figures {
            in_flight: self.in_flight.load(Relaxed),
            cpu: self.cpu.load(Relaxed),
            error_rate: self.error_rate.load(Relaxed),
            ewma_ns: self.ewma_ns.load(Relaxed),
            mean_ns: self.mean_ns.load(Relaxed),
        }
    }

    /// The worker's key under `rank` (lower is better) with `figures`.
    fn key(&self, figures: &Figures, rank: u64) -> u32 {
        let in_flight = figures.in_flight;
        // Least-loaded's load: `(in_flight + cpu_percent / 100) / weight`.
        let load = (in_flight as f32 + figures.cpu as f32 * (1.0 / CPU_FULL)) * self.inv_weight;
        let cost = match rank & RANK_KIND {
            rank::LOAD => load,
            rank::MEAN_LATENCY => latency_cost(figures.mean_ns, in_flight),
            rank::EWMA_LATENCY => latency_cost(figures.ewma_ns, in_flight),
            _ => {
                let weight =
                    |f: u32| ((rank >> (rank::WEIGHT_SHIFT + 14 * f)) & rank::WEIGHT_MAX) as f32;
                let latency = assumed_latency(figures.ewma_ns, in_flight) as i64 as f32;
                let error_rate = figures.error_rate as f32 * (1.0 / ERROR_ONE as f32);
                (weight(0) * log2(1.0 + load) + weight(1) * log2(1.0 + latency)
                    - weight(2) * log2(1.0 - error_rate.min(MAX_ERROR_RATE))
                    + weight(3) * log2(1.0 + in_flight as f32))
                    * (1.0 / rank::WEIGHT_MAX as f32)
            }
        };
        // Non-negative floats order like their bits (-0.0 cannot occur: every
        // term is a product or sum of non-negative ones).
        cost.to_bits()
    }

    /// Recomputes the cached rank key, if a ranking strategy uses this
    /// worker; after every change of a figure.
    fn refresh(&self) {
        let rank = self.rank.load(Relaxed);
        if rank != 0 {
            self.cache(rank);
        }
    }

    /// Caches the key under `rank` and returns it. Concurrent changes may
    /// interleave with the computation, so it is checked against the figures
    /// once stored, and redone until they agree: the last thread to change a
    /// figure leaves a key that matches.
    fn cache(&self, rank: u64) -> u32 {
        let tag = tag(rank);
        let mut figures = self.figures();
        loop {
            let key = self.key(&figures, rank);
            self.ranked.store(high(key) | u64::from(tag), Relaxed);
            let now = self.figures();
            if now == figures {
                return key;
            }
            figures = now;
        }
    }

    /// Makes `rank` the one this worker keeps its key for (a pick found the
    /// cached key to be for another, or none), and returns the key.
    #[cold]
    #[inline(never)]
    fn adopt(&self, rank: u64) -> u32 {
        self.rank.store(rank, Relaxed);
        self.cache(rank)
    }
}

/// A [`WorkerLoad`]'s figures that its rank keys are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Figures {
    in_flight: u32,
    cpu: u32,
    error_rate: u32,
    ewma_ns: u64,
    mean_ns: u64,
}

/// The ranks a worker can keep a cached key for, as `u64`s: the kind in the
/// low byte, and for adaptive the four weights, 14 bits each, above it.
mod rank {
    pub(super) const LOAD: u64 = 1;
    pub(super) const MEAN_LATENCY: u64 = 2;
    pub(super) const EWMA_LATENCY: u64 = 3;
    pub(super) const ADAPTIVE: u64 = 4;
    pub(super) const WEIGHT_SHIFT: u32 = 8;
    pub(super) const WEIGHT_MAX: u64 = (1 << 14) - 1;
}

const RANK_KIND: u64 = 0xFF;

/// The tag of a rank in [`WorkerLoad`]'s cached key: never 0, so a worker no
/// strategy has adopted never matches.
fn tag(rank: u64) -> u32 {
    (mix64(rank) >> 32) as u32 | 1
}

/// The error rate above which a worker counts as failing every call but one
/// in a thousand, in adaptive's score.
const MAX_ERROR_RATE: f32 = 0.999;

/// log2 of a positive `x`, piecewise linear between powers of two (exact at
/// them, at most 0.09 off between): monotonic, and a few instructions.
fn log2(x: f32) -> f32 {
    x.to_bits() as f32 * (1.0 / (1u32 << 23) as f32) - 127.0
}

/// The latency a latency-based strategy assumes for a worker: its measured
/// one; for an unmeasured worker 0 while idle (so it gets tried) and
/// [`UNMEASURED_PENALTY`] while its first calls are in flight.
fn assumed_latency(measured_ns: u64, in_flight: u32) -> u64 {
    if measured_ns == 0 && in_flight > 0 {
        UNMEASURED_PENALTY_NS
    } else {
        measured_ns
    }
}

/// Latency × (calls in flight + 1): what a call joining the queue can expect.
fn latency_cost(measured_ns: u64, in_flight: u32) -> f32 {
    // Stored latencies stay below 2^62 ns, so the signed conversion is exact
    // enough and cheaper than the unsigned one.
    assumed_latency(measured_ns, in_flight) as i64 as f32 * (in_flight as f32 + 1.0)
}

// ---------------------------------------------------------------------------
// WorkerSet

/// An immutable snapshot of the workers a pool may pick from, in a stable
/// order, with what the strategies precompute.
///
/// Build one per membership or availability change, not per call: building
/// hashes [`VIRTUAL_NODES`] ring positions per worker and sorts them, and
/// lays out the smooth weighted-round-robin sequence. Ring positions are
/// hashed from the workers' *ids*, so two snapshots with the same ids route
/// keys alike whatever their order.
///
/// ```
/// use std::sync::Arc;
/// use titan_core::pool::{WorkerLoad, WorkerSet};
///
/// let set = WorkerSet::new(vec![Arc::new(WorkerLoad::new(1, 3)), Arc::new(WorkerLoad::new(2, 1))]);
/// assert_eq!((set.len(), set.total_weight()), (2, 4));
/// assert_eq!(set.workers()[1].id(), 2);
/// ```
pub struct WorkerSet {
    workers: Box<[Arc<WorkerLoad>]>,
    /// Running sums of the weights: `cumulative[i]` is the weight of workers `0..=i`.
    cumulative: Box<[u64]>,
    /// One period of the smooth weighted-round-robin order, as indices.
    smooth: Box<[u32]>,
    /// The ring's positions, sorted, and which worker owns each.
    ring_points: Box<[u64]>,
    ring_owners: Box<[u32]>,
}

impl WorkerSet {
    /// A snapshot of `workers`, in that order (which the pick results index).
    ///
    /// Worker ids should be distinct: workers with equal ids share their
    /// ring positions.
    ///
    /// # Panics
    ///
    /// With more than `u32::MAX` workers.
    pub fn new(workers: Vec<Arc<WorkerLoad>>) -> WorkerSet {
        assert!(
            u32::try_from(workers.len()).is_ok(),
            "a pool of more than u32::MAX workers"
        );
        let cumulative = workers
            .iter()
            .scan(0u64, |sum, worker| {
                *sum += u64::from(worker.weight());
                Some(*sum)
            })
            .collect();
        let smooth = smooth_sequence(&workers);
        let (ring_points, ring_owners) = ring(&workers);
        WorkerSet {
            workers: workers.into_boxed_slice(),
            cumulative,
            smooth,
            ring_points,
            ring_owners,
        }
    }

    /// The workers, in the snapshot's order.
    pub fn workers(&self) -> &[Arc<WorkerLoad>] {
        &self.workers
    }

    /// How many workers there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are none (every pick is then `None`).
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The sum of the workers' weights.
    pub fn total_weight(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// The worker owning `key` on the consistent-hash ring.
    fn ring_owner(&self, key: CallKey) -> Option<usize> {
        if self.ring_points.is_empty() {
            return None;
        }
        let hash = mix64(key.0);
        let at = self.ring_points.partition_point(|&point| point < hash);
        let at = if at == self.ring_points.len() { 0 } else { at };
        Some(self.ring_owners[at] as usize)
    }
}

impl Default for WorkerSet {
    /// An empty set.
    fn default() -> WorkerSet {
        WorkerSet::new(Vec::new())
    }
}

impl fmt::Debug for WorkerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerSet")
            .field("workers", &self.workers)
            .field("wrr_period", &self.smooth.len())
            .field("ring_points", &self.ring_points.len())
            .finish()
    }
}

/// The consistent-hash ring: [`VIRTUAL_NODES`] positions per worker, each a
/// SplitMix64 stream seeded by the worker's id, sorted.
fn ring(workers: &[Arc<WorkerLoad>]) -> (Box<[u64]>, Box<[u32]>) {
    let mut points: Vec<(u64, u64, u32)> = Vec::with_capacity(workers.len() * VIRTUAL_NODES);
    for (index, worker) in workers.iter().enumerate() {
        let seed = mix64(worker.id() ^ 0x7269_6E67_5EED_0001);
        for node in 1..=VIRTUAL_NODES as u64 {
            let point = mix64(seed.wrapping_add(node.wrapping_mul(GAMMA)));
            points.push((point, worker.id(), index as u32));
        }
    }
    points.sort_unstable();
    let (points, owners): (Vec<u64>, Vec<u32>) = points
        .into_iter()
        .map(|(point, _, owner)| (point, owner))
        .unzip();
    (points.into_boxed_slice(), owners.into_boxed_slice())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One period of the smooth weighted-round-robin order of `workers`.
///
/// The weights are divided by their gcd (10:2:2 runs like 5:1:1) and, if their
/// sum still exceeds [`MAX_WRR_PERIOD`], scaled down to fit (each kept at
/// least 1). The order is nginx's smooth weighted round-robin started from
/// centred credits (−weight/2 instead of 0), which spreads the heaviest worker
/// across the period's boundary too: 5:1:1 gives `a b a a c a a`, whose
/// longest run of `a`, repeated, is 3, the least any exact order can have,
/// where nginx's `a a b a c a a` repeats into runs of 4.
fn smooth_sequence(workers: &[Arc<WorkerLoad>]) -> Box<[u32]> {
    let mut weights: Vec<u64> = workers.iter().map(|w| u64::from(w.weight())).collect();
    let mut total: u64 = weights.iter().sum();
    if total > MAX_WRR_PERIOD {
        for weight in &mut weights {
            *weight = (u128::from(*weight) * u128::from(MAX_WRR_PERIOD) / u128::from(total)).max(1)
                as u64;
        }
    }
    let divisor = weights.iter().fold(0, |g, &w| gcd(g, w)).max(1);
    for weight in &mut weights {
        *weight /= divisor;
    }
    total = weights.iter().sum();
    smooth(&weights, total, true)
        .or_else(|| smooth(&weights, total, false))
        .unwrap_or_else(|| {
            // Unreachable by nginx's invariant; still exact if it were not.
            (0..weights.len() as u32)
                .flat_map(|i| std::iter::repeat_n(i, weights[i as usize] as usize))
                .collect()
        })
}

/// `total` picks of smooth weighted round-robin, if each worker gets exactly
/// its weight in them. Credits are kept doubled so that the centred start
/// (−weight/2) stays in integers.
fn smooth(weights: &[u64], total: u64, centred: bool) -> Option<Box<[u32]>> {
    let doubled: Vec<i64> = weights.iter().map(|&w| 2 * w as i64).collect();
    let mut credit: Vec<i64> = weights
        .iter()
        .map(|&w| if centred { -(w as i64) } else { 0 })
        .collect();
    let mut counts = vec![0u64; weights.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..credit.len() {
            credit[i] += doubled[i];
            if credit[i] > credit[best] {
                best = i;
            }
        }
        credit[best] -= 2 * total as i64;
        counts[best] += 1;
        order.push(best as u32);
    }
    (counts == weights).then(|| order.into_boxed_slice())
}

// ---------------------------------------------------------------------------
// Balancer

/// Picks a worker for one call. A small trait, so that users can plug in
/// their own with [`Strategy::Custom`].
///
/// ```
/// use std::sync::Arc;
/// use titan_core::CallKey;
/// use titan_core::pool::{Balancer, Strategy, WorkerLoad, WorkerSet};
///
/// /// Always the first worker: a primary with standbys.
/// struct First;
///
/// impl Balancer for First {
///     fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
///         (!workers.is_empty()).then_some(0)
///     }
/// }
///
/// let strategy = Strategy::Custom(Arc::new(First));
/// let set = WorkerSet::new((1..=3).map(|id| Arc::new(WorkerLoad::new(id, 1))).collect());
/// assert_eq!(strategy.balancer().pick(&set, None), Some(0));
/// assert_eq!(strategy.name(), "custom");
/// ```
pub trait Balancer: Send + Sync + 'static {
    /// The index in `workers.workers()` of the worker to call, `key` being
    /// the call's key if it has one. `None` only for an empty set; an index
    /// is always below `workers.len()`.
    ///
    /// Called concurrently from many tasks, on every call: it should neither
    /// block nor allocate.
    fn pick(&self, workers: &WorkerSet, key: Option<CallKey>) -> Option<usize>;
}

/// A lock-free SplitMix64 generator: one atomic add per draw, so a balancer
/// holding one stays `Sync`, and a seeded one is deterministic.
#[derive(Debug)]
struct Rng(AtomicU64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(AtomicU64::new(seed))
    }

    fn next(&self) -> u64 {
        mix64(self.0.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA))
    }

    fn below(&self, n: usize) -> usize {
        below(self.next(), n)
    }
}

/// The index of the worker with the lowest `key`, ties going to the first
/// at or after `start` round the set (so a random `start` breaks them).
///
/// `key` gives each worker's key in the high half of a `u64`; its distance
/// from `start` goes in the low half, and the smallest `u64` wins: no
/// branches, and two running minima so that the comparisons overlap.
fn lowest(workers: &[Arc<WorkerLoad>], start: usize, key: impl Fn(&WorkerLoad) -> u64) -> usize {
    let start = start as u32;
    let (mut even, mut odd) = (u64::MAX, u64::MAX);
    let mut pairs = workers.chunks_exact(2);
    // Index − start, wrapping: the workers before `start` come last.
    let mut distance = 0u32.wrapping_sub(start);
    for pair in &mut pairs {
        even = even.min(key(&pair[0]) | u64::from(distance));
        odd = odd.min(key(&pair[1]) | u64::from(distance.wrapping_add(1)));
        distance = distance.wrapping_add(2);
    }
    if let [last] = pairs.remainder() {
        even = even.min(key(last) | u64::from(distance));
    }
    (even.min(odd) as u32).wrapping_add(start) as usize
}

/// The high half of a `u64` holding `key`.
fn high(key: u32) -> u64 {
    u64::from(key) << 32
}

/// [`lowest`] by the workers' cached keys under `rank`, adopting (and
/// ranking on the spot) any worker whose cached key is for another rank.
fn lowest_ranked(workers: &[Arc<WorkerLoad>], start: usize, rank: u64, tag: u32) -> usize {
    lowest(workers, start, |worker| {
        let ranked = worker.ranked.load(Relaxed);
        if ranked as u32 == tag {
            ranked & !u64::from(u32::MAX)
        } else {
            high(worker.adopt(rank))
        }
    })
}

/// A strategy that picks the lowest key under a rank: least-loaded,
/// least-response-time, latency and adaptive.
#[derive(Debug)]
struct Ranking {
    rank: u64,
    tag: u32,
    rng: Rng,
}

impl Ranking {
    fn new(rank: u64, rng: Rng) -> Ranking {
        Ranking {
            rank,
            tag: tag(rank),
            rng,
        }
    }
}

impl Balancer for Ranking {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        let workers = workers.workers();
        if workers.is_empty() {
            return None;
        }
        let start = self.rng.below(workers.len());
        Some(lowest_ranked(workers, start, self.rank, self.tag))
    }
}

#[derive(Debug)]
struct RoundRobin {
    next: AtomicU64,
}

impl RoundRobin {
    fn new() -> RoundRobin {
        RoundRobin {
            next: AtomicU64::new(0),
        }
    }

    fn index(&self, n: usize) -> Option<usize> {
        if n == 0 {
            return None;
        }
        Some((self.next.fetch_add(1, Relaxed) % n as u64) as usize)
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        self.index(workers.len())
    }
}

#[derive(Debug)]
struct Random(Rng);

impl Balancer for Random {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        (!workers.is_empty()).then(|| self.0.below(workers.len()))
    }
}

#[derive(Debug)]
struct LeastConnections(Rng);

impl Balancer for LeastConnections {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        let workers = workers.workers();
        if workers.is_empty() {
            return None;
        }
        let start = self.0.below(workers.len());
        Some(lowest(workers, start, |worker| high(worker.in_flight())))
    }
}

#[derive(Debug)]
struct WeightedRoundRobin {
    next: AtomicU64,
}

impl Balancer for WeightedRoundRobin {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        let order = &workers.smooth;
        if order.is_empty() {
            return None;
        }
        let ticket = self.next.fetch_add(1, Relaxed);
        Some(order[(ticket % order.len() as u64) as usize] as usize)
    }
}

/// Lamping and Veach's jump consistent hash: a bucket below `buckets`, no
/// modulo, O(log n), and only 1/(n+1) of the keys move when a bucket is added
/// at the end.
fn jump_hash(key: u64, buckets: usize) -> usize {
    let mut key = key;
    let (mut bucket, mut next) = (-1i64, 0i64);
    while next < buckets as i64 {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    bucket as usize
}

#[derive(Debug)]
struct KeyHash(RoundRobin);

impl Balancer for KeyHash {
    fn pick(&self, workers: &WorkerSet, key: Option<CallKey>) -> Option<usize> {
        match key {
            Some(key) if !workers.is_empty() => Some(jump_hash(mix64(key.0), workers.len())),
            _ => self.0.index(workers.len()),
        }
    }
}

#[derive(Debug)]
struct ConsistentHash(RoundRobin);

impl Balancer for ConsistentHash {
    fn pick(&self, workers: &WorkerSet, key: Option<CallKey>) -> Option<usize> {
        match key {
            Some(key) => workers.ring_owner(key),
            None => self.0.index(workers.len()),
        }
    }
}

#[derive(Debug)]
struct WeightedRandom(Rng);

impl Balancer for WeightedRandom {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        let total = workers.total_weight();
        if total == 0 {
            return None;
        }
        let ticket = ((u128::from(self.0.next()) * u128::from(total)) >> 64) as u64;
        Some(workers.cumulative.partition_point(|&sum| sum <= ticket))
    }
}

#[derive(Debug)]
struct PowerOfTwoChoices(Rng);

impl Balancer for PowerOfTwoChoices {
    fn pick(&self, workers: &WorkerSet, _key: Option<CallKey>) -> Option<usize> {
        let workers = workers.workers();
        let n = workers.len();
        if n < 2 {
            return (n == 1).then_some(0);
        }
        let a = self.0.below(n);
        let mut b = self.0.below(n - 1);
        if b >= a {
            b += 1;
        }
        let rank = |i: usize| {
            let worker: &WorkerLoad = &workers[i];
            (worker.in_flight(), worker.ewma_ns.load(Relaxed))
        };
        Some(if rank(b) < rank(a) { b } else { a })
    }
}

// ---------------------------------------------------------------------------
// Strategy

/// How much each factor counts in [`Strategy::Adaptive`]'s score: the
/// weights of the factors' logarithms (the exponents of a weighted geometric
/// mean). Only their proportions matter: they are scaled to sum to 1 (and
/// kept to 14 bits each). Negative or NaN weights count as 0; all zero makes
/// every worker tie.
///
/// The defaults are load 0.3, latency 0.3, errors 0.2, connections 0.2.
/// Latency and connections alone, equally weighted, rank much as
/// [`Strategy::Latency`] does (latency × (1 + calls in flight)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveWeights {
    /// Weight of the load factor, `1 + load` with the load as
    /// [`Strategy::LeastLoaded`] has it. Default 0.3.
    pub load: f64,
    /// Weight of the latency factor, `1 +` the peak-EWMA latency in
    /// nanoseconds ([`WorkerLoad::ewma_latency`]). Default 0.3.
    pub latency: f64,
    /// Weight of the error factor, `1 / (1 − error rate)`, the expected
    /// tries per success ([`WorkerLoad::error_rate`], counted at most 0.999).
    /// Default 0.2.
    pub errors: f64,
    /// Weight of the connections factor, `1 +` the calls in flight.
    /// Default 0.2.
    pub connections: f64,
}

impl Default for AdaptiveWeights {
    fn default() -> AdaptiveWeights {
        AdaptiveWeights {
            load: 0.3,
            latency: 0.3,
            errors: 0.2,
            connections: 0.2,
        }
    }
}

impl AdaptiveWeights {
    /// The adaptive rank: the weights, cleaned and scaled to sum 1, in 14
    /// bits each.
    fn rank(self) -> u64 {
        let clean = |w: f64| if w > 0.0 && w.is_finite() { w } else { 0.0 };
        let weights = [self.load, self.latency, self.errors, self.connections].map(clean);
        let sum: f64 = weights.iter().sum();
        let mut rank = rank::ADAPTIVE;
        for (f, weight) in weights.into_iter().enumerate() {
            let share = if sum > 0.0 { weight / sum } else { 0.0 };
            let quantised = (share * rank::WEIGHT_MAX as f64).round() as u64;
            rank |= quantised << (rank::WEIGHT_SHIFT + 14 * f as u32);
        }
        rank
    }
}

/// How a pool picks the worker for each call.
///
/// "In flight" is a worker's calls begun and not ended
/// ([`WorkerLoad::in_flight`]). Where a strategy picks the lowest of some
/// cost, ties go to the first tied worker from a random starting point, so
/// an idle pool still spreads its calls. The latency-based strategies
/// (least-response-time, latency, adaptive) treat a worker no call has ended
/// on yet as free while it is idle, so a new worker is tried at once, and as
/// taking [`UNMEASURED_PENALTY`] per call while its first calls are in
/// flight, so it is not flooded before it has answered.
///
/// ```
/// use std::sync::Arc;
/// use titan_core::CallKey;
/// use titan_core::pool::{Strategy, WorkerLoad, WorkerSet};
///
/// let set = WorkerSet::new((1..=4).map(|id| Arc::new(WorkerLoad::new(id, 1))).collect());
/// let sticky = Strategy::ConsistentHash.balancer();
/// let key = Some(CallKey::of("user-42"));
/// let first = sticky.pick(&set, key);
/// assert!((0..100).all(|_| sticky.pick(&set, key) == first));
/// assert_eq!(Strategy::default().name(), "round-robin");
/// ```
#[non_exhaustive]
#[derive(Clone, Default)]
pub enum Strategy {
    /// Each worker in turn, in the set's order: one shared counter, so every
    /// `n` consecutive picks (from any number of threads) visit each worker
    /// exactly once. The default.
    #[default]
    RoundRobin,
    /// A uniformly random worker.
    Random,
    /// The lowest load, `(in_flight + cpu_percent / 100) / weight`: calls in
    /// flight per unit of weight, a sampled CPU usage of 100 % counting as
    /// one more call (CPU is 0, so ignored, when unknown). Memory is not a
    /// load: it does not drain when calls go elsewhere.
    LeastLoaded,
    /// The fewest calls in flight, whatever the weights.
    LeastConnections,
    /// Each worker in proportion to its weight, smoothly interleaved: every
    /// window of `W` consecutive picks (`W` the sum of the weights after
    /// dividing them by their gcd) holds exactly each worker's weight, and
    /// the heavy workers' picks are spread (5:1:1 repeats `a b a a c a a`,
    /// never `a a a a a b c`). nginx's smooth weighted round-robin, with
    /// credits started at −weight/2; precomputed per [`WorkerSet`] (weights
    /// summing past [`MAX_WRR_PERIOD`] are scaled down to fit) and indexed
    /// by one shared counter, so it stays exact under concurrent picks.
    WeightedRoundRobin,
    /// The lowest mean latency × (in flight + 1), the mean being over the
    /// worker's every call ([`WorkerLoad::mean_latency`]).
    LeastResponseTime,
    /// The lowest peak-EWMA latency × (in flight + 1)
    /// ([`WorkerLoad::ewma_latency`], which jumps to a slower call at once
    /// and decays towards faster ones by 1/8 per call): the cost of
    /// Finagle's and Linkerd's peak-EWMA balancers, decaying per call rather
    /// than over time.
    Latency,
    /// Sticky by the call's key: Lamping–Veach jump consistent hash of the
    /// key over the set's positions, so a key keeps its worker while the set
    /// is unchanged (or rebuilt equal), and only 1/(n+1) of the keys move
    /// when a worker is appended; a change in the middle of the order moves
    /// more (use `ConsistentHash` for that). Weights are not considered. A
    /// call without a key is picked round-robin.
    KeyHash,
    /// Sticky by the call's key on a hash ring of [`VIRTUAL_NODES`] positions
    /// per worker, hashed from the worker's id: a worker that joins only
    /// takes keys (about 1/n of them) and one that leaves only gives its own
    /// away, wherever it sits in the order. Weights are not considered. A
    /// call without a key is picked round-robin.
    ConsistentHash,
    /// A random worker with probability weight / total weight.
    WeightedRandom,
    /// The lowest weighted score of four factors, each at least 1: load
    /// (`1 +` least-loaded's load), latency (`1 +` peak-EWMA nanoseconds, an
    /// unmeasured worker's taken as above), errors (`1 / (1 − error rate)`)
    /// and connections (`1 +` calls in flight). The score is `Σ weight × log2(factor)` with the
    /// [`AdaptiveWeights`] (log2 approximated piecewise-linearly): taking
    /// logarithms is the normalisation, since dividing a factor by any
    /// common scale (the set's largest, its mean) shifts every worker's
    /// score alike and leaves the order unchanged. So the factors need no
    /// pass to find their scale, and each worker's score is kept up to date
    /// by its own calls.
    Adaptive(AdaptiveWeights),
    /// Two distinct random workers; the one with fewer calls in flight wins,
    /// a tie going to the lower peak-EWMA latency (an unmeasured worker's
    /// being 0).
    PowerOfTwoChoices,
    /// A balancer of the user's own.
    Custom(Arc<dyn Balancer>),
}

impl fmt::Debug for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::RoundRobin => f.write_str("RoundRobin"),
            Strategy::Random => f.write_str("Random"),
            Strategy::LeastLoaded => f.write_str("LeastLoaded"),
            Strategy::LeastConnections => f.write_str("LeastConnections"),
            Strategy::WeightedRoundRobin => f.write_str("WeightedRoundRobin"),
            Strategy::LeastResponseTime => f.write_str("LeastResponseTime"),
            Strategy::Latency => f.write_str("Latency"),
            Strategy::KeyHash => f.write_str("KeyHash"),
            Strategy::ConsistentHash => f.write_str("ConsistentHash"),
            Strategy::WeightedRandom => f.write_str("WeightedRandom"),
            Strategy::Adaptive(weights) => f.debug_tuple("Adaptive").field(weights).finish(),
            Strategy::PowerOfTwoChoices => f.write_str("PowerOfTwoChoices"),
            Strategy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Strategy {
    /// A balancer following this strategy, its random choices seeded from
    /// the OS's randomness. Make one per pool and share it: it holds the
    /// strategy's counters. For `Custom`, the user's balancer itself.
    pub fn balancer(&self) -> Arc<dyn Balancer> {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(GAMMA);
        self.seeded_balancer(seed)
    }

    /// A balancer whose random choices (random, weighted-random,
    /// power-of-two-choices and the tie-breaks) follow `seed`: picks made one
    /// after another on the same figures repeat from run to run. For tests.
    pub fn seeded_balancer(&self, seed: u64) -> Arc<dyn Balancer> {
        let rng = || Rng::new(seed);
        match self {
            Strategy::RoundRobin => Arc::new(RoundRobin::new()),
            Strategy::Random => Arc::new(Random(rng())),
            Strategy::LeastLoaded => Arc::new(Ranking::new(rank::LOAD, rng())),
            Strategy::LeastConnections => Arc::new(LeastConnections(rng())),
            Strategy::WeightedRoundRobin => Arc::new(WeightedRoundRobin {
                next: AtomicU64::new(0),
            }),
            Strategy::LeastResponseTime => Arc::new(Ranking::new(rank::MEAN_LATENCY, rng())),
            Strategy::Latency => Arc::new(Ranking::new(rank::EWMA_LATENCY, rng())),
            Strategy::KeyHash => Arc::new(KeyHash(RoundRobin::new())),
            Strategy::ConsistentHash => Arc::new(ConsistentHash(RoundRobin::new())),
            Strategy::WeightedRandom => Arc::new(WeightedRandom(rng())),
            Strategy::Adaptive(weights) => Arc::new(Ranking::new(weights.rank(), rng())),
            Strategy::PowerOfTwoChoices => Arc::new(PowerOfTwoChoices(rng())),
            Strategy::Custom(balancer) => Arc::clone(balancer),
        }
    }

    /// The strategy's name in kebab case: `round-robin`, `random`,
    /// `least-loaded`, `least-connections`, `weighted-round-robin`,
    /// `least-response-time`, `latency`, `key-hash`, `consistent-hash`,
    /// `weighted-random`, `adaptive`, `power-of-two-choices`, `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::Random => "random",
            Strategy::LeastLoaded => "least-loaded",
            Strategy::LeastConnections => "least-connections",
            Strategy::WeightedRoundRobin => "weighted-round-robin",
            Strategy::LeastResponseTime => "least-response-time",
            Strategy::Latency => "latency",
            Strategy::KeyHash => "key-hash",
            Strategy::ConsistentHash => "consistent-hash",
            Strategy::WeightedRandom => "weighted-random",
            Strategy::Adaptive(_) => "adaptive",
            Strategy::PowerOfTwoChoices => "power-of-two-choices",
            Strategy::Custom(_) => "custom",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    const MS: Duration = Duration::from_millis(1);

    fn loads(weights: &[u32]) -> Vec<Arc<WorkerLoad>> {
        weights
            .iter()
            .zip(1..)
            .map(|(&weight, id)| Arc::new(WorkerLoad::new(id, weight)))
            .collect()
    }

    fn pick(balancer: &dyn Balancer, set: &WorkerSet, key: Option<CallKey>) -> usize {
        balancer.pick(set, key).expect("a worker")
    }

    fn set_of(n: usize) -> WorkerSet {
        WorkerSet::new(loads(&vec![1; n]))
    }

    fn counts(picks: impl IntoIterator<Item = usize>, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for pick in picks {
            counts[pick] += 1;
        }
        counts
    }

    /// Every strategy, one of each (with a custom one).
    fn every_strategy() -> Vec<Strategy> {
        struct Last;
        impl Balancer for Last {
            fn pick(&self, workers: &WorkerSet, _: Option<CallKey>) -> Option<usize> {
                workers.len().checked_sub(1)
            }
        }
        vec![
            Strategy::RoundRobin,
            Strategy::Random,
            Strategy::LeastLoaded,
            Strategy::LeastConnections,
            Strategy::WeightedRoundRobin,
            Strategy::LeastResponseTime,
            Strategy::Latency,
            Strategy::KeyHash,
            Strategy::ConsistentHash,
            Strategy::WeightedRandom,
            Strategy::Adaptive(AdaptiveWeights::default()),
            Strategy::PowerOfTwoChoices,
            Strategy::Custom(Arc::new(Last)),
        ]
    }

    /// Closed-loop calls in virtual time: `concurrency` callers, each picking
    /// a worker, beginning the call, and ending it `latency[worker]` later,
    /// until `calls` calls were made. How many each worker got.
    fn simulate(
        balancer: &dyn Balancer,
        set: &WorkerSet,
        latency: &[Duration],
        calls: usize,
        concurrency: usize,
    ) -> Vec<usize> {
        let mut got = vec![0; set.len()];
        let mut pending = BinaryHeap::new();
        let mut made = 0;
        let mut call = |now: Duration, pending: &mut BinaryHeap<_>| {
            let i = pick(balancer, set, None);
            got[i] += 1;
            set.workers()[i].begin();
            pending.push(Reverse((now + latency[i], i)));
        };
        while made < concurrency.min(calls) {
            call(Duration::ZERO, &mut pending);
            made += 1;
        }
        while let Some(Reverse((now, i))) = pending.pop() {
            set.workers()[i].end(latency[i], true);
            if made < calls {
                call(now, &mut pending);
                made += 1;
            }
        }
        got
    }

    /// Four workers, worker 1 taking 50 ms a call and the others about 1 ms,
    /// each warmed up with 20 recorded calls.
    fn one_slow_worker() -> (WorkerSet, Vec<Duration>) {
        let set = set_of(4);
        let latency = vec![MS, 50 * MS, MS * 11 / 10, MS * 9 / 10];
        for (worker, &latency) in set.workers().iter().zip(&latency) {
            for _ in 0..20 {
                worker.begin();
                worker.end(latency, true);
            }
        }
        (set, latency)
    }

    /// Under `strategy`, fewer than 10 % of 10,000 calls go to the slow
    /// worker, one call at a time and with 8 at a time.
    fn avoids_the_slow_worker(strategy: Strategy) {
        for concurrency in [1, 8] {
            let (set, latency) = one_slow_worker();
            let balancer = strategy.seeded_balancer(7);
            let got = simulate(&*balancer, &set, &latency, 10_000, concurrency);
            assert!(
                got[1] < 1_000,
                "{} at concurrency {concurrency}: {got:?}",
                strategy.name()
            );
            assert_eq!(got.iter().sum::<usize>(), 10_000);
        }
    }

    #[test]
    fn round_robin_gives_each_worker_exactly_its_turn() {
        let set = set_of(4);
        let balancer = Strategy::RoundRobin.balancer();
        let picks: Vec<usize> = (0..400).map(|_| pick(&*balancer, &set, None)).collect();
        assert_eq!(counts(picks.iter().copied(), 4), [100; 4]);
        assert!(picks.windows(2).all(|w| w[1] == (w[0] + 1) % 4));
    }

    #[test]
    fn weighted_round_robin_is_exact_in_every_window_and_smooth() {
        let set = WorkerSet::new(loads(&[5, 1, 1]));
        let balancer = Strategy::WeightedRoundRobin.balancer();
        let picks: Vec<usize> = (0..7 * 100).map(|_| pick(&*balancer, &set, None)).collect();
        for window in picks.windows(7) {
            assert_eq!(counts(window.iter().copied(), 3), [5, 1, 1], "{window:?}");
        }
        // Seven picks holding five of `a` always hold a run of three once
        // repeated; this order never has more (`a a a a a b c` has five,
        // nginx's `a a b a c a a` four), and the light ones never meet.
        let longest = picks
            .chunk_by(|a, b| a == b)
            .filter(|run| run[0] == 0)
            .map(<[usize]>::len)
            .max();
        assert_eq!(longest, Some(3), "{:?}", &picks[..14]);
        assert_eq!(picks[..7], [0, 1, 0, 0, 2, 0, 0]);
        assert!(picks.windows(2).all(|w| w[0] == 0 || w[1] == 0));
        // The same for weights with a common factor.
        let set = WorkerSet::new(loads(&[10, 2, 2]));
        assert_eq!(set.smooth.len(), 7);
    }

    #[test]
    fn weighted_round_robin_stays_exact_under_concurrent_picks() {
        let set = WorkerSet::new(loads(&[5, 1, 1]));
        let balancer = Strategy::WeightedRoundRobin.balancer();
        let got: Vec<usize> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        (0..7_000)
                            .map(|_| pick(&*balancer, &set, None))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|thread| thread.join().expect("the picks"))
                .collect()
        });
        assert_eq!(counts(got, 3), [20_000, 4_000, 4_000]);
    }

    #[test]
    fn weighted_round_robin_orders_are_exact_for_any_weights() {
        let random = Rng::new(3);
        for _ in 0..200 {
            let n = 1 + random.below(8);
            let weights: Vec<u32> = (0..n).map(|_| 1 + random.below(20) as u32).collect();
            let set = WorkerSet::new(loads(&weights));
            let divisor = weights.iter().fold(0, |g, &w| gcd(g, u64::from(w)));
            let expected: Vec<usize> = weights
                .iter()
                .map(|&w| (u64::from(w) / divisor) as usize)
                .collect();
            let order = set.smooth.iter().map(|&i| i as usize);
            assert_eq!(counts(order, n), expected, "{weights:?}");
        }
        // Huge weights are scaled down, in proportion.
        let set = WorkerSet::new(loads(&[3_000_000, 1_000_000, 7]));
        assert!(set.smooth.len() as u64 <= MAX_WRR_PERIOD + 3);
        let got = counts(set.smooth.iter().map(|&i| i as usize), 3);
        assert!(
            (got[0] as f64 / got[1] as f64 - 3.0).abs() < 0.01,
            "{got:?}"
        );
        assert_eq!(got[2], 1);
    }

    #[test]
    fn least_connections_avoids_a_worker_with_a_stuck_call() {
        let set = set_of(4);
        set.workers()[2].begin(); // never ends
        let balancer = Strategy::LeastConnections.seeded_balancer(1);
        let got = simulate(&*balancer, &set, &[MS; 4], 1_000, 1);
        assert_eq!(got[2], 0, "{got:?}");
        assert!(
            got.iter().enumerate().all(|(i, &n)| i == 2 || n > 200),
            "{got:?}"
        );
        // With three calls at a time, the other three carry one each.
        let got = simulate(&*balancer, &set, &[MS; 4], 1_000, 3);
        assert_eq!(got[2], 0, "{got:?}");
    }

    /// The id of the worker each of 10,000 keys goes to.
    fn owners(set: &WorkerSet, balancer: &dyn Balancer) -> Vec<u64> {
        (0..10_000u32)
            .map(|key| {
                let i = pick(balancer, set, Some(CallKey::of(&key)));
                set.workers()[i].id()
            })
            .collect()
    }

    #[test]
    fn consistent_hash_moves_only_keys_onto_a_new_worker() {
        let balancer = Strategy::ConsistentHash.balancer();
        let eight = loads(&[1; 8]);
        let before = owners(&WorkerSet::new(eight.clone()), &*balancer);
        let spread = counts(before.iter().map(|&id| id as usize - 1), 8);
        assert!(spread.iter().all(|&n| n > 800 && n < 1_700), "{spread:?}");
        // The ninth joins in the middle of the order: positions do not matter.
        let mut nine = eight.clone();
        nine.insert(3, Arc::new(WorkerLoad::new(9, 1)));
        let after = owners(&WorkerSet::new(nine), &*balancer);
        let moved: Vec<(u64, u64)> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(&a, &b)| (a, b))
            .collect();
        assert!(moved.iter().all(|&(_, to)| to == 9), "{:?}", &moved[..5]);
        assert!(moved.len() <= 2 * 10_000 / 9, "{} moved", moved.len());
        assert!(moved.len() >= 10_000 / 9 / 2, "{} moved", moved.len());
    }

    #[test]
    fn consistent_hash_removal_moves_only_the_removed_workers_keys() {
        let balancer = Strategy::ConsistentHash.balancer();
        let eight = loads(&[1; 8]);
        let before = owners(&WorkerSet::new(eight.clone()), &*balancer);
        let seven: Vec<_> = eight.into_iter().filter(|w| w.id() != 4).collect();
        let after = owners(&WorkerSet::new(seven), &*balancer);
        for (&a, &b) in before.iter().zip(&after) {
            if a == 4 {
                assert_ne!(b, 4);
            } else {
                assert_eq!(a, b);
            }
        }
        assert!(before.contains(&4));
    }

    #[test]
    fn key_hash_is_sticky() {
        let workers = loads(&[1; 8]);
        let set = WorkerSet::new(workers.clone());
        let balancer = Strategy::KeyHash.balancer();
        let keys: Vec<CallKey> = (0..50u32).map(|k| CallKey::of(&k)).collect();
        let first: Vec<usize> = keys
            .iter()
            .map(|&k| pick(&*balancer, &set, Some(k)))
            .collect();
        // The keys do spread.
        assert!(
            counts(first.iter().copied(), 8).iter().all(|&n| n > 0),
            "{first:?}"
        );
        // 1,000 picks, keys interleaved, on the set and on an equal rebuilt one.
        let rebuilt = WorkerSet::new(workers);
        for round in 0..20 {
            let set = if round % 2 == 0 { &set } else { &rebuilt };
            for (key, &expected) in keys.iter().zip(&first) {
                assert_eq!(balancer.pick(set, Some(*key)), Some(expected));
            }
        }
        // Another balancer agrees, and a key-less call goes round-robin.
        let other = Strategy::KeyHash.balancer();
        assert_eq!(other.pick(&set, Some(keys[0])), Some(first[0]));
        let keyless = (0..80).map(|_| pick(&*other, &set, None));
        assert_eq!(counts(keyless, 8), [10; 8]);
        let consistent = Strategy::ConsistentHash.balancer();
        let keyless = (0..80).map(|_| pick(&*consistent, &set, None));
        assert_eq!(counts(keyless, 8), [10; 8]);
    }

    #[test]
    fn weighted_random_follows_the_weights() {
        let set = WorkerSet::new(loads(&[5, 3, 2]));
        // 10,000 seeded picks (what the issue asks for), and many more.
        for picks in [10_000, 40_000] {
            let balancer = Strategy::WeightedRandom.seeded_balancer(42);
            let got = counts((0..picks).map(|_| pick(&*balancer, &set, None)), 3);
            for (&n, share) in got.iter().zip([0.5, 0.3, 0.2]) {
                let expected = share * picks as f64;
                assert!(
                    (n as f64 - expected).abs() < 0.05 * expected,
                    "{picks}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn random_is_roughly_uniform_and_seeded_random_repeats() {
        let set = set_of(4);
        let balancer = Strategy::Random.seeded_balancer(9);
        let got = counts((0..40_000).map(|_| pick(&*balancer, &set, None)), 4);
        assert!(got.iter().all(|&n| n.abs_diff(10_000) < 500), "{got:?}");
        for strategy in [
            Strategy::Random,
            Strategy::WeightedRandom,
            Strategy::PowerOfTwoChoices,
        ] {
            let (a, b) = (strategy.seeded_balancer(5), strategy.seeded_balancer(5));
            let a: Vec<_> = (0..100).map(|_| a.pick(&set, None)).collect();
            let b: Vec<_> = (0..100).map(|_| b.pick(&set, None)).collect();
            assert_eq!(a, b, "{}", strategy.name());
            assert!(a.iter().any(|&i| i != a[0]), "{}", strategy.name());
        }
    }

    #[test]
    fn latency_avoids_the_slow_worker() {
        avoids_the_slow_worker(Strategy::Latency);
    }

    #[test]
    fn power_of_two_choices_avoids_the_slow_worker() {
        avoids_the_slow_worker(Strategy::PowerOfTwoChoices);
    }

    #[test]
    fn adaptive_avoids_the_slow_worker() {
        avoids_the_slow_worker(Strategy::Adaptive(AdaptiveWeights::default()));
    }

    #[test]
    fn least_response_time_avoids_the_slow_worker() {
        avoids_the_slow_worker(Strategy::LeastResponseTime);
    }

    #[test]
    fn round_robin_does_not_avoid_the_slow_worker() {
        // The simulation can tell: a strategy blind to latency sends a quarter.
        let (set, latency) = one_slow_worker();
        let balancer = Strategy::RoundRobin.balancer();
        let got = simulate(&*balancer, &set, &latency, 10_000, 1);
        assert_eq!(got[1], 2_500);
    }

    #[test]
    fn least_loaded_avoids_the_loaded_worker() {
        let set = set_of(4);
        for (i, worker) in set.workers().iter().enumerate() {
            worker.set_usage(if i == 1 { 90.0 } else { 10.0 }, 1 << 20);
        }
        let balancer = Strategy::LeastLoaded.seeded_balancer(3);
        let got = simulate(&*balancer, &set, &[MS; 4], 10_000, 1);
        assert!(got[1] < 1_000, "{got:?}");
        // Calls in flight count too, divided by the weight.
        let set = WorkerSet::new(loads(&[1, 1, 4]));
        set.workers()[2].begin();
        set.workers()[2].begin();
        set.workers()[0].begin();
        // Loads 1/1, 0/1 and 2/4: the idle worker, then the weighty one.
        assert_eq!(balancer.pick(&set, None), Some(1));
        set.workers()[1].begin();
        assert_eq!(balancer.pick(&set, None), Some(2));
    }

    #[test]
    fn latency_tries_an_unmeasured_worker_but_does_not_flood_it() {
        for strategy in [
            Strategy::Latency,
            Strategy::LeastResponseTime,
            Strategy::Adaptive(AdaptiveWeights::default()),
        ] {
            let (set, _) = one_slow_worker();
            let mut workers = set.workers().to_vec();
            workers.push(Arc::new(WorkerLoad::new(5, 1)));
            let set = WorkerSet::new(workers);
            let balancer = strategy.seeded_balancer(11);
            assert_eq!(balancer.pick(&set, None), Some(4), "{}", strategy.name());
            set.workers()[4].begin(); // its first call, not back yet
            for _ in 0..100 {
                let i = pick(&*balancer, &set, None);
                assert!(i != 4 && i != 1, "{}: {i}", strategy.name());
            }
        }
    }

    #[test]
    fn adaptive_avoids_a_failing_worker_and_forgives_it() {
        let set = set_of(4);
        for worker in set.workers() {
            for _ in 0..20 {
                worker.begin();
                worker.end(MS, true);
            }
        }
        for _ in 0..10 {
            set.workers()[3].end(MS, false);
        }
        assert!(set.workers()[3].error_rate() > 0.4);
        let balancer = Strategy::Adaptive(AdaptiveWeights::default()).seeded_balancer(2);
        let got = simulate(&*balancer, &set, &[MS; 4], 1_000, 1);
        assert_eq!(got[3], 0, "{got:?}");
        // Successful calls (health probes, calls when the others are busy)
        // wear the error rate down to nothing.
        for _ in 0..300 {
            set.workers()[3].end(MS, true);
        }
        assert_eq!(set.workers()[3].error_rate(), 0.0);
        let got = simulate(&*balancer, &set, &[MS; 4], 1_000, 1);
        assert!(got[3] > 100, "{got:?}");
    }

    #[test]
    fn ranking_strategies_sharing_workers_each_rank_by_their_own_rule() {
        // Worker 0 is busy on the CPU but fast, worker 1 idle but slow.
        let set = set_of(2);
        set.workers()[0].set_usage(95.0, 0);
        set.workers()[0].end(MS, true);
        set.workers()[1].end(50 * MS, true);
        let least_loaded = Strategy::LeastLoaded.seeded_balancer(1);
        let latency = Strategy::Latency.seeded_balancer(1);
        for _ in 0..10 {
            assert_eq!(least_loaded.pick(&set, None), Some(1));
            assert_eq!(latency.pick(&set, None), Some(0));
        }
        // And the rank the workers keep follows changes made after a pick.
        set.workers()[1].set_usage(99.0, 0);
        set.workers()[1].begin();
        assert_eq!(least_loaded.pick(&set, None), Some(0));
    }

    #[test]
    fn cached_ranks_settle_on_the_figures_after_concurrent_calls() {
        // Two workers, so that the threads often race on one.
        let set = set_of(2);
        let balancer = Strategy::Adaptive(AdaptiveWeights::default()).seeded_balancer(4);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let (set, balancer) = (&set, &balancer);
                scope.spawn(move || {
                    for call in 0..20_000u64 {
                        let i = pick(&**balancer, set, None);
                        let worker = &set.workers()[i];
                        worker.begin();
                        worker.set_usage((call % 100) as f32, 0);
                        let latency = Duration::from_micros(10 + (call * 7 + thread) % 500);
                        worker.end(latency, call % 17 != 0);
                    }
                });
            }
        });
        let rank = AdaptiveWeights::default().rank();
        for worker in set.workers() {
            assert_eq!(worker.in_flight(), 0);
            let ranked = worker.ranked.load(Relaxed);
            assert_eq!(ranked as u32, tag(rank));
            assert_eq!((ranked >> 32) as u32, worker.key(&worker.figures(), rank));
        }
    }

    #[test]
    fn an_empty_set_gives_none_and_a_single_worker_index_zero() {
        let empty = WorkerSet::default();
        let one = set_of(1);
        for strategy in every_strategy() {
            let balancer = strategy.seeded_balancer(1);
            for key in [None, Some(CallKey(17))] {
                assert_eq!(balancer.pick(&empty, key), None, "{}", strategy.name());
                for _ in 0..10 {
                    assert_eq!(balancer.pick(&one, key), Some(0), "{}", strategy.name());
                }
            }
            one.workers()[0].begin();
        }
    }

    #[test]
    fn every_pick_is_in_range() {
        let set = WorkerSet::new(loads(&[1, 2, 3, 4, 5, 6, 7]));
        for strategy in every_strategy() {
            let balancer = strategy.balancer();
            for key in 0..500 {
                let i = balancer.pick(&set, (key % 2 == 0).then_some(CallKey(key)));
                assert!(i.is_some_and(|i| i < set.len()), "{}", strategy.name());
            }
        }
    }

    #[test]
    fn worker_load_keeps_its_figures() {
        let load = WorkerLoad::new(3, 0);
        assert_eq!(
            (load.id(), load.weight(), load.is_measured()),
            (3, 1, false)
        );
        load.end(MS, true); // an end without a begin does not go below zero
        assert_eq!(load.in_flight(), 0);
        load.begin();
        load.begin();
        assert_eq!(load.in_flight(), 2);
        load.end(3 * MS, false);
        load.end(2 * MS, true);
        assert_eq!((load.requests(), load.errors()), (3, 1));
        assert_eq!(load.mean_latency(), 2 * MS);
        // Peak: a slower call lifts the EWMA at once; faster ones pull it down slowly.
        load.end(10 * MS, true);
        assert_eq!(load.ewma_latency(), 10 * MS);
        load.end(2 * MS, true);
        assert_eq!(load.ewma_latency(), 9 * MS);
        for _ in 0..200 {
            load.end(2 * MS, true);
        }
        assert_eq!(load.ewma_latency(), 2 * MS);
        load.set_usage(37.5, 1_000);
        assert_eq!((load.cpu_percent(), load.memory_bytes()), (37.5, 1_000));
        load.set_usage(f32::NAN, 0);
        assert_eq!(load.cpu_percent(), 0.0);
    }

    #[test]
    fn strategies_have_names_and_debug() {
        let names: Vec<&str> = every_strategy().iter().map(Strategy::name).collect();
        let distinct: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert_eq!(format!("{:?}", Strategy::default()), "RoundRobin");
        assert!(format!("{:?}", every_strategy()).contains("Custom(..)"));
        let custom = every_strategy().pop().expect("a custom one");
        let set = set_of(3);
        assert_eq!(custom.balancer().pick(&set, None), Some(2));
    }
}
