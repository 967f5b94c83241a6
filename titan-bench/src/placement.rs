//! Where the two sides of a row run: on the same vCPU or on two.
//!
//! The bench's own side (the client) runs on one thread, a current-thread
//! tokio runtime on the main thread, pinned to the first vCPU this process
//! may use. The other side is a thread or a child process that inherits its
//! CPU affinity from the thread that starts it (Linux copies the mask at
//! `clone`, and `execve` keeps it). So to place the other side, the main
//! thread pins itself to the other side's vCPU, starts it, and pins itself
//! back: [`Cpus::start_other_side`]. That works for a server child process, a
//! child started by `Isolation::Child`, and a worker thread alike.

use std::fmt;
use std::future::Future;

use core_affinity::CoreId;

/// Whether the two sides of a row share a vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Client and server pinned to the same vCPU: every call costs both sides'
    /// software on one CPU, which is what this placement shows.
    Same,
    /// Client and server pinned to different vCPUs: what users see.
    Split,
    /// Nothing pinned: the scheduler places both sides.
    Unpinned,
}

impl Placement {
    /// The name used in scenario keys and the table.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Same => "same",
            Placement::Split => "split",
            Placement::Unpinned => "not pinned",
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The vCPUs the bench pins its sides to.
#[derive(Debug, Clone, Copy)]
pub struct Cpus {
    client: CoreId,
    other: Option<CoreId>,
}

impl Cpus {
    /// The first two vCPUs this process may run on; pins the calling thread
    /// (the client) to the first.
    pub fn pin_client() -> anyhow::Result<Cpus> {
        let cores = core_affinity::get_core_ids()
            .ok_or_else(|| anyhow::anyhow!("cannot read this process's CPU affinity"))?;
        let client = *cores
            .first()
            .ok_or_else(|| anyhow::anyhow!("this process may run on no CPU at all"))?;
        let cpus = Cpus {
            client,
            other: cores.get(1).copied(),
        };
        pin(client)?;
        Ok(cpus)
    }

    /// Whether `placement` can be had here (a split needs two vCPUs).
    pub fn supports(&self, placement: Placement) -> bool {
        placement != Placement::Split || self.other.is_some()
    }

    /// The vCPU the client runs on, and the one the other side gets.
    pub fn ids(&self, placement: Placement) -> (usize, usize) {
        let other = match (placement, self.other) {
            (Placement::Split, Some(other)) => other,
            _ => self.client,
        };
        (self.client.id, other.id)
    }

    /// Runs `start` (which starts the other side: a thread, a child process)
    /// with this thread pinned to the other side's vCPU, so that what it
    /// starts inherits that vCPU; then pins this thread back to the client's.
    ///
    /// The client runs on a current-thread runtime, so every poll of `start`
    /// happens on this thread, under the other side's affinity.
    pub async fn start_other_side<F: Future>(
        &self,
        placement: Placement,
        start: F,
    ) -> anyhow::Result<F::Output> {
        let (_, other) = self.ids(placement);
        pin(CoreId { id: other })?;
        let started = start.await;
        pin(self.client)?;
        Ok(started)
    }
}

/// Pins the calling thread to `core`.
fn pin(core: CoreId) -> anyhow::Result<()> {
    if core_affinity::set_for_current(core) {
        Ok(())
    } else {
        anyhow::bail!("cannot pin this thread to vCPU {}", core.id)
    }
}
