//! Titan's runtime: write a service as a plain struct, call it through a typed proxy.
//!
//! `#[process]` on a type's `impl` block turns its `#[public]` methods into a
//! service: it generates a typed proxy (`CalculatorProxy` for `Calculator`), a
//! dispatch table keyed by compile-time method ids, a [`ServiceDefinition`] and a
//! [`registry()`] entry. A [`ProcessManager`] spawns processes and hands out
//! proxies; a call looks like a local method call whatever stands behind the
//! proxy.
//!
//! ```
//! use titan_core::prelude::*;
//!
//! #[derive(Default)]
//! pub struct Calculator { calls: u64 }
//!
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! pub enum MathError { DivisionByZero }
//!
//! #[process(name = "calculator", version = "1.0.0")]
//! impl Calculator {
//!     /// Adds two numbers.
//!     #[public]
//!     pub async fn add(&self, a: i64, b: i64) -> i64 { a + b }
//!
//!     /// Divides, or says why not.
//!     #[public]
//!     pub fn div(&self, a: i64, b: i64) -> Result<i64, MathError> {
//!         if b == 0 { Err(MathError::DivisionByZero) } else { Ok(a / b) }
//!     }
//!
//!     /// Counts calls; `&mut self` gets exclusive access.
//!     #[public]
//!     pub async fn count(&mut self) -> u64 { self.calls += 1; self.calls }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let pm = ProcessManager::new();
//! let calc = pm.spawn::<Calculator>().await?;
//! assert_eq!(calc.add(5, 3).await?, 8);
//! assert_eq!(calc.div(1, 0).await, Err(CallError::Application(MathError::DivisionByZero)));
//! assert_eq!(calc.count().await?, 1);
//! pm.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Modules, one per concept: [`process`](mod@process) (the service model), [`definition`]
//! (what a service offers), [`caller`] (how a proxy reaches a process),
//! [`manager`] (spawning, restarting and stopping), [`restart`] (restart
//! policies), [`health`] (`#[health_check]` probes), [`metrics`] (calls and
//! latencies), [`events`] (lifecycle events), [`pool`] (several workers
//! behind one proxy), [`registry`](mod@registry) (every process type in the
//! binary), [`error`] (what can go wrong), [`entry`] (`#[titan_core::main]`).

#![warn(missing_docs, unreachable_pub)]

// Lets the macros' `::titan_core::…` paths resolve inside this crate's own tests.
extern crate self as titan_core;

pub mod caller;
pub mod child;
pub mod definition;
pub mod entry;
pub mod error;
pub mod events;
pub mod framed;
pub mod health;
pub mod host;
mod lifecycle;
mod local;
pub mod manager;
pub mod metrics;
mod os;
pub mod pool;
pub mod process;
pub mod registry;
pub mod restart;
pub mod stream;
mod streaming;
pub mod wire;
mod worker;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use caller::{CallKey, Caller, Client, ItemStream, Moved, Payload, Request, Response};
pub use definition::{ArgDefinition, MethodDefinition, MethodId, Receiver, ServiceDefinition};
pub use error::{CallError, Error, ErrorCode};
pub use manager::{
    Isolation, ManagerOptions, ProcessId, ProcessInfo, ProcessManager, ProcessStatus, SpawnOptions,
};
pub use process::{Process, Proxy};
pub use registry::{Registration, lookup, registry};
pub use stream::Stream;

/// Marks an inherent `impl` block as a process. See the crate docs.
///
/// Options: `name = "..."` (default: the type name in kebab-case),
/// `version = "x.y.z"` (semver, default `0.1.0`), `description = "..."`
/// (default: the impl block's doc comment).
///
/// Inside the block, attributes say what each function is:
///
/// | attribute | on | what it does |
/// | --- | --- | --- |
/// | [`#[public]`](public) | methods | the interface: one proxy method each |
/// | [`#[init]`](init) | one associated `fn` | builds the process from its config |
/// | [`#[health_check]`](health_check) | methods | probed by the manager; also part of the interface |
/// | [`#[on_shutdown]`](on_shutdown) | one method | runs when the process stops |
/// | [`#[key]`](key) | one argument of a `#[public]` method | routes the call in a pool that balances by key |
///
/// Functions with none of them are the type's own helpers, left alone.
pub use titan_macros::process;

/// Marks a method of a `#[process]` impl block as part of its interface.
///
/// Only meaningful inside `#[process]`; anywhere else it is a compile error.
pub use titan_macros::public;

/// Marks the associated `fn` that builds a process from its config:
/// `#[init] async fn new(config: C) -> Result<Self, E>` (or `-> Self`).
///
/// Only meaningful inside `#[process]`; anywhere else it is a compile error.
pub use titan_macros::init;

/// Marks a method of a `#[process]` impl block as a health check, which the
/// manager probes on an interval (see [`health`](mod@health) for what each kind does).
///
/// Options, all optional:
///
/// | option | default | meaning |
/// | --- | --- | --- |
/// | `kind` | `"liveness"` | `"liveness"`, `"readiness"` or `"startup"` ([`HealthKind`](health::HealthKind)) |
/// | `interval` | `"10s"` | how often it is probed |
/// | `timeout` | `"1s"` | how long a probe may take before it counts as failed |
/// | `failure_threshold` | `3` | how many failures in a row fail the check |
///
/// Durations are strings checked at compile time: a number and a unit, `ns`,
/// `us`, `ms`, `s`, `m`, `h` or `d` (`"500ms"`, `"1.5s"`, `"2m"`); none may be zero.
///
/// The method takes `&self` (or `&mut self`, which waits for exclusive access)
/// and nothing else, may be `async` or not, and returns [`Health`](health::Health),
/// [`HealthStatus`](health::HealthStatus) or `bool` (`true` is healthy), or any
/// type that converts into `Health`.
///
/// A health check is part of the interface: it has an entry in
/// [`Process::DEFINITION`] (whose result is `"Health"`) and a proxy method,
/// with the method's own visibility, that returns `Result<Health, Error>`, so
/// any caller can probe it. [`Process::HEALTH_CHECKS`] lists the checks with
/// their options.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use titan_core::health::HealthKind;
/// use titan_core::prelude::*;
///
/// #[derive(Default)]
/// struct Database { connected: AtomicBool }
///
/// #[process]
/// impl Database {
///     #[public]
///     async fn connect(&self) { self.connected.store(true, Ordering::SeqCst) }
///
///     /// Alive as long as it answers.
///     #[health_check]
///     fn alive(&self) -> bool { true }
///
///     /// Ready once connected.
///     #[health_check(kind = "readiness", interval = "5s", timeout = "500ms", failure_threshold = 2)]
///     async fn connection(&self) -> Health {
///         if self.connected.load(Ordering::SeqCst) {
///             Health::healthy()
///         } else {
///             Health::unhealthy("not connected yet")
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let check = &Database::HEALTH_CHECKS[1];
/// assert_eq!((check.name(), check.kind), ("connection", HealthKind::Readiness));
/// assert_eq!((check.interval, check.timeout), (Duration::from_secs(5), Duration::from_millis(500)));
/// assert_eq!(check.failure_threshold, 2);
/// assert_eq!(Database::DEFINITION.method("connection").map(|m| m.result), Some("Health"));
///
/// let pm = ProcessManager::new();
/// let db = pm.spawn::<Database>().await?;
/// assert_eq!(db.connection().await?, Health::unhealthy("not connected yet"));
/// db.connect().await?;
/// assert_eq!(db.connection().await?, Health::healthy());
/// assert_eq!(db.alive().await?.status, HealthStatus::Healthy);
/// # Ok(()) }
/// ```
///
/// Only meaningful inside `#[process]`; anywhere else it is a compile error.
pub use titan_macros::health_check;

/// Marks the method a process runs when it stops gracefully: after the calls
/// in flight have drained, before the instance is dropped. At most one per
/// process.
///
/// It takes `&self` or `&mut self` (which waits for exclusive access) and
/// nothing else, may be `async` or not, and returns nothing: handle failures
/// inside it. It is not part of the interface: no proxy method, no entry in
/// the definition.
///
/// ```
/// use titan_core::prelude::*;
///
/// #[derive(Default)]
/// struct Journal { pending: Vec<String> }
///
/// #[process]
/// impl Journal {
///     #[public]
///     async fn write(&mut self, line: String) { self.pending.push(line) }
///
///     /// Writes out what is still pending.
///     #[on_shutdown]
///     async fn flush(&mut self) {
///         for line in self.pending.drain(..) {
///             println!("{line}");
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let pm = ProcessManager::new();
/// let journal = pm.spawn::<Journal>().await?;
/// journal.write("hello".into()).await?;
/// pm.shutdown().await?; // drains the calls in flight, then runs `flush`
/// # Ok(()) }
/// ```
///
/// Only meaningful inside `#[process]`; anywhere else it is a compile error.
pub use titan_macros::on_shutdown;

/// Marks the argument of a `#[public]` method that routes its calls: in a
/// pool whose strategy balances by key (key-hash, consistent-hash), calls
/// with equal values of that argument reach the same worker. Elsewhere the key
/// is ignored.
///
/// `#[process]` reads it (no import needed): the proxy method takes the
/// argument's [`CallKey::of`] before sending it and sets it as the request's
/// [`key`](Request::key); [`MethodDefinition::key`] records the argument's
/// name. At most one argument per method may be the key, not a stream
/// argument, and its type must implement [`Hash`](std::hash::Hash).
///
/// A key the caller sets explicitly, with [`Proxy::with_key`] (or
/// [`Client::with_key`]), takes precedence over the argument's.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use titan_core::prelude::*;
///
/// #[derive(Default)]
/// struct Sessions { visits: Mutex<HashMap<String, u64>> }
///
/// #[process]
/// impl Sessions {
///     /// Counts a user's visits: each user's calls stay on one worker.
///     #[public]
///     async fn visit(&self, #[key] user: String, page: String) -> u64 {
///         let _ = page;
///         let mut visits = self.visits.lock().unwrap();
///         let count = visits.entry(user).or_default();
///         *count += 1;
///         *count
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// assert_eq!(Sessions::DEFINITION.method("visit").and_then(|m| m.key), Some("user"));
///
/// let pm = ProcessManager::new();
/// let sessions = pm.spawn::<Sessions>().await?;
/// assert_eq!(sessions.visit("ada".into(), "/".into()).await?, 1);
/// // Keyed by the tenant instead of the user, for these calls.
/// let by_tenant = sessions.with_key("tenant-7");
/// assert_eq!(by_tenant.visit("ada".into(), "/about".into()).await?, 2);
/// # Ok(()) }
/// ```
///
/// On anything but an argument inside `#[process]` it is a compile error.
pub use titan_macros::key;

/// Runs `async fn main` on a tokio runtime, like `#[tokio::main]`.
///
/// Options: `flavor = "multi_thread"` (default) or `"current_thread"`,
/// `worker_threads = N`.
///
/// ```
/// #[titan_core::main(flavor = "current_thread")]
/// async fn main() -> Result<(), titan_core::Error> {
///     Ok(())
/// }
/// ```
pub use titan_macros::main;

/// What most programs need: `use titan_core::prelude::*;`.
pub mod prelude {
    pub use crate::caller::Client;
    pub use crate::error::{CallError, Error};
    pub use crate::health::{Health, HealthStatus};
    pub use crate::manager::{Isolation, ProcessManager, SpawnOptions};
    pub use crate::pool::Pool;
    pub use crate::process::{Process, Proxy};
    pub use crate::restart::RestartPolicy;
    pub use crate::stream::Stream;
    // The methods of streams (`next`, `map`, `collect`, …) without the name.
    pub use futures::StreamExt as _;
    pub use titan_macros::{health_check, init, on_shutdown, process, public};
}
