//! The program entry behind `#[titan_core::main]`.
//!
//! `#[titan_core::main]` turns `async fn main` into a plain `fn main` that builds a
//! tokio runtime and runs the body on it, as `#[tokio::main]` does. It goes
//! through [`run`], which gives the entry its second role: a binary started as
//! a child process ([`Isolation::Child`](crate::Isolation::Child)) hosts the
//! process its parent asked for instead of running `main`.

use std::future::Future;

/// Which tokio scheduler `#[titan_core::main]` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    /// The multi-threaded scheduler with this many worker threads (`None`: one per core).
    MultiThread {
        /// Worker threads; `None` for tokio's default.
        worker_threads: Option<usize>,
    },
    /// Everything on the main thread.
    CurrentThread,
}

/// Builds the runtime for `flavor` and runs `main` to completion on it.
///
/// # Panics
///
/// If the operating system refuses the runtime's threads or I/O driver, as
/// `#[tokio::main]` does: a program cannot run without them.
pub fn run<F: Future>(flavor: Flavor, main: F) -> F::Output {
    // Started by a parent as a child process: host what it asked for, then exit.
    // On a current-thread runtime whatever `main` asked for: a child starts
    // faster, and a call stays on one thread from the socket to the method.
    crate::child::host_if_child();
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread { worker_threads } => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = worker_threads {
                builder.worker_threads(n);
            }
            builder
        }
    };
    #[allow(clippy::expect_used)]
    let runtime = builder
        .enable_all()
        .build()
        .expect("titan: failed to build the tokio runtime");
    runtime.block_on(main)
}
