//! One managed process over its whole life: the instances it runs one after
//! another, the proxy that reaches whichever is current, and the supervisor
//! task that restarts, probes, samples and recycles it.
//!
//! A [`Slot`] is what the manager keeps per [`ProcessId`]. Its *instance* is
//! one run (a [`Control`], the client that reaches it, and what backs it: a
//! task, a worker thread or a child OS process). The [`ManagedCaller`] handed
//! out in proxies reads the current instance on every call, so a proxy held
//! across a restart reaches the new instance; a call made while there is none
//! waits (up to `restart_wait`) for one.
//!
//! Swapping an instance takes the write side of the `current` lock, and a call
//! is admitted by the instance while holding the read side, so once a swap
//! returns every call that reached the old instance counts among its calls in
//! flight: draining it afterwards loses none.

use std::any::TypeId;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, Client, Payload, Request, Response};
use crate::child::ChildProcess;
use crate::definition::ServiceDefinition;
use crate::error::Error;
use crate::events::{Event, EventBus, EventKind, RecycleReason};
use crate::health::{CheckReport, Health, HealthCheck, HealthKind, HealthReport, HealthStatus};
use crate::local::Control;
use crate::manager::{Isolation, ProcessId, ProcessStatus};
use crate::metrics::{CallRecorder, Metrics};
use crate::os::CpuMeter;
use crate::pool::PoolId;
use crate::restart::{Decision, RestartPolicy, RestartTracker};
use crate::worker::WorkerThread;

/// Starts one instance of a process: builds it, in its isolation, under
/// `control`, its calls counted by the recorder.
pub(crate) type Start = Arc<
    dyn Fn(
            ProcessId,
            Arc<Control>,
            Arc<CallRecorder>,
        ) -> BoxFuture<'static, Result<(Reach, Backing), Error>>
        + Send
        + Sync,
>;

/// How an instance is called: through a client whose calls count in the
/// process's metrics (the one proxies use), or one whose calls do not (health
/// probes, and calls the managed caller times itself).
pub(crate) struct Reach {
    pub(crate) client: Client,
    pub(crate) unrecorded: Client,
}

/// How a process is kept: its restart policy, limits and probing.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) restart: RestartPolicy,
    pub(crate) restart_wait: Duration,
    /// Probe the `#[health_check]`s and restart per policy; off for the
    /// process a child hosts (its parent does both).
    pub(crate) supervised: bool,
    pub(crate) max_memory: Option<u64>,
    pub(crate) max_requests: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) sample_interval: Duration,
    pub(crate) shutdown_timeout: Duration,
}

/// What runs an instance, beside the [`Control`] every isolation shares.
#[derive(Clone)]
pub(crate) enum Backing {
    /// Nothing of its own: calls run on the callers' tasks. Holds the
    /// `#[on_shutdown]` hook, run after a graceful drain.
    Task(Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>),
    /// Its own OS thread (which runs `#[on_shutdown]` itself).
    Worker(Arc<WorkerThread>),
    /// Its own OS process (whose host runs `#[on_shutdown]`).
    Child(Arc<ChildProcess>),
}

impl Backing {
    /// Ends what runs the process at once (the control is already down).
    pub(crate) fn kill(&self) {
        if let Backing::Child(child) = self {
            child.kill();
        }
    }

    /// After a drain: runs `#[on_shutdown]` (if the drain was graceful, not
    /// a process already killed or crashed) and lets what runs the process
    /// end, each up to `timeout`.
    pub(crate) async fn finish(&self, timeout: Duration, graceful: bool) {
        match self {
            Backing::Task(on_shutdown) => {
                if graceful && tokio::time::timeout(timeout, on_shutdown()).await.is_err() {
                    tracing::warn!("`#[on_shutdown]` did not return within the shutdown timeout");
                }
            }
            Backing::Worker(thread) => {
                thread.join(timeout).await;
            }
            Backing::Child(child) => {
                child.finish(timeout).await;
            }
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Backing::Child(child) => Some(child.pid()),
            Backing::Task(_) | Backing::Worker(_) => None,
        }
    }

    pub(crate) fn endpoint(&self) -> Option<String> {
        match self {
            Backing::Child(child) => child.endpoint().map(str::to_string),
            Backing::Task(_) | Backing::Worker(_) => None,
        }
    }
}

/// One run of a process.
pub(crate) struct Instance {
    pub(crate) control: Arc<Control>,
    client: Client,
    unrecorded: Client,
    pub(crate) backing: Backing,
    started: Instant,
    started_at: SystemTime,
    /// Calls it was given, for `max_requests`.
    served: AtomicU64,
}

/// Stops an instance gracefully: drains its calls, runs `#[on_shutdown]`, lets
/// what backs it end. Returns how many calls had to be cut off.
pub(crate) async fn stop_instance(instance: &Instance, timeout: Duration) -> usize {
    let cut_off = instance.control.stop(timeout).await;
    let graceful = instance.control.status() == ProcessStatus::Stopped;
    instance.backing.finish(timeout, graceful).await;
    cut_off
}

/// Where a managed process is, beyond what its current instance says.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// The current instance is (or was, until a moment ago) serving.
    Running,
    /// Waiting out a backoff, or starting a new instance.
    Restarting {
        attempt: u32,
    },
    /// Down for good: restarting gave up.
    Failed {
        reason: String,
    },
    /// Down and not restarted (restarts are off): the instance says why.
    Down,
    /// Being stopped gracefully.
    Stopping,
    Stopped,
    Killed,
}

/// The health of the current instance, per check.
struct HealthState {
    /// Every startup check has passed once.
    started: bool,
    checks: Vec<CheckState>,
}

#[derive(Default, Clone)]
struct CheckState {
    failures: u32,
    /// Passed since its last run of failures (readiness: takes calls).
    passing: bool,
    last: Option<HealthStatus>,
    message: Option<String>,
}

impl HealthState {
    fn new(checks: &[HealthCheck]) -> HealthState {
        HealthState {
            started: !checks.iter().any(|c| c.kind == HealthKind::Startup),
            checks: vec![CheckState::default(); checks.len()],
        }
    }
}

/// What a child's last resource sample said.
#[derive(Default, Clone, Copy)]
struct Usage {
    cpu_percent: Option<f64>,
    memory_bytes: Option<u64>,
}

/// A handle that keeps a slot supervised: the manager holds one, and so does
/// every proxy. When the last is dropped nobody can reach the process any
/// more, so its supervisor ends, and the process with it once its calls are done.
pub(crate) struct Managed(Arc<Slot>);

impl std::ops::Deref for Managed {
    type Target = Arc<Slot>;

    fn deref(&self) -> &Arc<Slot> {
        &self.0
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.0.supervision.cancel();
    }
}

/// A managed process: its identity, its current instance and its keeper.
pub(crate) struct Slot {
    pub(crate) id: ProcessId,
    pub(crate) definition: &'static ServiceDefinition,
    pub(crate) isolation: Isolation,
    pub(crate) type_id: TypeId,
    pub(crate) pool: Option<PoolId>,
    checks: &'static [HealthCheck],
    start: Start,
    settings: Settings,
    current: RwLock<Arc<Instance>>,
    /// Bumped whenever another instance becomes current.
    swaps: watch::Sender<u64>,
    phase: watch::Sender<Phase>,
    pub(crate) recorder: Arc<CallRecorder>,
    restarts: AtomicU32,
    health: Mutex<HealthState>,
    usage: Mutex<Usage>,
    events: EventBus,
    /// Set when the current instance should take calls from a pool: running,
    /// started, and no readiness or liveness check failing.
    ready: AtomicBool,
    /// Bumped whenever `ready` or the phase changes, for the pool that
    /// watches this process (it rebuilds its pick set then).
    changes: Option<Arc<AtomicU64>>,
    /// `max_requests` reached.
    recycle: Notify,
    /// Serialises instance changes: a restart, a replacement.
    transition: tokio::sync::Mutex<()>,
    supervision: CancellationToken,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a new slot is made of.
pub(crate) struct SlotParts {
    pub(crate) id: ProcessId,
    pub(crate) definition: &'static ServiceDefinition,
    pub(crate) checks: &'static [HealthCheck],
    pub(crate) isolation: Isolation,
    pub(crate) type_id: TypeId,
    pub(crate) pool: Option<PoolId>,
    pub(crate) changes: Option<Arc<AtomicU64>>,
    pub(crate) start: Start,
    pub(crate) settings: Settings,
    pub(crate) events: EventBus,
}

impl Slot {
    /// Starts the first instance and, once it runs, the supervisor.
    pub(crate) async fn spawn(parts: SlotParts) -> Result<Arc<Managed>, Error> {
        let recorder = Arc::new(CallRecorder::new());
        let instance = start_instance(&parts.start, parts.id, parts.definition, &recorder).await?;
        let checks = if parts.settings.supervised {
            parts.checks
        } else {
            &[]
        };
        let slot = Arc::new(Slot {
            id: parts.id,
            definition: parts.definition,
            isolation: parts.isolation,
            type_id: parts.type_id,
            pool: parts.pool,
            checks,
            start: parts.start,
            health: Mutex::new(HealthState::new(checks)),
            settings: parts.settings,
            current: RwLock::new(instance),
            swaps: watch::Sender::new(0),
            phase: watch::Sender::new(Phase::Running),
            recorder,
            restarts: AtomicU32::new(0),
            usage: Mutex::new(Usage::default()),
            events: parts.events,
            ready: AtomicBool::new(false),
            changes: parts.changes,
            recycle: Notify::new(),
            transition: tokio::sync::Mutex::new(()),
            supervision: CancellationToken::new(),
            supervisor: Mutex::new(None),
        });
        slot.update_ready();
        slot.emit(EventKind::Spawned {
            pid: slot.current().backing.pid(),
        });
        let seed = parts.id.0 ^ 0x5151_5151;
        let tracker = RestartTracker::new(slot.settings.restart.clone(), seed);
        let handle = tokio::spawn(supervisor(slot.clone(), tracker));
        *lock(&slot.supervisor) = Some(handle);
        Ok(Arc::new(Managed(slot)))
    }

    pub(crate) fn name(&self) -> &'static str {
        self.definition.name
    }

    pub(crate) fn current(&self) -> Arc<Instance> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Makes `fresh` the current instance; returns the one it replaces.
    fn swap(&self, fresh: Arc<Instance>) -> Arc<Instance> {
        let old = {
            let mut current = self
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            std::mem::replace(&mut *current, fresh)
        };
        self.swaps.send_modify(|n| *n += 1);
        old
    }

    fn emit(&self, kind: EventKind) {
        self.events.emit(Event {
            process: self.id,
            name: self.name(),
            pool: self.pool,
            at: SystemTime::now(),
            kind,
        });
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
        self.update_ready();
    }

    fn changed(&self) {
        if let Some(changes) = &self.changes {
            changes.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Recomputes whether a pool may send this process calls.
    fn update_ready(&self) {
        let ready = {
            let health = lock(&self.health);
            let checks_ok = health.started
                && self
                    .checks
                    .iter()
                    .zip(&health.checks)
                    .all(|(check, state)| match check.kind {
                        HealthKind::Readiness => state.passing,
                        HealthKind::Liveness => state.failures < check.failure_threshold,
                        HealthKind::Startup => true,
                    });
            checks_ok
                && *self.phase.borrow() == Phase::Running
                && self.current().control.is_running()
        };
        if self.ready.swap(ready, Ordering::AcqRel) != ready {
            self.changed();
        }
    }

    /// Whether the current instance's control takes calls; on every pooled
    /// call, so it reads under the lock rather than cloning the instance.
    fn instance_running(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .control
            .is_running()
    }

    /// Whether a pool may send this process calls now.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.instance_running()
    }

    /// Whether the current instance takes calls (ready or not).
    pub(crate) fn is_running(&self) -> bool {
        *self.phase.borrow() == Phase::Running && self.instance_running()
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Acquire)
    }

    pub(crate) fn started_at(&self) -> SystemTime {
        self.current().started_at
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.current().backing.pid()
    }

    pub(crate) fn endpoint(&self) -> Option<String> {
        self.current().backing.endpoint()
    }

    /// The status, from the slot's phase and its current instance.
    pub(crate) fn status(&self) -> ProcessStatus {
        match &*self.phase.borrow() {
            Phase::Running | Phase::Down => self.current().control.status(),
            Phase::Restarting { attempt } => ProcessStatus::Restarting { attempt: *attempt },
            Phase::Failed { reason } => ProcessStatus::Failed {
                reason: reason.clone(),
            },
            Phase::Stopping => ProcessStatus::Stopping,
            Phase::Stopped => ProcessStatus::Stopped,
            Phase::Killed => ProcessStatus::Killed,
        }
    }

    /// The process's health: the worst of its checks.
    pub(crate) fn health(&self) -> HealthReport {
        let running = self.is_running();
        let health = lock(&self.health);
        let checks: Vec<CheckReport> = self
            .checks
            .iter()
            .zip(&health.checks)
            .map(|(check, state)| CheckReport {
                name: check.name().to_string(),
                kind: check.kind,
                status: if state.failures >= check.failure_threshold {
                    HealthStatus::Unhealthy
                } else {
                    state.last.unwrap_or(HealthStatus::Healthy)
                },
                failures: state.failures,
                message: state.message.clone(),
            })
            .collect();
        let worst = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        HealthReport {
            status: if running {
                worst
            } else {
                HealthStatus::Unhealthy
            },
            ready: self.ready.load(Ordering::Acquire) && running,
            checks,
        }
    }

    /// A child's CPU % and resident bytes, as last sampled.
    pub(crate) fn usage(&self) -> (Option<f64>, Option<u64>) {
        let usage = *lock(&self.usage);
        (usage.cpu_percent, usage.memory_bytes)
    }

    /// The process's metrics now.
    pub(crate) fn metrics(&self) -> Metrics {
        let usage = *lock(&self.usage);
        let current = self.current();
        let mut metrics = self.recorder.snapshot();
        metrics.restarts = self.restarts();
        metrics.uptime = if current.control.is_down() {
            Duration::ZERO
        } else {
            current.started.elapsed()
        };
        metrics.cpu_percent = usage.cpu_percent;
        metrics.memory_bytes = usage.memory_bytes;
        metrics
    }

    /// Waits for the supervisor to end, after its token was cancelled.
    async fn end_supervision(&self) {
        self.supervision.cancel();
        let handle = lock(&self.supervisor).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// Kills the process: calls in flight fail now, nothing restarts it.
    pub(crate) fn kill(&self) {
        self.supervision.cancel();
        self.set_phase(Phase::Killed);
        let current = self.current();
        current.control.kill();
        current.backing.kill();
        self.changed();
        self.emit(EventKind::Killed);
    }

    /// Stops the process gracefully: refuses new calls, drains those in
    /// flight, runs `#[on_shutdown]`, ends what backs it. Returns how many
    /// calls had to be cut off.
    pub(crate) async fn stop(&self) -> usize {
        if matches!(*self.phase.borrow(), Phase::Stopped | Phase::Killed) {
            return 0;
        }
        self.set_phase(Phase::Stopping);
        self.changed();
        // Stop taking calls at once; the supervisor ends meanwhile.
        let timeout = self.settings.shutdown_timeout;
        let first = self.current();
        let (cut_off, ()) =
            futures::future::join(stop_instance(&first, timeout), self.end_supervision()).await;
        // A restart that was finishing as the stop began may have left a
        // newer instance: it goes too.
        let last = self.current();
        let cut_off = if Arc::ptr_eq(&first, &last) {
            cut_off
        } else {
            cut_off + stop_instance(&last, timeout).await
        };
        self.set_phase(Phase::Stopped);
        self.emit(EventKind::Stopped);
        cut_off
    }

    /// Replaces the running instance with a fresh one: the new instance
    /// starts (and passes its startup and readiness checks) while the old
    /// one serves; then calls go to the new one and the old one drains. With
    /// `wait_drain`, returns once the old one has stopped. A process left
    /// down (its policy gave up, or restarts are off) is brought back, under
    /// a new supervisor.
    pub(crate) async fn replace(
        self: &Arc<Self>,
        reason: RecycleReason,
        wait_drain: bool,
    ) -> Result<(), Error> {
        let _transition = self.transition.lock().await;
        // A process its restart policy gave up on (or left down) comes back too,
        // as `pm2 restart` revives an errored process.
        let revive = matches!(*self.phase.borrow(), Phase::Failed { .. } | Phase::Down);
        if !revive && *self.phase.borrow() != Phase::Running {
            return Err(Error::Unavailable {
                reason: format!("{}#{} is not running", self.name(), self.id),
            });
        }
        let fresh = start_instance(&self.start, self.id, self.definition, &self.recorder).await?;
        let health = match self.until_ready(&fresh).await {
            Ok(health) => health,
            Err(reason) => {
                fresh.control.kill();
                fresh.backing.kill();
                return Err(Error::Unavailable {
                    reason: format!("the replacement of {}#{} {reason}", self.name(), self.id),
                });
            }
        };
        *lock(&self.health) = health;
        let old = self.swap(fresh);
        *lock(&self.usage) = Usage::default();
        self.restarts.fetch_add(1, Ordering::AcqRel);
        if revive {
            self.set_phase(Phase::Running);
            // Its supervisor ended when the policy gave up: a new one, counting afresh.
            let tracker =
                RestartTracker::new(self.settings.restart.clone(), self.id.0 ^ 0x5151_5151);
            *lock(&self.supervisor) = Some(tokio::spawn(supervisor(self.clone(), tracker)));
        }
        self.update_ready();
        self.changed();
        self.emit(EventKind::Recycled { reason });
        let timeout = self.settings.shutdown_timeout;
        if wait_drain {
            stop_instance(&old, timeout).await;
        } else {
            tokio::spawn(async move {
                stop_instance(&old, timeout).await;
            });
        }
        Ok(())
    }

    /// Probes a fresh instance's startup and readiness checks until each has
    /// passed, or one has failed `failure_threshold` times in a row.
    async fn until_ready(&self, instance: &Instance) -> Result<HealthState, String> {
        let mut state = HealthState::new(self.checks);
        let gating: Vec<usize> = (0..self.checks.len())
            .filter(|&i| self.checks[i].kind != HealthKind::Liveness)
            .collect();
        for i in gating {
            let check = &self.checks[i];
            loop {
                let outcome = probe(instance, self.definition, check).await;
                let entry = &mut state.checks[i];
                match outcome {
                    Ok(health) if health.status != HealthStatus::Unhealthy => {
                        entry.passing = true;
                        entry.failures = 0;
                        entry.last = Some(health.status);
                        entry.message = health.message;
                        break;
                    }
                    outcome => {
                        entry.failures += 1;
                        let message = failure_message(outcome);
                        if entry.failures >= check.failure_threshold {
                            return Err(format!(
                                "failed its {} check `{}`: {message}",
                                check.kind,
                                check.name()
                            ));
                        }
                        entry.message = Some(message);
                        tokio::time::sleep(check.interval).await;
                    }
                }
            }
        }
        state.started = true;
        Ok(state)
    }
}

/// Builds one instance.
async fn start_instance(
    start: &Start,
    id: ProcessId,
    definition: &'static ServiceDefinition,
    recorder: &Arc<CallRecorder>,
) -> Result<Arc<Instance>, Error> {
    let control = Arc::new(Control::new(format!("{}#{id}", definition.name)));
    let (reach, backing) = start(id, control.clone(), recorder.clone()).await?;
    Ok(Arc::new(Instance {
        control,
        client: reach.client,
        unrecorded: reach.unrecorded,
        backing,
        started: Instant::now(),
        started_at: SystemTime::now(),
        served: AtomicU64::new(0),
    }))
}

/// Calls one health check of `instance`, up to its timeout.
async fn probe(
    instance: &Instance,
    definition: &'static ServiceDefinition,
    check: &HealthCheck,
) -> Result<Health, Error> {
    let mut request = Request::new(definition, check.method, Payload::value(()));
    request.deadline = Some(Instant::now() + check.timeout);
    let call = instance.unrecorded.call(request);
    match tokio::time::timeout(check.timeout, call).await {
        Err(_) => Err(Error::Timeout),
        Ok(reply) => reply?.payload.into_value::<Health>(),
    }
}

fn failure_message(outcome: Result<Health, Error>) -> String {
    match outcome {
        Ok(health) => health
            .message
            .unwrap_or_else(|| "it answered unhealthy".to_string()),
        Err(Error::Timeout) => "it did not answer within its timeout".to_string(),
        Err(error) => error.to_string(),
    }
}

/// Why the supervisor stopped watching an instance.
enum Exit {
    /// The instance went down.
    Down,
    /// Another instance became current (a replacement).
    Swapped,
    /// A liveness or startup check failed for good.
    Unhealthy(String),
    /// Time for a fresh instance.
    Recycle(RecycleReason),
}

/// [`supervise`] as a task's future. Boxed, because a supervisor may start
/// another (reviving a failed process in [`Slot::replace`]), and a future
/// cannot contain itself.
fn supervisor(slot: Arc<Slot>, tracker: RestartTracker) -> BoxFuture<'static, ()> {
    Box::pin(supervise(slot, tracker))
}

/// The supervisor of one slot: watches its current instance, restarts it per
/// policy, probes its health, samples its resources, recycles it.
async fn supervise(slot: Arc<Slot>, mut tracker: RestartTracker) {
    let cancelled = slot.supervision.clone();
    tokio::select! {
        biased;
        () = cancelled.cancelled() => {}
        () = supervise_loop(&slot, &mut tracker) => {}
    }
}

async fn supervise_loop(slot: &Arc<Slot>, tracker: &mut RestartTracker) {
    loop {
        let instance = slot.current();
        let exit = watch(slot, &instance).await;
        if !Arc::ptr_eq(&instance, &slot.current()) {
            continue; // replaced meanwhile: watch the new one
        }
        match exit {
            Exit::Swapped => continue,
            Exit::Down => {
                slot.update_ready();
                let ProcessStatus::Crashed { reason } = instance.control.status() else {
                    return; // stopped or killed on purpose
                };
                if !restart(slot, tracker, &instance, reason).await {
                    return;
                }
            }
            Exit::Unhealthy(reason) => {
                instance.control.crash(reason.clone());
                instance.backing.kill();
                if !restart(slot, tracker, &instance, reason).await {
                    return;
                }
            }
            Exit::Recycle(reason) => {
                if let Err(error) = slot.replace(reason, false).await {
                    tracing::warn!(process = %slot.id, %error, "could not recycle the process; it keeps running");
                    // Try again after a pause rather than at once.
                    tokio::time::sleep(slot.settings.sample_interval).await;
                }
            }
        }
    }
}

/// Restarts a crashed slot per its policy. Returns whether a new instance runs.
async fn restart(
    slot: &Arc<Slot>,
    tracker: &mut RestartTracker,
    crashed: &Instance,
    reason: String,
) -> bool {
    let _transition = slot.transition.lock().await;
    slot.emit(EventKind::Crashed {
        reason: reason.clone(),
    });
    if !slot.settings.restart.enabled {
        slot.set_phase(Phase::Down);
        slot.changed();
        return false;
    }
    let mut started = crashed.started;
    loop {
        match tracker.on_exit(started, Instant::now()) {
            Decision::GiveUp { reason } => {
                tracing::error!(process = %slot.id, name = slot.name(), %reason, "giving up restarting");
                slot.set_phase(Phase::Failed {
                    reason: reason.clone(),
                });
                slot.changed();
                slot.emit(EventKind::Failed { reason });
                return false;
            }
            Decision::Restart { delay, attempt } => {
                // Counted from 1 for people: the first restart in a row.
                let attempt = attempt.saturating_add(1);
                slot.set_phase(Phase::Restarting { attempt });
                slot.changed();
                tracing::info!(process = %slot.id, name = slot.name(), attempt, ?delay, "restarting");
                tokio::time::sleep(delay).await;
                match start_instance(&slot.start, slot.id, slot.definition, &slot.recorder).await {
                    Ok(fresh) => {
                        *lock(&slot.health) = HealthState::new(slot.checks);
                        slot.swap(fresh.clone());
                        *lock(&slot.usage) = Usage::default();
                        slot.restarts.fetch_add(1, Ordering::AcqRel);
                        slot.set_phase(Phase::Running);
                        slot.changed();
                        slot.emit(EventKind::Restarted {
                            attempt,
                            pid: fresh.backing.pid(),
                        });
                        return true;
                    }
                    Err(error) => {
                        tracing::warn!(process = %slot.id, %error, "a restart failed to start");
                        slot.emit(EventKind::Crashed {
                            reason: error.to_string(),
                        });
                        started = Instant::now();
                    }
                }
            }
        }
    }
}

/// Probe bookkeeping for one instance.
struct Schedule {
    due: Vec<Instant>,
}

/// Watches one instance until something calls for the supervisor.
async fn watch(slot: &Arc<Slot>, instance: &Arc<Instance>) -> Exit {
    let checks = slot.checks;
    let now = Instant::now();
    let mut schedule = Schedule {
        // Startup and readiness are probed at once, liveness after an interval.
        due: checks
            .iter()
            .map(|check| match check.kind {
                HealthKind::Liveness => now + check.interval,
                HealthKind::Startup | HealthKind::Readiness => now,
            })
            .collect(),
    };
    let pid = instance.backing.pid();
    let sampling = pid.is_some();
    let mut meter = CpuMeter::new();
    let mut next_sample = now;
    let lifetime_end = slot.settings.max_lifetime.map(|d| instance.started + d);
    let mut swaps = slot.swaps.subscribe();
    swaps.mark_unchanged();
    loop {
        let started = lock(&slot.health).started;
        let mut due: Option<Instant> = None;
        for (check, at) in checks.iter().zip(&schedule.due) {
            if check.kind == HealthKind::Startup && started {
                continue;
            }
            if check.kind != HealthKind::Startup && !started {
                continue;
            }
            due = Some(due.map_or(*at, |d| d.min(*at)));
        }
        if sampling {
            due = Some(due.map_or(next_sample, |d| d.min(next_sample)));
        }
        if let Some(end) = lifetime_end {
            due = Some(due.map_or(end, |d| d.min(end)));
        }
        let sleep = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = instance.control.down() => return Exit::Down,
            _ = swaps.changed() => return Exit::Swapped,
            () = slot.recycle.notified() => {
                if let Some(max) = slot.settings.max_requests
                    && instance.served.load(Ordering::Acquire) >= max
                {
                    return Exit::Recycle(RecycleReason::Requests(max));
                }
                continue;
            }
            () = sleep => {}
        }
        let now = Instant::now();
        if lifetime_end.is_some_and(|end| end <= now) {
            return Exit::Recycle(RecycleReason::Lifetime);
        }
        if let Some(pid) = pid
            && next_sample <= now
        {
            next_sample = now + slot.settings.sample_interval;
            if let Some(exit) = sample(slot, pid, &mut meter) {
                return exit;
            }
        }
        let due_now: Vec<usize> = (0..checks.len())
            .filter(|&i| {
                let startup = checks[i].kind == HealthKind::Startup;
                schedule.due[i] <= now && startup != started
            })
            .collect();
        if due_now.is_empty() {
            continue;
        }
        for &i in &due_now {
            schedule.due[i] = now + checks[i].interval;
        }
        let probes = futures::future::join_all(
            due_now
                .iter()
                .map(|&i| probe(instance, slot.definition, &checks[i])),
        );
        let outcomes = tokio::select! {
            biased;
            () = instance.control.down() => return Exit::Down,
            outcomes = probes => outcomes,
        };
        if !Arc::ptr_eq(instance, &slot.current()) {
            return Exit::Swapped; // the outcomes are the old instance's
        }
        for (i, outcome) in due_now.into_iter().zip(outcomes) {
            if let Some(reason) = record(slot, i, outcome) {
                return Exit::Unhealthy(reason);
            }
        }
    }
}

/// Samples a child's CPU and memory; past `max_memory`, asks for a fresh instance.
fn sample(slot: &Slot, pid: u32, meter: &mut CpuMeter) -> Option<Exit> {
    let usage = match crate::os::usage(pid) {
        Ok(usage) => usage,
        Err(error) => {
            tracing::debug!(pid, %error, "could not sample a child's resource usage");
            return None;
        }
    };
    let cpu = meter.sample(std::time::Instant::now(), usage.cpu_time);
    {
        let mut last = lock(&slot.usage);
        if cpu.is_some() {
            last.cpu_percent = cpu;
        }
        last.memory_bytes = Some(usage.rss_bytes);
    }
    match slot.settings.max_memory {
        Some(limit) if usage.rss_bytes > limit => {
            tracing::warn!(process = %slot.id, pid, resident = usage.rss_bytes, limit, "past max_memory: recycling");
            Some(Exit::Recycle(RecycleReason::Memory {
                resident: usage.rss_bytes,
                limit,
            }))
        }
        _ => None,
    }
}

/// Records one probe's outcome; returns why to restart, if it must.
fn record(slot: &Slot, index: usize, outcome: Result<Health, Error>) -> Option<String> {
    let check = &slot.checks[index];
    let mut event = None;
    let mut restart = None;
    {
        let mut health = lock(&slot.health);
        let state = &mut health.checks[index];
        match outcome {
            Ok(answer) if answer.status != HealthStatus::Unhealthy => {
                if state.failures >= check.failure_threshold {
                    event = Some(EventKind::Recovered {
                        check: check.name(),
                    });
                }
                state.failures = 0;
                state.passing = true;
                state.last = Some(answer.status);
                state.message = answer.message;
            }
            outcome => {
                let message = failure_message(outcome);
                state.failures = state.failures.saturating_add(1);
                state.last = Some(HealthStatus::Unhealthy);
                state.message = Some(message.clone());
                if state.failures == check.failure_threshold {
                    state.passing = false;
                    event = Some(EventKind::Unhealthy {
                        check: check.name(),
                        kind: check.kind,
                        message: message.clone(),
                    });
                    if check.kind != HealthKind::Readiness {
                        restart = Some(format!(
                            "its {} check `{}` failed {} times in a row: {message}",
                            check.kind,
                            check.name(),
                            check.failure_threshold
                        ));
                    }
                }
            }
        }
        if check.kind == HealthKind::Startup && !health.started {
            let all_passed = slot
                .checks
                .iter()
                .zip(&health.checks)
                .all(|(c, s)| c.kind != HealthKind::Startup || s.passing);
            health.started = all_passed;
        }
    }
    if let Some(event) = event {
        slot.emit(event);
    }
    slot.update_ready();
    restart
}

/// The caller inside every proxy of a managed process: reaches its current
/// instance (whose caller counts the call in the metrics), or waits out a
/// restart (and counts the call itself).
pub(crate) struct ManagedCaller(pub(crate) Arc<Managed>);

impl Caller for ManagedCaller {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let slot = &self.0;
        {
            let current = slot
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if current.control.is_running() {
                count_served(slot, &current);
                // Admitted while the read lock is held: see the module docs.
                return current.client.call(request);
            }
        }
        let slot = slot.clone();
        let timer = slot.recorder.begin();
        Box::pin(async move {
            let outcome = call_when_running(&slot.0, request).await;
            timer.finish(outcome.is_ok());
            outcome
        })
    }
}

fn count_served(slot: &Slot, instance: &Instance) {
    if let Some(max) = slot.settings.max_requests {
        let served = instance.served.fetch_add(1, Ordering::AcqRel) + 1;
        if served == max {
            slot.recycle.notify_one();
        }
    }
}

/// A call that found no running instance: waits (up to `restart_wait`, and
/// the call's own deadline) for one, or fails with why there is none.
async fn call_when_running(slot: &Arc<Slot>, request: Request) -> Result<Response, Error> {
    let mut phase = slot.phase.subscribe();
    let wait_until = Instant::now() + slot.settings.restart_wait;
    let own_deadline = request.deadline;
    let mut request = Some(request);
    loop {
        let call = {
            let current = slot
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let state = phase.borrow_and_update().clone();
            match state {
                Phase::Running if current.control.is_running() => {
                    count_served(slot, &current);
                    request
                        .take()
                        .map(|request| current.unrecorded.call(request))
                }
                // Down, and the supervisor is about to say what comes next.
                Phase::Running | Phase::Restarting { .. } => None,
                Phase::Failed { reason } => {
                    return Err(Error::Unavailable {
                        reason: format!("{}#{} failed: {reason}", slot.name(), slot.id),
                    });
                }
                Phase::Down => return Err(current.control.refusal()),
                Phase::Stopping | Phase::Stopped => {
                    return Err(Error::ProcessStopped {
                        process: format!("{}#{}", slot.name(), slot.id),
                        reason: "shut down".into(),
                    });
                }
                Phase::Killed => {
                    return Err(Error::ProcessStopped {
                        process: format!("{}#{}", slot.name(), slot.id),
                        reason: "killed".into(),
                    });
                }
            }
        };
        if let Some(call) = call {
            return call.await;
        }
        let deadline = match own_deadline {
            Some(own) => own.min(wait_until),
            None => wait_until,
        };
        let changed = tokio::time::timeout_at(deadline, phase.changed()).await;
        match changed {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => {
                return Err(Error::Unavailable {
                    reason: format!("{}#{} is gone", slot.name(), slot.id),
                });
            }
            Err(_) if own_deadline.is_some_and(|own| own <= wait_until) => {
                return Err(Error::Timeout);
            }
            Err(_) => {
                return Err(Error::Unavailable {
                    reason: format!(
                        "{}#{} is restarting and had no instance within {:?}",
                        slot.name(),
                        slot.id,
                        slot.settings.restart_wait
                    ),
                });
            }
        }
    }
}
