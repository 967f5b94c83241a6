//! The registry of every process type compiled into this binary.
//!
//! Each `#[process]` registers itself with [`inventory`], so a binary can list
//! its process types and start any of them by name, with a postcard-encoded
//! config: what a child OS process does when its parent asks it to host a type.
//!
//! ```
//! use titan_core::prelude::*;
//!
//! #[derive(Default)]
//! struct Clock;
//!
//! #[process(version = "0.2.0")]
//! impl Clock {
//!     #[public]
//!     fn now(&self) -> u64 { 42 }
//! }
//!
//! let clock = titan_core::registry().find(|r| r.definition.name == "clock").unwrap();
//! assert_eq!(clock.definition.to_string(), "clock@0.2.0");
//! assert_eq!(clock.definition.methods[0].name, "now");
//! ```

use std::fmt;

use futures::future::BoxFuture;

use crate::caller::Client;
use crate::definition::ServiceDefinition;
use crate::error::Error;
use crate::manager::{ProcessManager, SpawnOptions};
use crate::process::{Process, Proxy};

/// One process type compiled into this binary.
pub struct Registration {
    /// Its interface.
    pub definition: &'static ServiceDefinition,
    /// The Rust type's path, for diagnostics.
    pub type_name: &'static str,
    start: fn(ProcessManager, Vec<u8>) -> BoxFuture<'static, Result<Client, Error>>,
}

impl Registration {
    /// The registration of `T`; used by `#[process]`.
    #[doc(hidden)]
    pub const fn of<T: Process>(type_name: &'static str) -> Registration {
        Registration {
            definition: T::DEFINITION,
            type_name,
            start: start::<T>,
        }
    }

    /// Spawns an instance in `pm` from a postcard-encoded config and returns an
    /// untyped [`Client`] to it, for a host that serves it to others. The
    /// instance is not restarted nor probed here: whoever started the host
    /// (a parent process) supervises it.
    pub async fn start(&self, pm: &ProcessManager, config: Vec<u8>) -> Result<Client, Error> {
        (self.start)(pm.clone(), config).await
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("definition", &format_args!("{}", self.definition))
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

fn start<T: Process>(
    pm: ProcessManager,
    config: Vec<u8>,
) -> BoxFuture<'static, Result<Client, Error>> {
    Box::pin(async move {
        let config: T::Config = postcard::from_bytes(&config).map_err(|e| Error::Decode {
            what: format!("the config of `{}`", T::NAME),
            reason: e.to_string(),
        })?;
        let proxy = pm
            .spawn_with::<T>(SpawnOptions::new().unsupervised().config(config))
            .await?;
        Ok(proxy.client().clone())
    })
}

inventory::collect!(Registration);

/// Every process type in this binary, sorted by name.
pub fn registry() -> impl Iterator<Item = &'static Registration> {
    let mut all: Vec<&'static Registration> = inventory::iter::<Registration>().collect();
    all.sort_by_key(|r| (r.definition.name, r.definition.version));
    all.into_iter()
}

/// The process type registered under `name`.
pub fn lookup(name: &str) -> Option<&'static Registration> {
    inventory::iter::<Registration>().find(|r| r.definition.name == name)
}
