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
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::FutureExt;

use crate::caller::Client;
use crate::error::Error;
use crate::local::{Control, LocalCaller, panic_message};
use crate::process::{Process, Proxy};

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
/// Only [`Isolation::Local`] exists so far; worker threads and child OS
/// processes arrive with the wire format (see the README's "planned" list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// A task in the caller's runtime; calls move their arguments.
    #[default]
    Local,
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
}

impl SpawnOptions<()> {
    /// Default options: local isolation, default config.
    pub fn new() -> Self {
        SpawnOptions::default()
    }
}

impl<C> SpawnOptions<C> {
    /// The config passed to the process's `#[init]` constructor.
    pub fn config<D>(self, config: D) -> SpawnOptions<D> {
        SpawnOptions {
            config,
            isolation: self.isolation,
        }
    }

    /// Where the process runs.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
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
        let label = format!("{}#{id}", T::NAME);
        // A constructor that panics fails the spawn like one that returns `Err`,
        // as it would in a child process, rather than unwinding into the caller.
        let state = match AssertUnwindSafe(T::init(options.config))
            .catch_unwind()
            .await
        {
            Ok(state) => state?,
            Err(panic) => {
                return Err(Error::Init {
                    process: T::NAME.to_string(),
                    reason: format!("`#[init]` panicked: {}", panic_message(&*panic)),
                });
            }
        };
        let control = Arc::new(Control::new(label));
        let client = Client::new(LocalCaller::<T> {
            state: Arc::new(state),
            control: control.clone(),
        })
        .for_process(id);
        let entry = Entry {
            name: T::NAME,
            version: T::VERSION,
            isolation: options.isolation,
            started_at: SystemTime::now(),
            type_id: TypeId::of::<T>(),
            control,
            client: client.clone(),
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
                tracing::debug!(%id, process = entry.name, "killed");
                true
            }
            None => false,
        }
    }

    /// Stops process `id` gracefully: refuses new calls, lets in-flight calls
    /// finish (up to the shutdown timeout), then removes it. Returns whether
    /// `id` existed.
    pub async fn stop(&self, id: ProcessId) -> bool {
        let control = match self.table().get(&id) {
            Some(entry) => entry.control.clone(),
            None => return false,
        };
        control.stop(self.inner.options.shutdown_timeout).await;
        self.table().remove(&id);
        true
    }

    /// Stops every process gracefully, all at once, and refuses further spawns.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.closed.store(true, Ordering::Release);
        let controls: Vec<_> = self
            .table()
            .values()
            .map(|entry| entry.control.clone())
            .collect();
        let timeout = self.inner.options.shutdown_timeout;
        let cut_off: usize = futures::future::join_all(controls.iter().map(|c| c.stop(timeout)))
            .await
            .into_iter()
            .sum();
        self.table().clear();
        tracing::debug!(processes = controls.len(), cut_off, "shut down");
        Ok(())
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
    }
}
