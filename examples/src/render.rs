//! A page renderer, the process the `pool` example runs in a pool of child
//! processes: a stateful worker (it counts its pages), routed by user, with
//! health checks and a shutdown hook.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use titan_core::prelude::*;

/// A rendered page, and which worker rendered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The OS process that rendered it.
    pub worker_pid: u32,
    /// How many pages that worker has rendered, this one included.
    pub rendered: u64,
    /// The page.
    pub html: String,
}

/// Renders pages. Each instance (each worker of a pool) counts its own pages.
#[derive(Default)]
pub struct Renderer {
    rendered: AtomicU64,
}

#[process(name = "renderer", version = "1.0.0")]
impl Renderer {
    /// Renders `page` for `user`. The `#[key]` makes a pool with a hashing
    /// strategy send every call for one user to the same worker.
    #[public]
    pub async fn render(&self, #[key] user: String, page: String) -> Page {
        tokio::time::sleep(Duration::from_millis(2)).await; // the work
        let rendered = self.rendered.fetch_add(1, Ordering::Relaxed) + 1;
        Page {
            worker_pid: std::process::id(),
            rendered,
            html: format!("<h1>{page}</h1><p>for {user}</p>"),
        }
    }

    /// The OS process this worker runs in.
    #[public]
    pub fn pid(&self) -> u32 {
        std::process::id()
    }

    /// Alive while it answers; a worker that stops answering is restarted.
    #[health_check(
        kind = "liveness",
        interval = "1s",
        timeout = "250ms",
        failure_threshold = 3
    )]
    fn alive(&self) -> HealthStatus {
        HealthStatus::Healthy
    }

    /// Ready to take pages (always, here).
    #[health_check(kind = "readiness", interval = "500ms", timeout = "250ms")]
    fn ready(&self) -> bool {
        true
    }

    /// Says goodbye on a graceful stop, after the last page in flight.
    #[on_shutdown]
    async fn goodbye(&self) {
        eprintln!(
            "renderer {}: stopping after {} pages",
            std::process::id(),
            self.rendered.load(Ordering::Relaxed)
        );
    }
}
