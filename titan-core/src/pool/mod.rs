//! Pools: several instances of one process type behind one proxy.
//!
//! [`ProcessManager::pool`](crate::ProcessManager::pool) spawns `n` workers of
//! a process type, each its own instance with its own state (and, with
//! [`Isolation::Child`](crate::Isolation::Child), its own OS process), and
//! returns the type's ordinary proxy, whose calls a [`Strategy`] spreads over
//! the workers, plus a [`PoolHandle`] to watch and steer the pool.
//!
//! ```
//! use titan_core::prelude::*;
//! use titan_core::pool::{Pool, Strategy};
//!
//! #[derive(Default)]
//! struct Counter { calls: std::sync::atomic::AtomicU64 }
//!
//! #[process]
//! impl Counter {
//!     #[public]
//!     async fn hit(&self) -> u64 { self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let pm = ProcessManager::new();
//! let (counter, pool) = pm.pool::<Counter>(Pool::new(4).strategy(Strategy::RoundRobin)).await?;
//! // Round-robin over 4 workers, each with its own state: every one counts to 2.
//! let mut counts = Vec::new();
//! for _ in 0..8 {
//!     counts.push(counter.hit().await?);
//! }
//! assert_eq!(counts, [1, 1, 1, 1, 2, 2, 2, 2]);
//! assert_eq!(pool.size(), 4);
//! assert_eq!(pool.metrics().total.calls, 8);
//! pool.scale(2).await?;
//! assert_eq!(pool.size(), 2);
//! pm.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Which worker gets a call
//!
//! Only workers that are *available* are picked: running, ready (no failing
//! readiness or liveness check, startup checks passed) and with their circuit
//! closed (a worker whose calls failed `failures` times in a row gets none
//! for `open_for`, then one to try it again). When fewer than
//! [`Pool::panic_threshold`] of the workers are available, the pool enters
//! *panic mode*, as Envoy does: it spreads calls over every running worker
//! rather than overloading the few healthy ones.
//!
//! The hashing strategies route by the call's key: the argument a process
//! marks `#[key]`, or a key the caller sets with
//! [`Proxy::with_key`] (which wins). A call without
//! a key goes round-robin.
//!
//! # Recycling, reloading, scaling
//!
//! Workers are recycled after `max_requests` calls or `max_lifetime`, or when
//! a child passes `max_memory` ([`SpawnOptions`]):
//! a fresh instance starts, passes its startup and readiness checks, takes
//! the calls, and only then does the old one drain, so no call fails.
//! [`PoolHandle::reload`] does the same to every worker, one at a time.
//! [`PoolHandle::scale`] resizes the pool; [`AutoScale`] does it by load.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::caller::{Caller, Client, Request, Response};
use crate::error::Error;
use crate::events::{EventKind, Events};
use crate::health::{HealthReport, HealthStatus};
use crate::lifecycle::{Managed, ManagedCaller};
use crate::manager::{Membership, ProcessId, ProcessManager, Recipe, SpawnOptions};
use crate::metrics::Metrics;
use crate::process::{Process, Proxy};

mod balance;
mod scaling;

pub use balance::*;
pub use scaling::AutoScale;

/// The id of a pool within its [`ProcessManager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId(pub u64);

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pool-{}", self.0)
    }
}

/// How many workers a pool starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolSize {
    /// This many.
    Fixed(usize),
    /// One per CPU core this process may use.
    Auto,
}

impl PoolSize {
    fn resolve(self) -> usize {
        match self {
            PoolSize::Fixed(n) => n,
            PoolSize::Auto => std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// How to build a pool: its size, strategy, scaling and each worker's
/// [`SpawnOptions`] (isolation, config, restart policy, recycling limits).
///
/// `C` is the workers' `#[init]` config type, as for [`SpawnOptions`].
#[derive(Debug, Clone)]
pub struct Pool<C = ()> {
    size: PoolSize,
    strategy: Strategy,
    spawn: SpawnOptions<C>,
    weights: Vec<u32>,
    autoscale: Option<AutoScale>,
    panic_threshold: f64,
    circuit_failures: u32,
    circuit_open_for: Duration,
}

impl Pool<()> {
    /// A pool of `n` local workers, round-robin.
    pub fn new(n: usize) -> Pool<()> {
        Pool::sized(PoolSize::Fixed(n))
    }

    /// A pool with one worker per CPU core.
    pub fn auto() -> Pool<()> {
        Pool::sized(PoolSize::Auto)
    }

    fn sized(size: PoolSize) -> Pool<()> {
        Pool {
            size,
            strategy: Strategy::default(),
            spawn: SpawnOptions::new(),
            weights: Vec::new(),
            autoscale: None,
            panic_threshold: 0.5,
            circuit_failures: 5,
            circuit_open_for: Duration::from_secs(10),
        }
    }
}

impl<C> Pool<C> {
    /// How calls are spread over the workers. Default round-robin.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// How each worker is spawned: isolation, config, restart policy,
    /// `max_requests`, `max_lifetime`, `max_memory`, call timeout.
    pub fn spawn_options<D>(self, spawn: SpawnOptions<D>) -> Pool<D> {
        Pool {
            size: self.size,
            strategy: self.strategy,
            spawn,
            weights: self.weights,
            autoscale: self.autoscale,
            panic_threshold: self.panic_threshold,
            circuit_failures: self.circuit_failures,
            circuit_open_for: self.circuit_open_for,
        }
    }

    /// The weights of the first workers, in order, for the weighted
    /// strategies; a worker without one weighs 1.
    pub fn weights(mut self, weights: impl IntoIterator<Item = u32>) -> Self {
        self.weights = weights.into_iter().map(|w| w.max(1)).collect();
        self
    }

    /// Grows and shrinks the pool with its load.
    pub fn autoscale(mut self, autoscale: AutoScale) -> Self {
        self.autoscale = Some(autoscale);
        self
    }

    /// Below this share of available workers (default 0.5), calls are
    /// spread over every running worker (panic mode).
    pub fn panic_threshold(mut self, share: f64) -> Self {
        self.panic_threshold = share.clamp(0.0, 1.0);
        self
    }

    /// A worker whose calls fail `failures` times in a row (default 5) gets
    /// no calls for `open_for` (default 10 s), then one to try it again.
    pub fn circuit_breaker(mut self, failures: u32, open_for: Duration) -> Self {
        self.circuit_failures = failures.max(1);
        self.circuit_open_for = open_for;
        self
    }
}

/// One worker of a pool.
struct Worker {
    slot: Arc<Managed>,
    client: Client,
    load: Arc<WorkerLoad>,
    circuit: Circuit,
}

/// A worker's circuit breaker: open after `failures` in a row, for `open_for`.
struct Circuit {
    failures: AtomicU32,
    open: AtomicBool,
}

/// What the pool picks from: a snapshot taken when its workers change.
struct Snapshot {
    version: u64,
    set: WorkerSet,
    workers: Vec<Arc<Worker>>,
}

pub(crate) struct PoolInner {
    id: PoolId,
    pm: ProcessManager,
    recipe: Recipe,
    balancer: Arc<dyn Balancer>,
    workers: RwLock<Vec<Arc<Worker>>>,
    /// Bumped by any change that may alter which workers can be picked.
    changes: Arc<AtomicU64>,
    snapshot: RwLock<Arc<Snapshot>>,
    panic_threshold: f64,
    circuit_failures: u32,
    circuit_open_for: Duration,
    in_panic: AtomicBool,
    /// Serialises resizing and reloading.
    resizing: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    next_weight: Mutex<std::vec::IntoIter<u32>>,
}

/// Watches and steers a pool: its size, health, metrics and events.
/// Cheap to clone.
#[derive(Clone)]
pub struct PoolHandle {
    inner: Arc<PoolInner>,
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolHandle")
            .field("id", &self.inner.id)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

/// The health of a pool's workers.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolHealth {
    /// Workers in the pool.
    pub total: usize,
    /// Workers running and not unhealthy.
    pub healthy: usize,
    /// Workers that get calls: running, ready, circuit closed.
    pub available: usize,
    /// Whether calls are spread over every running worker because too few
    /// are available.
    pub panic_mode: bool,
    /// Each worker's health, by id.
    pub workers: Vec<(ProcessId, HealthReport)>,
}

/// A pool's metrics: the total, with latency histograms merged exactly
/// (not averaged), and each worker's.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    /// Every worker's calls together.
    pub total: Metrics,
    /// Each worker's own, by id.
    pub workers: Vec<(ProcessId, Metrics)>,
}

impl ProcessManager {
    /// Spawns a pool of `T` workers; returns `T`'s ordinary proxy, whose calls
    /// are spread over the workers, and a handle on the pool.
    ///
    /// See [the `pool` module](crate::pool) for how workers are picked,
    /// recycled and scaled.
    pub async fn pool<T: Process>(
        &self,
        pool: Pool<T::Config>,
    ) -> Result<(T::Proxy, PoolHandle), Error> {
        let recipe = self.recipe::<T>(&pool.spawn)?;
        let id = PoolId(self.next_pool_id());
        let size = match &pool.autoscale {
            Some(scale) => pool
                .size
                .resolve()
                .clamp(scale.min, scale.max.max(scale.min)),
            None => pool.size.resolve(),
        };
        let inner = Arc::new(PoolInner {
            id,
            pm: self.clone(),
            recipe,
            balancer: pool.strategy.balancer(),
            workers: RwLock::new(Vec::new()),
            changes: Arc::new(AtomicU64::new(1)),
            snapshot: RwLock::new(Arc::new(Snapshot {
                version: 0,
                set: WorkerSet::new(Vec::new()),
                workers: Vec::new(),
            })),
            panic_threshold: pool.panic_threshold,
            circuit_failures: pool.circuit_failures,
            circuit_open_for: pool.circuit_open_for,
            in_panic: AtomicBool::new(false),
            resizing: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            next_weight: Mutex::new(pool.weights.into_iter()),
        });
        let handle = PoolHandle { inner };
        if let Err(error) = handle.grow(size).await {
            handle.shutdown().await;
            return Err(error);
        }
        if let Some(autoscale) = pool.autoscale {
            scaling::start(Arc::downgrade(&handle.inner), autoscale);
        }
        let mut client = Client::new(PoolCaller(handle.inner.clone()));
        if let Some(timeout) = handle.inner.recipe.call_timeout() {
            client = client.with_timeout(timeout);
        }
        Ok((T::Proxy::from_client(client), handle))
    }
}

impl PoolHandle {
    /// The pool's id; its workers' [`ProcessInfo::pool`](crate::ProcessInfo::pool).
    pub fn id(&self) -> PoolId {
        self.inner.id
    }

    /// How many workers it has.
    pub fn size(&self) -> usize {
        self.inner.workers().len()
    }

    /// Its workers' ids, in the order they joined.
    pub fn workers(&self) -> Vec<ProcessId> {
        self.inner.workers().iter().map(|w| w.slot.id).collect()
    }

    /// Resizes the pool to `n` workers: new ones start (and join once
    /// running); surplus ones leave the pool at once and drain gracefully.
    pub async fn scale(&self, n: usize) -> Result<(), Error> {
        let _resizing = self.inner.resizing.lock().await;
        let from = self.size();
        if n > from {
            self.grow(n - from).await?;
        } else if n < from {
            self.shrink(from - n).await;
        }
        if n != from {
            self.inner.emit_scaled(from, self.size());
        }
        Ok(())
    }

    /// Replaces every worker with a fresh instance, one at a time: each
    /// replacement starts and passes its startup and readiness checks before
    /// the worker it replaces drains, so no call fails. A worker its restart
    /// policy gave up on comes back; one that is restarting is replaced once
    /// its restart is done.
    pub async fn reload(&self) -> Result<(), Error> {
        let _resizing = self.inner.resizing.lock().await;
        for worker in self.inner.workers() {
            worker
                .slot
                .replace(crate::events::RecycleReason::Reload, true)
                .await?;
        }
        Ok(())
    }

    /// The health of every worker.
    pub fn health(&self) -> PoolHealth {
        let workers = self.inner.workers();
        let reports: Vec<_> = workers
            .iter()
            .map(|w| (w.slot.id, w.slot.health()))
            .collect();
        PoolHealth {
            total: workers.len(),
            healthy: workers
                .iter()
                .zip(&reports)
                .filter(|(w, (_, r))| w.slot.is_running() && r.status != HealthStatus::Unhealthy)
                .count(),
            available: workers.iter().filter(|w| w.available()).count(),
            panic_mode: self.inner.in_panic.load(Ordering::Acquire),
            workers: reports,
        }
    }

    /// Every worker's metrics, and their total.
    pub fn metrics(&self) -> PoolMetrics {
        let workers: Vec<_> = self
            .inner
            .workers()
            .iter()
            .map(|w| (w.slot.id, w.slot.metrics()))
            .collect();
        PoolMetrics {
            total: Metrics::merge(workers.iter().map(|(_, m)| m)),
            workers,
        }
    }

    /// Subscribes to the lifecycle events of the pool's workers (and its
    /// [`EventKind::Scaled`]).
    pub fn events(&self) -> Events {
        self.inner.pm.inner.events.subscribe(Some(self.inner.id))
    }

    /// Stops every worker gracefully and closes the pool: later calls fail
    /// with [`Error::Unavailable`].
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let _resizing = self.inner.resizing.lock().await;
        let n = self.size();
        self.shrink(n).await;
    }

    async fn grow(&self, n: usize) -> Result<(), Error> {
        let inner = &self.inner;
        let spawns = (0..n).map(|_| {
            inner.pm.spawn_slot(
                &inner.recipe,
                Membership {
                    pool: Some(inner.id),
                    changes: Some(inner.changes.clone()),
                },
            )
        });
        let mut first_error = None;
        for spawned in futures::future::join_all(spawns).await {
            match spawned {
                Ok(slot) => {
                    let weight = inner
                        .next_weight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .next()
                        .unwrap_or(1);
                    let worker = Arc::new(Worker {
                        client: Client::new(ManagedCaller(slot.clone())),
                        load: Arc::new(WorkerLoad::new(slot.id.0, weight)),
                        slot,
                        circuit: Circuit {
                            failures: AtomicU32::new(0),
                            open: AtomicBool::new(false),
                        },
                    });
                    inner
                        .workers
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(worker);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        inner.changed();
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Takes the newest `n` workers out of the pool, then drains them.
    async fn shrink(&self, n: usize) {
        let inner = &self.inner;
        let leaving: Vec<Arc<Worker>> = {
            let mut workers = inner.workers.write().unwrap_or_else(|p| p.into_inner());
            let keep = workers.len().saturating_sub(n);
            workers.split_off(keep)
        };
        inner.changed();
        let stops = leaving.iter().map(|w| async {
            w.slot.stop().await;
            inner.pm.forget(w.slot.id);
        });
        futures::future::join_all(stops).await;
    }
}

impl PoolInner {
    fn workers(&self) -> Vec<Arc<Worker>> {
        self.workers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    fn emit_scaled(&self, from: usize, to: usize) {
        let first = self.workers().first().map(|w| w.slot.id);
        self.pm.inner.events.emit(crate::events::Event {
            process: first.unwrap_or(ProcessId(0)),
            name: self.recipe.name(),
            pool: Some(self.id),
            at: std::time::SystemTime::now(),
            kind: EventKind::Scaled { from, to },
        });
        tracing::info!(pool = %self.id, from, to, "pool scaled");
    }

    /// The pick set, rebuilt first if the workers changed since it was taken.
    fn snapshot(&self) -> Arc<Snapshot> {
        let version = self.changes.load(Ordering::Acquire);
        {
            let snapshot = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
            if snapshot.version == version {
                return snapshot.clone();
            }
        }
        let workers = self.workers();
        let available: Vec<Arc<Worker>> =
            workers.iter().filter(|w| w.available()).cloned().collect();
        let needed = (self.panic_threshold * workers.len() as f64).ceil() as usize;
        let panic = !workers.is_empty() && available.len() < needed;
        let chosen = if panic {
            let running: Vec<_> = workers
                .iter()
                .filter(|w| w.slot.is_running())
                .cloned()
                .collect();
            if running.is_empty() { workers } else { running }
        } else {
            available
        };
        if self.in_panic.swap(panic, Ordering::AcqRel) != panic {
            if panic {
                tracing::warn!(pool = %self.id, "too few workers available: panic mode, calls go to every running worker");
            } else {
                tracing::info!(pool = %self.id, "enough workers available again: panic mode over");
            }
        }
        let snapshot = Arc::new(Snapshot {
            version,
            set: WorkerSet::new(chosen.iter().map(|w| w.load.clone()).collect()),
            workers: chosen,
        });
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot.clone();
        snapshot
    }

    /// Counts a call's outcome against the worker's circuit.
    fn record(self: &Arc<Self>, worker: &Arc<Worker>, outcome: &Result<Response, Error>) {
        let broken = matches!(
            outcome,
            Err(Error::Timeout
                | Error::Unavailable { .. }
                | Error::ProcessCrashed { .. }
                | Error::ProcessStopped { .. })
        );
        if !broken {
            worker.circuit.failures.store(0, Ordering::Release);
            return;
        }
        let failures = worker.circuit.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.circuit_failures && !worker.circuit.open.swap(true, Ordering::AcqRel) {
            tracing::warn!(pool = %self.id, worker = %worker.slot.id, failures, "circuit open: the worker gets no calls for a while");
            self.changed();
            let (pool, worker) = (Arc::downgrade(self), Arc::downgrade(worker));
            let open_for = self.circuit_open_for;
            tokio::spawn(half_open(pool, worker, open_for));
        }
    }
}

/// After `open_for`, lets a worker's calls through again; one more failure
/// opens its circuit again.
async fn half_open(pool: Weak<PoolInner>, worker: Weak<Worker>, open_for: Duration) {
    tokio::time::sleep(open_for).await;
    let (Some(pool), Some(worker)) = (pool.upgrade(), worker.upgrade()) else {
        return;
    };
    worker
        .circuit
        .failures
        .store(pool.circuit_failures.saturating_sub(1), Ordering::Release);
    worker.circuit.open.store(false, Ordering::Release);
    pool.changed();
}

impl Worker {
    fn available(&self) -> bool {
        self.slot.is_ready() && !self.circuit.open.load(Ordering::Acquire)
    }
}

/// The caller inside a pool's proxy: picks a worker per call.
struct PoolCaller(Arc<PoolInner>);

/// How many times a call looks for another worker when the one picked has
/// just gone down (the call never reached it, so trying another is safe).
const REPICKS: usize = 4;

impl Caller for PoolCaller {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let pool = &self.0;
        if pool.closed.load(Ordering::Acquire) {
            return Box::pin(std::future::ready(Err(Error::Unavailable {
                reason: format!("{} has shut down", pool.id),
            })));
        }
        let mut snapshot = pool.snapshot();
        let mut worker = None;
        for _ in 0..REPICKS {
            let Some(index) = pool.balancer.pick(&snapshot.set, request.key) else {
                break;
            };
            let picked = &snapshot.workers[index];
            if picked.slot.is_running() || snapshot.workers.len() == 1 {
                worker = Some(picked.clone());
                break;
            }
            pool.changed();
            snapshot = pool.snapshot();
        }
        let Some(worker) = worker.or_else(|| snapshot.workers.first().cloned()) else {
            return Box::pin(std::future::ready(Err(Error::Unavailable {
                reason: format!("{} has no workers", pool.id),
            })));
        };
        let mut guard = InFlight::begin(worker);
        let call = guard.worker.client.call(request);
        let pool = pool.clone();
        Box::pin(async move {
            let outcome = call.await;
            guard.ok = outcome.is_ok();
            pool.record(&guard.worker, &outcome);
            drop(guard);
            outcome
        })
    }
}

/// One call on a worker: counted in flight until it ends, even when the
/// caller gives up on it (then it counts as failed, but not against the
/// worker's circuit: the caller left, the worker did nothing wrong).
struct InFlight {
    worker: Arc<Worker>,
    started: Instant,
    ok: bool,
}

impl InFlight {
    fn begin(worker: Arc<Worker>) -> InFlight {
        worker.load.begin();
        InFlight {
            worker,
            started: Instant::now(),
            ok: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let worker = &self.worker;
        worker.load.end(self.started.elapsed(), self.ok);
        if worker.slot.isolation == crate::Isolation::Child {
            // What the OS said of the child last, for least-loaded and adaptive.
            let (cpu, memory) = worker.slot.usage();
            worker
                .load
                .set_usage(cpu.unwrap_or(0.0) as f32, memory.unwrap_or(0));
        }
    }
}
