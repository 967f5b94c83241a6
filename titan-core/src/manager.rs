//! The process manager: spawns processes, keeps track of them, stops them.
//!
//! ```
//! use titan_core::prelude::*;
//!
//! #[derive(Default)]
//! struct Calculator;
//!
//! #[process]
//! impl Calculator {
//!     #[public]
//!     async fn add(&self, a: i64, b: i64) -> i64 { a + b }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let pm = ProcessManager::new();
//! let calc = pm.spawn::<Calculator>().await?;
//! assert_eq!(calc.add(5, 3).await?, 8);
//! assert_eq!(pm.list().len(), 1);
//! pm.shutdown().await?;
//! # Ok(()) }
//! ```

use std::any::TypeId;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

use crate::caller::Client;
use crate::child::{self, ChildOptions};
use crate::error::Error;
use crate::events::{EventBus, Events, RecycleReason};
use crate::health::HealthReport;
use crate::lifecycle::{Backing, Managed, ManagedCaller, Reach, Settings, Slot, SlotParts, Start};
use crate::local::{self, Control, LocalCaller};
use crate::metrics::{CallRecorder, Metrics};
use crate::pool::PoolId;
use crate::process::{Process, Proxy};
use crate::restart::RestartPolicy;
use crate::worker;

/// The id of a process within its [`ProcessManager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(pub u64);

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a process runs.
///
/// In every isolation the process's lifecycle is the same: kill fails
/// in-flight calls at once, a graceful stop drains them, a crash (a panic, or
/// a child process's death) fails them and marks the process crashed.
///
/// ```
/// # use titan_core::prelude::*;
/// # #[derive(Default)] struct Hasher;
/// # #[process] impl Hasher { #[public] fn hash(&self, rounds: u32) -> u64 { (0..rounds).map(u64::from).sum() } }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let pm = ProcessManager::new();
/// let hasher = pm
///     .spawn_with::<Hasher>(SpawnOptions::new().isolation(Isolation::Worker))
///     .await?;
/// assert_eq!(hasher.hash(4).await?, 6); // ran on the worker's own thread
/// pm.shutdown().await?; // and that thread has ended
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// A task in the caller's runtime: the method runs on the calling task,
    /// its arguments moved. The cheapest call, and the right choice for
    /// methods that await rather than compute; a method that blocks or
    /// computes for long stalls the caller's runtime while it runs.
    #[default]
    Local,
    /// A dedicated OS thread, named `titan-worker-{name}#{id}`, with its own
    /// current-thread tokio runtime: `#[init]` and every method run there.
    /// Calls travel over a channel between the runtimes, their arguments
    /// moved; `&self` calls still run concurrently, interleaved on the one
    /// thread. Pick it for CPU-heavy or blocking methods: they stall only
    /// their own worker, never the caller's runtime (calls to the same worker
    /// wait their turn). A kill or a deadline fails the call at once even
    /// while a method blocks the thread; the thread itself ends when that
    /// method returns. The thread ends when the process is stopped or killed,
    /// or when every handle to it is gone; [`ProcessManager::stop`] and
    /// [`ProcessManager::shutdown`] wait for it to end (up to the shutdown
    /// timeout).
    Worker,
    /// A child OS process: its own pid, memory and crash domain. By default
    /// this executable started again (its `#[titan_core::main]` hosts the
    /// process instead of running `main`), or any executable that hosts
    /// processes ([`SpawnOptions::executable`]). Calls travel over a unix
    /// socket pair in the wire format, their arguments serialised. If the
    /// child dies, every call in flight fails at once with
    /// [`Error::ProcessCrashed`] and the process is marked crashed. Pick it
    /// for code that may crash or leak, or to use more than one process's
    /// resources. See [`child`] for testing it under `cargo test`.
    Child,
}

/// Where a process is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessStatus {
    /// Taking calls.
    Running,
    /// Draining in-flight calls; new calls are refused.
    Stopping,
    /// Stopped gracefully.
    Stopped,
    /// Killed: its in-flight calls failed.
    Killed,
    /// Crashed (a method panicked, its thread or child process died, a
    /// liveness check failed) and not restarted: its restart policy is off.
    Crashed {
        /// What happened.
        reason: String,
    },
    /// Crashed, and waiting out its restart backoff or starting again. Calls
    /// made now wait for the new instance (up to `restart_wait`).
    Restarting {
        /// Restarts in a row without a stable run (1 for the first).
        attempt: u32,
    },
    /// Crashed too often: its restart policy gave up, and it stays down.
    Failed {
        /// Why the policy gave up.
        reason: String,
    },
}

/// A snapshot of one managed process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// Its id in the manager.
    pub id: ProcessId,
    /// The service name.
    pub name: &'static str,
    /// The service version.
    pub version: &'static str,
    /// Where it runs.
    pub isolation: Isolation,
    /// Its status now.
    pub status: ProcessStatus,
    /// Calls in flight now.
    pub in_flight: usize,
    /// When its current instance started.
    pub started_at: SystemTime,
    /// How many times it was started again (after a crash, or recycled).
    pub restarts: u32,
    /// The OS process id, for [`Isolation::Child`].
    pub pid: Option<u32>,
    /// Where other programs can reach it, for a child that listens
    /// ([`ChildTransport::Unix`](crate::child::ChildTransport::Unix),
    /// [`ChildTransport::Tcp`](crate::child::ChildTransport::Tcp)): a
    /// `unix://` or `tcp://` URL.
    pub endpoint: Option<String>,
    /// The pool it works in, if any.
    pub pool: Option<PoolId>,
}

/// How a process is kept alive and within bounds; part of [`SpawnOptions`].
#[derive(Debug, Clone)]
pub(crate) struct Keeping {
    restart: RestartPolicy,
    restart_wait: Duration,
    supervised: bool,
    max_memory: Option<u64>,
    max_requests: Option<u64>,
    max_lifetime: Option<Duration>,
    call_timeout: Option<Duration>,
    shutdown_timeout: Option<Duration>,
    sample_interval: Duration,
}

impl Default for Keeping {
    fn default() -> Self {
        Keeping {
            restart: RestartPolicy::default(),
            restart_wait: Duration::from_secs(5),
            supervised: true,
            max_memory: None,
            max_requests: None,
            max_lifetime: None,
            call_timeout: None,
            shutdown_timeout: None,
            sample_interval: Duration::from_secs(1),
        }
    }
}

/// How to spawn a process: its config, where it runs, and how it is kept.
///
/// `C` is the process's `#[init]` config type; it starts as `()` and
/// [`SpawnOptions::config`] sets it, so a config of the wrong type does not
/// compile. The config is kept (encoded) to start the process again after a
/// crash, so every instance starts from the same config.
///
/// ```
/// use titan_core::prelude::*;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Config { greeting: String }
///
/// struct Greeter { greeting: String }
///
/// #[process]
/// impl Greeter {
///     #[init]
///     async fn new(config: Config) -> Self { Greeter { greeting: config.greeting } }
///
///     #[public]
///     async fn greet(&self, name: String) -> String { format!("{}, {name}!", self.greeting) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let pm = ProcessManager::new();
/// let greeter = pm
///     .spawn_with::<Greeter>(SpawnOptions::new().config(Config { greeting: "Hello".into() }))
///     .await?;
/// assert_eq!(greeter.greet("Ada".into()).await?, "Hello, Ada!");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions<C = ()> {
    config: C,
    isolation: Isolation,
    child: ChildOptions,
    keeping: Keeping,
}

impl SpawnOptions<()> {
    /// Default options: local isolation, default config, the default
    /// [`RestartPolicy`].
    pub fn new() -> Self {
        SpawnOptions::default()
    }

    /// Options for a child OS process ([`Isolation::Child`]): by default this
    /// executable started again, or [`SpawnOptions::executable`].
    pub fn child() -> Self {
        SpawnOptions::new().isolation(Isolation::Child)
    }
}

impl<C> SpawnOptions<C> {
    /// The config passed to the process's `#[init]` constructor.
    pub fn config<D>(self, config: D) -> SpawnOptions<D> {
        SpawnOptions {
            config,
            isolation: self.isolation,
            child: self.child,
            keeping: self.keeping,
        }
    }

    /// Where the process runs.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// For [`Isolation::Child`]: the executable to start instead of this one.
    /// It must host processes: its `main` is `#[titan_core::main]`, or calls
    /// [`child::host_if_child`] or [`child::serve`] first.
    pub fn executable(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.child.executable = Some(path.into());
        self
    }

    /// For [`Isolation::Child`]: how the parent reaches the child (by default
    /// the socket pair on its standard input; or a unix socket or TCP address
    /// the child listens on, which other programs can use too).
    pub fn transport(mut self, transport: crate::child::ChildTransport) -> Self {
        self.child.transport = transport;
        self
    }

    /// For [`Isolation::Child`]: everything about starting the child
    /// (executable, arguments, start timeout, connection limits).
    pub fn child_options(mut self, options: ChildOptions) -> Self {
        self.child = options;
        self
    }

    /// How the process is started again after a crash
    /// ([`RestartPolicy::default`] unless set; [`RestartPolicy::never`] to
    /// leave a crashed process down).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.keeping.restart = policy;
        self
    }

    /// How long a call made while the process restarts waits for the new
    /// instance before failing with [`Error::Unavailable`]. Default 5 s.
    pub fn restart_wait(mut self, wait: Duration) -> Self {
        self.keeping.restart_wait = wait;
        self
    }

    /// For [`Isolation::Child`]: when the child's resident memory passes
    /// `bytes` (sampled every [`sample_interval`](Self::sample_interval)),
    /// a fresh child replaces it: the new one starts, takes the calls, then
    /// the old one drains, so no call fails. Spawning another isolation with
    /// a memory limit is an [`Error::InvalidArgument`]: only a child's memory
    /// is its own.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.keeping.max_memory = Some(bytes);
        self
    }

    /// Replaces the process with a fresh instance after it was given `n`
    /// calls (the way [`max_memory`](Self::max_memory) does: no call fails).
    pub fn max_requests(mut self, n: u64) -> Self {
        self.keeping.max_requests = Some(n.max(1));
        self
    }

    /// Replaces the process with a fresh instance after it ran for `lifetime`.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.keeping.max_lifetime = Some(lifetime);
        self
    }

    /// A deadline on every call made through the returned proxy: past it the
    /// call fails with [`Error::Timeout`] (see [`Proxy::with_timeout`]).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.keeping.call_timeout = Some(timeout);
        self
    }

    /// How long a graceful stop of this process waits for its calls in
    /// flight, and then for `#[on_shutdown]` (default: the manager's
    /// [`ManagerOptions::shutdown_timeout`]).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.keeping.shutdown_timeout = Some(timeout);
        self
    }

    /// For [`Isolation::Child`]: how often its CPU and memory are read from
    /// the OS (for [`ProcessManager::metrics`] and `max_memory`). Default 1 s.
    pub fn sample_interval(mut self, interval: Duration) -> Self {
        self.keeping.sample_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// For the process a child hosts: no restarts, no probes (its parent
    /// does both).
    pub(crate) fn unsupervised(mut self) -> Self {
        self.keeping.supervised = false;
        self.keeping.restart = RestartPolicy::never();
        self
    }
}

/// Settings of a [`ProcessManager`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// How long [`ProcessManager::shutdown`] and [`ProcessManager::stop`] wait
    /// for in-flight calls before failing them, and then for `#[on_shutdown]`
    /// and what backs the process to end. Default 30 s.
    pub shutdown_timeout: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ManagerOptions {
    /// The default options.
    pub fn new() -> ManagerOptions {
        ManagerOptions::default()
    }

    /// Sets [`ManagerOptions::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ManagerOptions {
        self.shutdown_timeout = timeout;
        self
    }
}

pub(crate) struct Inner {
    options: ManagerOptions,
    next_id: AtomicU64,
    next_pool: AtomicU64,
    closed: AtomicBool,
    pub(crate) events: EventBus,
    processes: Mutex<BTreeMap<ProcessId, Arc<Managed>>>,
}

/// Spawns, tracks, restarts and stops processes. Cheap to clone; clones share
/// the processes.
#[derive(Clone)]
pub struct ProcessManager {
    pub(crate) inner: Arc<Inner>,
}

impl Default for ProcessManager {
    fn default() -> Self {
        ProcessManager::new()
    }
}

impl fmt::Debug for ProcessManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessManager")
            .field("processes", &self.list().len())
            .finish_non_exhaustive()
    }
}

/// Where a new managed process belongs, beside the manager.
#[derive(Default)]
pub(crate) struct Membership {
    pub(crate) pool: Option<PoolId>,
    pub(crate) changes: Option<Arc<AtomicU64>>,
}

impl ProcessManager {
    /// A manager with default options.
    pub fn new() -> ProcessManager {
        ProcessManager::with_options(ManagerOptions::default())
    }

    /// A manager with the given options.
    pub fn with_options(options: ManagerOptions) -> ProcessManager {
        ProcessManager {
            inner: Arc::new(Inner {
                options,
                next_id: AtomicU64::new(1),
                next_pool: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                events: EventBus::new(),
                processes: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<ProcessId, Arc<Managed>>> {
        self.inner
            .processes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn slot(&self, id: ProcessId) -> Option<Arc<Managed>> {
        self.table().get(&id).cloned()
    }

    /// Spawns `T` with default options and a default config; returns its proxy.
    pub async fn spawn<T>(&self) -> Result<T::Proxy, Error>
    where
        T: Process,
        T::Config: Default,
    {
        self.spawn_with::<T>(SpawnOptions::new().config(T::Config::default()))
            .await
    }

    /// Spawns `T` with `options`; returns its proxy.
    pub async fn spawn_with<T: Process>(
        &self,
        options: SpawnOptions<T::Config>,
    ) -> Result<T::Proxy, Error> {
        let recipe = self.recipe::<T>(&options)?;
        let slot = self.spawn_slot(&recipe, Membership::default()).await?;
        Ok(T::Proxy::from_client(recipe.client(&slot)))
    }

    /// Everything needed to start managed instances of `T` from `options`,
    /// as many times as needed.
    pub(crate) fn recipe<T: Process>(
        &self,
        options: &SpawnOptions<T::Config>,
    ) -> Result<Recipe, Error> {
        self.refuse_if_closed()?;
        if options.keeping.max_memory.is_some() && options.isolation != Isolation::Child {
            return Err(Error::InvalidArgument {
                what: "max_memory".into(),
                reason: format!(
                    "only a child process's memory is its own; spawn `{}` with `Isolation::Child` to limit it",
                    T::NAME
                ),
            });
        }
        let keeping = options.keeping.clone();
        let settings = Settings {
            restart: keeping.restart,
            restart_wait: keeping.restart_wait,
            supervised: keeping.supervised,
            max_memory: keeping.max_memory,
            max_requests: keeping.max_requests,
            max_lifetime: keeping.max_lifetime,
            sample_interval: keeping.sample_interval,
            shutdown_timeout: keeping
                .shutdown_timeout
                .unwrap_or(self.inner.options.shutdown_timeout),
        };
        Ok(Recipe {
            start: starter::<T>(options, settings.shutdown_timeout)?,
            settings,
            isolation: options.isolation,
            definition: T::DEFINITION,
            checks: T::HEALTH_CHECKS,
            type_id: TypeId::of::<T>(),
            call_timeout: keeping.call_timeout,
        })
    }

    /// Spawns one managed process from `recipe` and registers it.
    pub(crate) async fn spawn_slot(
        &self,
        recipe: &Recipe,
        membership: Membership,
    ) -> Result<Arc<Managed>, Error> {
        self.refuse_if_closed()?;
        let id = ProcessId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let slot = Slot::spawn(SlotParts {
            id,
            definition: recipe.definition,
            checks: recipe.checks,
            isolation: recipe.isolation,
            type_id: recipe.type_id,
            pool: membership.pool,
            changes: membership.changes,
            start: recipe.start.clone(),
            settings: recipe.settings.clone(),
            events: self.inner.events.clone(),
        })
        .await?;
        {
            let mut table = self.table();
            // Checked again under the lock so a concurrent shutdown cannot miss it.
            if let Err(error) = self.refuse_if_closed() {
                drop(table);
                slot.kill();
                return Err(error);
            }
            table.insert(id, slot.clone());
        }
        tracing::debug!(process = recipe.definition.name, %id, "spawned");
        Ok(slot)
    }

    fn refuse_if_closed(&self) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Unavailable {
                reason: "the process manager has shut down".into(),
            });
        }
        Ok(())
    }

    /// The lifecycle of process `id`'s current instance, for hosts that watch it.
    pub(crate) fn control(&self, id: ProcessId) -> Option<Arc<Control>> {
        self.slot(id).map(|slot| slot.current().control.clone())
    }

    /// Every managed process, by id.
    pub fn list(&self) -> Vec<ProcessInfo> {
        let slots: Vec<_> = self.table().values().cloned().collect();
        slots.iter().map(|slot| info(slot)).collect()
    }

    /// One managed process, if `id` names one.
    pub fn get(&self, id: ProcessId) -> Option<ProcessInfo> {
        self.slot(id).map(|slot| info(&slot))
    }

    /// A proxy to process `id`, which must be a `T`.
    pub fn proxy<T: Process>(&self, id: ProcessId) -> Result<T::Proxy, Error> {
        let slot = self.slot(id).ok_or_else(|| Error::ServiceNotFound {
            service: format!("{}#{id}", T::NAME),
        })?;
        if slot.type_id != TypeId::of::<T>() {
            return Err(Error::ServiceNotFound {
                service: format!("{}#{id} (process {id} is a `{}`)", T::NAME, slot.name()),
            });
        }
        Ok(T::Proxy::from_client(
            Client::new(ManagedCaller(slot.clone())).for_process(id),
        ))
    }

    /// Subscribes to the lifecycle events of every process of this manager.
    pub fn events(&self) -> Events {
        self.inner.events.subscribe(None)
    }

    /// The health of process `id`: the worst of its `#[health_check]`s, by
    /// name, as last probed (unhealthy while it is not running).
    pub fn health(&self, id: ProcessId) -> Option<HealthReport> {
        self.slot(id).map(|slot| slot.health())
    }

    /// The metrics of process `id`: calls, errors, in flight, latency
    /// percentiles, restarts, uptime, and for a child its CPU and memory.
    pub fn metrics(&self, id: ProcessId) -> Option<Metrics> {
        self.slot(id).map(|slot| slot.metrics())
    }

    /// Restarts process `id` without losing a call: a fresh instance starts
    /// (and passes its startup and readiness checks) while the old one keeps
    /// serving, takes the calls, then the old one drains. Returns once the
    /// old one has stopped. A process whose restart policy gave up on it
    /// (`ProcessStatus::Failed`), or that crashed with restarts off, comes
    /// back the same way, its restart count starting afresh.
    pub async fn restart(&self, id: ProcessId) -> Result<(), Error> {
        let slot = self.slot(id).ok_or_else(|| Error::ServiceNotFound {
            service: format!("process {id}"),
        })?;
        slot.replace(RecycleReason::Reload, true).await
    }

    /// Kills process `id` at once: calls in flight fail with
    /// [`Error::ProcessStopped`], later calls too, and it is not restarted.
    /// Returns whether `id` existed.
    pub fn kill(&self, id: ProcessId) -> bool {
        let slot = self.table().remove(&id);
        match slot {
            Some(slot) => {
                slot.kill();
                tracing::debug!(%id, process = slot.name(), "killed");
                true
            }
            None => false,
        }
    }

    /// Stops process `id` gracefully: refuses new calls, lets in-flight calls
    /// finish (up to the shutdown timeout), runs its `#[on_shutdown]`, waits
    /// for its worker thread or child process to end, then removes it. A
    /// child is asked over the wire (its connection closes), then sent
    /// SIGTERM, then SIGKILL. Returns whether `id` existed.
    pub async fn stop(&self, id: ProcessId) -> bool {
        let Some(slot) = self.slot(id) else {
            return false;
        };
        slot.stop().await;
        self.table().remove(&id);
        true
    }

    /// Stops every process gracefully, all at once, and refuses further spawns.
    /// When it returns, worker threads and child processes have ended too
    /// (unless a method still blocks a thread past the shutdown timeout).
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.closed.store(true, Ordering::Release);
        let slots: Vec<_> = self.table().values().cloned().collect();
        let stops = slots.iter().map(|slot| slot.stop());
        let cut_off: usize = futures::future::join_all(stops).await.into_iter().sum();
        self.table().clear();
        tracing::debug!(processes = slots.len(), cut_off, "shut down");
        Ok(())
    }

    pub(crate) fn next_pool_id(&self) -> u64 {
        self.inner.next_pool.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether [`ProcessManager::shutdown`] has begun.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Forgets process `id` (a pool's worker it stopped itself).
    pub(crate) fn forget(&self, id: ProcessId) {
        self.table().remove(&id);
    }
}

/// How to start managed instances of one process type, as often as needed:
/// for a restart, a recycle, or another worker of a pool.
#[derive(Clone)]
pub(crate) struct Recipe {
    start: Start,
    settings: Settings,
    isolation: Isolation,
    definition: &'static crate::definition::ServiceDefinition,
    checks: &'static [crate::health::HealthCheck],
    type_id: TypeId,
    call_timeout: Option<Duration>,
}

impl Recipe {
    /// The service name.
    pub(crate) fn name(&self) -> &'static str {
        self.definition.name
    }

    /// The deadline every call through a proxy gets, if any.
    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }

    /// The client a proxy of `slot` calls through.
    pub(crate) fn client(&self, slot: &Arc<Managed>) -> Client {
        let client = Client::new(ManagedCaller(slot.clone())).for_process(slot.id);
        match self.call_timeout {
            Some(timeout) => client.with_timeout(timeout),
            None => client,
        }
    }
}

/// How to start instances of `T` from `options`: the config is encoded once
/// and decoded for every instance, so a restart starts from the same config.
fn starter<T: Process>(options: &SpawnOptions<T::Config>, drain: Duration) -> Result<Start, Error> {
    let config: Arc<[u8]> = child::encode_config::<T>(&options.config)?.into();
    let isolation = options.isolation;
    let child_options = Arc::new(options.child.clone());
    Ok(Arc::new(
        move |id: ProcessId,
              control: Arc<Control>,
              recorder: Arc<CallRecorder>|
              -> BoxFuture<'static, Result<(Reach, Backing), Error>> {
            let config = config.clone();
            let child_options = child_options.clone();
            Box::pin(async move {
                match isolation {
                    Isolation::Local => {
                        let state = Arc::new(local::init::<T>(decode_config::<T>(&config)?).await?);
                        let hook_state = state.clone();
                        let on_shutdown: Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync> =
                            Arc::new(move || Box::pin(T::on_shutdown(hook_state.clone())));
                        let reach = Reach {
                            client: Client::new(LocalCaller::<T> {
                                state: state.clone(),
                                control: control.clone(),
                                recorder: Some(recorder),
                            }),
                            unrecorded: Client::new(LocalCaller::<T> {
                                state,
                                control,
                                recorder: None,
                            }),
                        };
                        Ok((reach, Backing::Task(on_shutdown)))
                    }
                    Isolation::Worker => {
                        let config = decode_config::<T>(&config)?;
                        let (caller, thread) =
                            worker::spawn::<T>(id, control, recorder, config, drain).await?;
                        let reach = Reach {
                            unrecorded: Client::new(caller.unrecorded()),
                            client: Client::new(caller),
                        };
                        Ok((reach, Backing::Worker(Arc::new(thread))))
                    }
                    Isolation::Child => {
                        let (caller, process) = child::spawn::<T>(
                            id,
                            control,
                            recorder,
                            config.to_vec(),
                            &child_options,
                        )
                        .await?;
                        let reach = Reach {
                            unrecorded: Client::new(caller.unrecorded()),
                            client: Client::new(caller),
                        };
                        Ok((reach, Backing::Child(Arc::new(process))))
                    }
                }
            })
        },
    ))
}

fn decode_config<T: Process>(bytes: &[u8]) -> Result<T::Config, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Init {
        process: T::NAME.to_string(),
        reason: format!(
            "its config does not survive encoding (it is kept encoded for restarts): {e}"
        ),
    })
}

fn info(slot: &Slot) -> ProcessInfo {
    ProcessInfo {
        id: slot.id,
        name: slot.definition.name,
        version: slot.definition.version,
        isolation: slot.isolation,
        status: slot.status(),
        in_flight: slot.current().control.in_flight(),
        started_at: slot.started_at(),
        restarts: slot.restarts(),
        pid: slot.pid(),
        endpoint: slot.endpoint(),
        pool: slot.pool,
    }
}
