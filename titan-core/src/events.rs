//! Lifecycle events: a broadcast of what happens to managed processes.
//!
//! Every [`ProcessManager`](crate::ProcessManager) has one stream of events;
//! [`ProcessManager::events`](crate::ProcessManager::events) subscribes to all
//! of it, a pool's [`events`](crate::pool::PoolHandle::events) to its workers'.
//! Tests, dashboards and the CLI watch processes this way rather than polling.
//!
//! ```
//! use titan_core::prelude::*;
//! use titan_core::events::EventKind;
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! #[process]
//! impl Echo {
//!     #[public]
//!     async fn echo(&self, text: String) -> String { text }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let pm = ProcessManager::new();
//! let mut events = pm.events();
//! let echo = pm.spawn::<Echo>().await?;
//! let event = events.recv().await.expect("the manager is alive");
//! assert_eq!(Some(event.process), echo.process_id());
//! assert!(matches!(event.kind, EventKind::Spawned { .. }));
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use tokio::sync::broadcast;

use crate::health::HealthKind;
use crate::manager::ProcessId;
use crate::pool::PoolId;

/// How many events a subscriber may fall behind before it misses the oldest.
pub const EVENT_BUFFER: usize = 1024;

/// Something that happened to a managed process.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The process it happened to (for [`EventKind::Scaled`], the pool's
    /// first worker is not meant: see [`Event::pool`]).
    pub process: ProcessId,
    /// The process's service name.
    pub name: &'static str,
    /// The pool the process works in, if any.
    pub pool: Option<PoolId>,
    /// When it happened.
    pub at: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// Started for the first time.
    Spawned {
        /// Its OS process id, for a child process.
        pid: Option<u32>,
    },
    /// Went down without being asked to: a panic, a dead child process, a
    /// failed liveness or startup check.
    Crashed {
        /// Why.
        reason: String,
    },
    /// Started again after a crash, per its restart policy.
    Restarted {
        /// Restarts in a row without a stable run (1 for the first).
        attempt: u32,
        /// Its new OS process id, for a child process.
        pid: Option<u32>,
    },
    /// A health check failed `failure_threshold` times in a row.
    Unhealthy {
        /// The check's name.
        check: &'static str,
        /// Which probe it is.
        kind: HealthKind,
        /// What the check said, or why the probe failed.
        message: String,
    },
    /// A check that was failing passed again.
    Recovered {
        /// The check's name.
        check: &'static str,
    },
    /// A pool changed size.
    Scaled {
        /// Workers before.
        from: usize,
        /// Workers after.
        to: usize,
    },
    /// Replaced by a fresh instance while it kept serving: the new one took
    /// over before the old one drained, so no call failed.
    Recycled {
        /// Why.
        reason: RecycleReason,
    },
    /// Stopped gracefully.
    Stopped,
    /// Killed: its in-flight calls failed.
    Killed,
    /// Gave up restarting: it stays down.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Why a process was replaced by a fresh instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecycleReason {
    /// Its resident memory passed `max_memory`.
    Memory {
        /// Bytes resident when sampled.
        resident: u64,
        /// The limit.
        limit: u64,
    },
    /// It served `max_requests` calls.
    Requests(u64),
    /// It ran for `max_lifetime`.
    Lifetime,
    /// A restart or a rolling reload was asked for.
    Reload,
}

impl fmt::Display for RecycleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecycleReason::Memory { resident, limit } => write!(
                f,
                "its resident memory ({resident} bytes) passed max_memory ({limit} bytes)"
            ),
            RecycleReason::Requests(n) => write!(f, "it served max_requests ({n}) calls"),
            RecycleReason::Lifetime => f.write_str("it reached max_lifetime"),
            RecycleReason::Reload => f.write_str("a reload was asked for"),
        }
    }
}

/// The sending side, one per manager.
#[derive(Clone)]
pub(crate) struct EventBus(broadcast::Sender<Event>);

impl EventBus {
    pub(crate) fn new() -> EventBus {
        EventBus(broadcast::channel(EVENT_BUFFER).0)
    }

    pub(crate) fn emit(&self, event: Event) {
        tracing::debug!(process = %event.process, name = event.name, kind = ?event.kind, "lifecycle event");
        // No subscriber is fine: events are for whoever listens.
        let _ = self.0.send(event);
    }

    pub(crate) fn subscribe(&self, pool: Option<PoolId>) -> Events {
        Events {
            inner: tokio_stream_like::Receiver::new(self.0.subscribe()),
            pool,
        }
    }
}

/// A subscription to lifecycle events: [`Events::recv`], or use it as a
/// [`futures::Stream`].
///
/// A subscriber that falls more than [`EVENT_BUFFER`] events behind misses
/// the oldest; a warning says how many.
pub struct Events {
    inner: tokio_stream_like::Receiver,
    pool: Option<PoolId>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Events {
    /// The next event; `None` once the manager is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        futures::StreamExt::next(self).await
    }

    fn wanted(&self, event: &Event) -> bool {
        self.pool.is_none() || event.pool == self.pool
    }
}

impl futures::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            match self.inner.poll_next(cx) {
                Poll::Ready(Some(event)) if !self.wanted(&event) => continue,
                other => return other,
            }
        }
    }
}

/// A broadcast receiver as a stream (what `tokio-stream`'s wrapper does,
/// without the dependency).
mod tokio_stream_like {
    use std::task::{Context, Poll};

    use futures::future::BoxFuture;
    use tokio::sync::broadcast;

    use super::Event;

    type Next = BoxFuture<'static, (Option<Event>, broadcast::Receiver<Event>)>;

    pub(super) struct Receiver {
        next: Next,
    }

    impl Receiver {
        pub(super) fn new(receiver: broadcast::Receiver<Event>) -> Receiver {
            Receiver {
                next: Box::pin(next(receiver)),
            }
        }

        pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
            let (event, receiver) = std::task::ready!(self.next.as_mut().poll(cx));
            self.next = Box::pin(next(receiver));
            Poll::Ready(event)
        }
    }

    async fn next(
        mut receiver: broadcast::Receiver<Event>,
    ) -> (Option<Event>, broadcast::Receiver<Event>) {
        loop {
            match receiver.recv().await {
                Ok(event) => return (Some(event), receiver),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "an event subscriber fell behind and missed events");
                }
                Err(broadcast::error::RecvError::Closed) => return (None, receiver),
            }
        }
    }
}
