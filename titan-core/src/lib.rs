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
//! [`manager`] (spawning and stopping), [`registry`](mod@registry) (every process type in the
//! binary), [`error`] (what can go wrong), [`entry`] (`#[titan_core::main]`).

#![warn(missing_docs, unreachable_pub)]

// Lets the macros' `::titan_core::…` paths resolve inside this crate's own tests.
extern crate self as titan_core;

pub mod caller;
pub mod child;
pub mod definition;
pub mod entry;
pub mod error;
pub mod framed;
pub mod health;
pub mod host;
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
    pub use crate::manager::{Isolation, ProcessManager, SpawnOptions};
    pub use crate::process::{Process, Proxy};
    pub use crate::stream::Stream;
    // The methods of streams (`next`, `map`, `collect`, …) without the name.
    pub use futures::StreamExt as _;
    pub use titan_macros::{init, process, public};
}
