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

use crate::caller::Client;
use crate::child::{self, ChildOptions, ChildProcess};
use crate::error::Error;
use crate::local::{self, Control, LocalCaller};
use crate::process::{Process, Proxy};
use crate::worker::{self, WorkerThread};

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
    /// Crashed (a method panicked).
    Crashed {
        /// What happened.
        reason: String,
    },
}

/// A snapshot of one managed process.
#[derive(Debug, Clone)]
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
    /// When it was spawned.
    pub started_at: SystemTime,
    /// The OS process id, for [`Isolation::Child`].
    pub pid: Option<u32>,
    /// Where other programs can reach it, for a child that listens
    /// ([`ChildTransport::Unix`](crate::child::ChildTransport::Unix),
    /// [`ChildTransport::Tcp`](crate::child::ChildTransport::Tcp)): a
    /// `unix://` or `tcp://` URL.
    pub endpoint: Option<String>,
}

/// How to spawn a process: its config and where it runs.
///
/// `C` is the process's `#[init]` config type; it starts as `()` and
/// [`SpawnOptions::config`] sets it, so a config of the wrong type does not
/// compile.
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
}

impl SpawnOptions<()> {
    /// Default options: local isolation, default config.
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
}

/// Settings of a [`ProcessManager`].
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// How long [`ProcessManager::shutdown`] and [`ProcessManager::stop`] wait
    /// for in-flight calls before failing them. Default 30 s.
    pub shutdown_timeout: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

struct Entry {
    name: &'static str,
    version: &'static str,
    isolation: Isolation,
    started_at: SystemTime,
    type_id: TypeId,
    control: Arc<Control>,
    client: Client,
    /// What runs the process, beyond its control.
    backing: Backing,
}

struct Inner {
    options: ManagerOptions,
    next_id: AtomicU64,
    closed: AtomicBool,
    processes: Mutex<BTreeMap<ProcessId, Entry>>,
}

/// Spawns, tracks and stops processes. Cheap to clone; clones share the processes.
#[derive(Clone)]
pub struct ProcessManager {
    inner: Arc<Inner>,
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
                closed: AtomicBool::new(false),
                processes: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<ProcessId, Entry>> {
        self.inner
            .processes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Unavailable {
                reason: "the process manager has shut down".into(),
            });
        }
        let id = ProcessId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let control = Arc::new(Control::new(format!("{}#{id}", T::NAME)));
        let (client, backing) = match options.isolation {
            Isolation::Local => {
                let state = local::init::<T>(options.config).await?;
                let caller = LocalCaller::<T> {
                    state: Arc::new(state),
                    control: control.clone(),
                };
                (Client::new(caller), Backing::Task)
            }
            Isolation::Worker => {
                let drain = self.inner.options.shutdown_timeout;
                let (caller, thread) =
                    worker::spawn::<T>(id, control.clone(), options.config, drain).await?;
                (Client::new(caller), Backing::Worker(Arc::new(thread)))
            }
            Isolation::Child => {
                let config = child::encode_config::<T>(&options.config)?;
                let (caller, process) =
                    child::spawn::<T>(id, control.clone(), config, &options.child).await?;
                (Client::new(caller), Backing::Child(Arc::new(process)))
            }
        };
        let client = client.for_process(id);
        let entry = Entry {
            name: T::NAME,
            version: T::VERSION,
            isolation: options.isolation,
            started_at: SystemTime::now(),
            type_id: TypeId::of::<T>(),
            control,
            client: client.clone(),
            backing,
        };
        {
            let mut table = self.table();
            // Checked again under the lock so a concurrent shutdown cannot miss it.
            if self.inner.closed.load(Ordering::Acquire) {
                entry.control.kill();
                return Err(Error::Unavailable {
                    reason: "the process manager has shut down".into(),
                });
            }
            table.insert(id, entry);
        }
        tracing::debug!(process = T::NAME, %id, "spawned");
        Ok(T::Proxy::from_client(client))
    }

    /// The lifecycle of process `id`, for hosts that watch it.
    pub(crate) fn control(&self, id: ProcessId) -> Option<Arc<Control>> {
        self.table().get(&id).map(|entry| entry.control.clone())
    }

    /// Every managed process, by id.
    pub fn list(&self) -> Vec<ProcessInfo> {
        self.table()
            .iter()
            .map(|(id, entry)| info(*id, entry))
            .collect()
    }

    /// One managed process, if `id` names one.
    pub fn get(&self, id: ProcessId) -> Option<ProcessInfo> {
        self.table().get(&id).map(|entry| info(id, entry))
    }

    /// A proxy to process `id`, which must be a `T`.
    pub fn proxy<T: Process>(&self, id: ProcessId) -> Result<T::Proxy, Error> {
        let table = self.table();
        let entry = table.get(&id).ok_or_else(|| Error::ServiceNotFound {
            service: format!("{}#{id}", T::NAME),
        })?;
        if entry.type_id != TypeId::of::<T>() {
            return Err(Error::ServiceNotFound {
                service: format!("{}#{id} (process {id} is a `{}`)", T::NAME, entry.name),
            });
        }
        Ok(T::Proxy::from_client(entry.client.clone()))
    }

    /// Kills process `id` at once: calls in flight fail with
    /// [`Error::ProcessStopped`], later calls too. Returns whether `id` existed.
    pub fn kill(&self, id: ProcessId) -> bool {
        let entry = self.table().remove(&id);
        match entry {
            Some(entry) => {
                entry.control.kill();
                entry.backing.kill();
                tracing::debug!(%id, process = entry.name, "killed");
                true
            }
            None => false,
        }
    }

    /// Stops process `id` gracefully: refuses new calls, lets in-flight calls
    /// finish (up to the shutdown timeout), waits for its worker thread to end
    /// if it has one, then removes it. Returns whether `id` existed.
    pub async fn stop(&self, id: ProcessId) -> bool {
        let (control, backing) = match self.table().get(&id) {
            Some(entry) => (entry.control.clone(), entry.backing.clone()),
            None => return false,
        };
        stop_process(&control, &backing, self.inner.options.shutdown_timeout).await;
        self.table().remove(&id);
        true
    }

    /// Stops every process gracefully, all at once, and refuses further spawns.
    /// When it returns, worker threads have ended too (unless a method still
    /// blocks one past the shutdown timeout).
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.closed.store(true, Ordering::Release);
        let processes: Vec<_> = self
            .table()
            .values()
            .map(|entry| (entry.control.clone(), entry.backing.clone()))
            .collect();
        let timeout = self.inner.options.shutdown_timeout;
        let stops = processes
            .iter()
            .map(|(control, backing)| stop_process(control, backing, timeout));
        let cut_off: usize = futures::future::join_all(stops).await.into_iter().sum();
        self.table().clear();
        tracing::debug!(processes = processes.len(), cut_off, "shut down");
        Ok(())
    }
}

/// Stops one process gracefully, then waits for its worker thread, if any, to
/// end. Returns how many calls had to be cut off.
async fn stop_process(control: &Control, backing: &Backing, timeout: Duration) -> usize {
    let cut_off = control.stop(timeout).await;
    backing.finish(timeout).await;
    cut_off
}

/// What runs a process, beside the [`Control`] every isolation shares.
#[derive(Clone)]
enum Backing {
    /// Nothing of its own: calls run on the callers' tasks.
    Task,
    /// Its own OS thread.
    Worker(Arc<WorkerThread>),
    /// Its own OS process.
    Child(Arc<ChildProcess>),
}

impl Backing {
    /// Ends what runs the process at once (the control is already down).
    fn kill(&self) {
        if let Backing::Child(child) = self {
            child.kill();
        }
    }

    /// After a graceful drain: lets what runs the process end, up to `timeout`.
    async fn finish(&self, timeout: Duration) {
        match self {
            Backing::Task => {}
            Backing::Worker(thread) => {
                thread.join(timeout).await;
            }
            Backing::Child(child) => {
                child.finish(timeout).await;
            }
        }
    }

    fn endpoint(&self) -> Option<String> {
        match self {
            Backing::Child(child) => child.endpoint().map(str::to_string),
            Backing::Task | Backing::Worker(_) => None,
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Backing::Child(child) => Some(child.pid()),
            Backing::Task | Backing::Worker(_) => None,
        }
    }
}

fn info(id: ProcessId, entry: &Entry) -> ProcessInfo {
    ProcessInfo {
        id,
        name: entry.name,
        version: entry.version,
        isolation: entry.isolation,
        status: entry.control.status(),
        in_flight: entry.control.in_flight(),
        started_at: entry.started_at,
        pid: entry.backing.pid(),
        endpoint: entry.backing.endpoint(),
    }
}
