//! Health: what a process says of itself, probed the way Kubernetes probes pods.
//!
//! A `#[health_check]` method is a named check of one [`HealthKind`]. The
//! manager calls it on its interval, through the same proxy path as any call
//! (so it works for every isolation), and gives up on it after its timeout:
//!
//! - **startup**: until every startup check has passed once, the other probes
//!   wait; a startup check that fails `failure_threshold` times in a row
//!   restarts the process.
//! - **liveness**: `failure_threshold` failures in a row (an unhealthy answer,
//!   an error, or no answer within the timeout) restart the process, per its
//!   restart policy.
//! - **readiness**: a failing readiness check takes the process out of its
//!   pool's balancing, without restarting it, until it passes again.
//!
//! ```
//! use titan_core::prelude::*;
//! use titan_core::health::{Health, HealthStatus};
//!
//! #[derive(Default)]
//! struct Cache { entries: std::sync::Mutex<Vec<u64>> }
//!
//! #[process]
//! impl Cache {
//!     #[public]
//!     async fn put(&self, value: u64) { self.entries.lock().unwrap().push(value) }
//!
//!     /// Degraded when nearly full, unhealthy when full.
//!     #[health_check(kind = "readiness", interval = "1s", timeout = "100ms", failure_threshold = 2)]
//!     async fn capacity(&self) -> Health {
//!         match self.entries.lock().unwrap().len() {
//!             0..900 => Health::healthy(),
//!             900..1000 => Health::degraded("nearly full"),
//!             _ => Health::unhealthy("full"),
//!         }
//!     }
//! }
//! # let _ = HealthStatus::Healthy;
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::definition::MethodDefinition;

/// Which question a health check answers (Kubernetes' three probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthKind {
    /// Is it alive? Failing restarts the process.
    Liveness,
    /// Should it get calls? Failing takes it out of balancing, without a restart.
    Readiness,
    /// Has it finished starting? The other probes wait until it passes;
    /// failing restarts the process.
    Startup,
}

impl fmt::Display for HealthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthKind::Liveness => "liveness",
            HealthKind::Readiness => "readiness",
            HealthKind::Startup => "startup",
        })
    }
}

/// How well something is, from best to worst; `Ord` orders by severity, so
/// the worst of several is their `max`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Working as it should.
    #[default]
    Healthy,
    /// Working, but not as well as it should (a probe counts it as a pass).
    Degraded,
    /// Not working (a probe counts it as a failure).
    Unhealthy,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        })
    }
}

/// What a `#[health_check]` method answers: a status and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why, for a status other than healthy.
    pub message: Option<String>,
}

impl Health {
    /// Healthy, nothing to say.
    pub fn healthy() -> Health {
        Health {
            status: HealthStatus::Healthy,
            message: None,
        }
    }

    /// Degraded, and why.
    pub fn degraded(message: impl Into<String>) -> Health {
        Health {
            status: HealthStatus::Degraded,
            message: Some(message.into()),
        }
    }

    /// Unhealthy, and why.
    pub fn unhealthy(message: impl Into<String>) -> Health {
        Health {
            status: HealthStatus::Unhealthy,
            message: Some(message.into()),
        }
    }
}

impl From<HealthStatus> for Health {
    fn from(status: HealthStatus) -> Health {
        Health {
            status,
            message: None,
        }
    }
}

impl From<bool> for Health {
    /// `true` is healthy, `false` unhealthy.
    fn from(ok: bool) -> Health {
        if ok {
            Health::healthy()
        } else {
            Health::unhealthy("the check returned false")
        }
    }
}

/// A `#[health_check]` method as `#[process]` records it: which method, which
/// probe, how often and how patiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// The check's method; its name names the check.
    pub method: &'static MethodDefinition,
    /// Which probe it is.
    pub kind: HealthKind,
    /// How often it is probed (`interval = "10s"`; default 10 s).
    pub interval: Duration,
    /// How long a probe may take before it counts as failed (`timeout = "1s"`; default 1 s).
    pub timeout: Duration,
    /// How many failures in a row make the check fail (`failure_threshold = 3`; default 3).
    pub failure_threshold: u32,
}

impl HealthCheck {
    /// The check's name: its method's name.
    pub fn name(&self) -> &'static str {
        self.method.name
    }
}

/// The result of one named check, as last probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's name (its method's name).
    pub name: String,
    /// Which probe it is.
    pub kind: HealthKind,
    /// Its status: unhealthy once it has failed `failure_threshold` times in a row.
    pub status: HealthStatus,
    /// Failures in a row so far.
    pub failures: u32,
    /// What its last probe said, or why it failed.
    pub message: Option<String>,
}

/// A process's health: the worst of its checks, each by name.
///
/// A process with no `#[health_check]` is healthy while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthReport {
    /// The worst status of the checks (unhealthy when the process is not running).
    pub status: HealthStatus,
    /// Whether it should get calls: running, started, and no readiness or
    /// liveness check failing.
    pub ready: bool,
    /// Each check as last probed.
    pub checks: Vec<CheckReport>,
}
