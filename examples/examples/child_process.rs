//! Runs a calculator in a child OS process, calls it, kills it, starts another
//! and shuts down: `cargo run -p titan-examples --example child_process`.
//!
//! The child is this very executable started again: `#[titan_core::main]` sees
//! that its parent started it as a child and hosts the `calculator` instead of
//! running `main`. Calls travel over a socket pair in the wire format.

use std::time::Duration;

use titan_core::prelude::*;
use titan_core::{ProcessId, ProcessStatus};
use titan_examples::calculator::{Calculator, CalculatorProxy, MathError};

#[titan_core::main]
async fn main() -> anyhow::Result<()> {
    let pm = ProcessManager::new();
    let parent_pid = std::process::id();
    println!("parent pid           = {parent_pid}");

    let calc = pm.spawn_with::<Calculator>(SpawnOptions::child()).await?;
    let (id, child_pid) = child_of(&pm, &calc)?;
    println!("child pid            = {child_pid} (process #{id})");
    assert_ne!(child_pid, parent_pid, "the child is another OS process");
    assert!(alive(child_pid), "the child OS process is running");

    // Calls cross the process boundary; the arguments and results are serialised.
    let sum = calc.add(5, 3).await?;
    println!("add(5, 3)            = {sum}");
    assert_eq!(sum, 8);
    let product = calc.mul(6, 7).await?;
    println!("mul(6, 7)            = {product}");
    assert_eq!(product, 42);
    let total = calc.sum((1..=100).collect()).await?;
    println!("sum(1..=100)         = {total}");
    assert_eq!(total, 5050);

    // The process's state lives in the child.
    let (first, second) = (calc.count().await?, calc.count().await?);
    println!("count(), count()     = {first}, {second}");
    assert_eq!((first, second), (1, 2));

    // A typed error crosses the boundary still typed.
    match calc.div(1, 0).await {
        Err(CallError::Application(MathError::DivisionByZero)) => {
            println!("div(1, 0)            = the child said: division by zero")
        }
        other => anyhow::bail!("expected a division-by-zero error, got {other:?}"),
    }

    // Kill the child: it is gone at once, and the next call fails with a clear error.
    assert!(pm.kill(id), "process #{id} was running");
    match calc.add(1, 1).await {
        Err(error @ Error::ProcessStopped { .. }) => {
            println!("after kill: add(1, 1) failed: {error}")
        }
        other => anyhow::bail!("expected a stopped-process error after the kill, got {other:?}"),
    }
    assert!(
        exits_within(child_pid, Duration::from_secs(10)).await,
        "the killed child OS process {child_pid} exited"
    );
    println!("child {child_pid} has exited");

    // Another child: a fresh OS process with fresh state.
    let calc = pm.spawn_with::<Calculator>(SpawnOptions::child()).await?;
    let (id, second_pid) = child_of(&pm, &calc)?;
    println!("second child pid     = {second_pid} (process #{id})");
    assert_ne!(second_pid, child_pid);
    assert_ne!(second_pid, parent_pid);
    let count = calc.count().await?;
    println!("count()              = {count} (a fresh process)");
    assert_eq!(count, 1);
    let quotient = calc.div(84, 2).await?;
    println!("div(84, 2)           = {quotient}");
    assert_eq!(quotient, 42);

    // Graceful shutdown: the child hangs up and exits on its own.
    pm.shutdown().await?;
    assert!(
        exits_within(second_pid, Duration::from_secs(10)).await,
        "the second child OS process {second_pid} exited"
    );
    assert!(calc.add(1, 1).await.is_err(), "no calls after shutdown");
    println!("\nshut down cleanly; child {second_pid} has exited");
    Ok(())
}

/// The id of the process behind `calc` and the pid of its child OS process.
fn child_of(pm: &ProcessManager, calc: &CalculatorProxy) -> anyhow::Result<(ProcessId, u32)> {
    let id = calc
        .process_id()
        .ok_or_else(|| anyhow::anyhow!("the proxy reaches no managed process"))?;
    let info = pm
        .get(id)
        .ok_or_else(|| anyhow::anyhow!("process #{id} is not listed"))?;
    assert_eq!(info.isolation, Isolation::Child);
    assert_eq!(info.status, ProcessStatus::Running);
    let pid = info
        .pid
        .ok_or_else(|| anyhow::anyhow!("process #{id} has no pid"))?;
    Ok((id, pid))
}

/// Whether OS process `pid` exists (and is not a zombie awaiting its parent).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat.contains(") Z "),
            Err(_) => false,
        }
    } else {
        std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// Waits up to `limit` for OS process `pid` to be gone; returns whether it is.
async fn exits_within(pid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}
