//! A pool of four renderers, each in a child OS process, behind one proxy:
//! `cargo run -p titan-examples --example pool`.
//!
//! It shows what makes Titan a process *manager*: calls routed by user to
//! sticky workers, health and metrics across the pool, a worker killed with
//! SIGKILL and brought back while the others serve, scaling, and a rolling
//! reload under load that fails no call.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use titan_core::events::EventKind;
use titan_core::pool::{PoolHandle, Strategy};
use titan_core::prelude::*;
use titan_examples::render::{Renderer, RendererProxy};

#[titan_core::main]
async fn main() -> anyhow::Result<()> {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let (renderer, pool) = pm
        .pool::<Renderer>(
            Pool::new(4)
                .strategy(Strategy::ConsistentHash)
                .spawn_options(SpawnOptions::child()),
        )
        .await?;
    wait_until_available(&pool, 4).await?;
    let health = pool.health();
    println!(
        "pool of {}: {} healthy, {} available",
        health.total, health.healthy, health.available
    );
    anyhow::ensure!(health.healthy == 4, "every worker is healthy");

    // Each user's pages come from one worker: `render`'s `#[key] user`.
    let mut homes: BTreeMap<String, HashSet<u32>> = BTreeMap::new();
    for round in 0..10 {
        for user in ["ada", "grace", "alan", "edsger", "barbara", "ken"] {
            let page = renderer
                .render(user.to_string(), format!("page {round}"))
                .await?;
            homes
                .entry(user.to_string())
                .or_default()
                .insert(page.worker_pid);
        }
    }
    for (user, pids) in &homes {
        println!("{user:>8} -> worker pid {pids:?}");
        anyhow::ensure!(pids.len() == 1, "{user} stays on one worker");
    }

    let metrics = pool.metrics();
    println!(
        "calls {} (errors {}), p50 {:?}, p99 {:?}",
        metrics.total.calls,
        metrics.total.errors,
        metrics.total.latency.p50,
        metrics.total.latency.p99
    );
    for (id, worker) in &metrics.workers {
        println!(
            "  worker #{id}: {} calls, memory {}",
            worker.calls,
            worker
                .memory_bytes
                .map_or("not sampled yet".to_string(), |b| format!(
                    "{} KiB",
                    b / 1024
                ))
        );
    }
    anyhow::ensure!(metrics.total.calls == 60, "the pool counted every call");

    // SIGKILL ada's worker: her pages move to another worker while it comes back.
    let pid = *homes["ada"].iter().next().expect("ada has a worker");
    let victim = pool
        .workers()
        .into_iter()
        .find(|id| pm.get(*id).and_then(|info| info.pid) == Some(pid))
        .expect("ada's worker is in the pool");
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?;
    println!("killed ada's worker #{victim} (pid {pid})");
    // The manager notices at once (the child's socket closes, its exit is
    // reaped); calls that were in flight on it fail with `ProcessCrashed`.
    loop {
        let event = events.recv().await.expect("the manager is alive");
        if let EventKind::Crashed { reason } = event.kind
            && event.process == victim
        {
            println!("  event: #{victim} crashed: {reason}");
            break;
        }
    }
    let mut stand_ins = HashSet::new();
    for _ in 0..20 {
        let page = renderer
            .render("ada".into(), "during recovery".into())
            .await?;
        stand_ins.insert(page.worker_pid);
    }
    println!("  ada's pages meanwhile came from {stand_ins:?}");
    loop {
        let event = events.recv().await.expect("the manager is alive");
        if let EventKind::Restarted { pid, .. } = event.kind
            && event.process == victim
        {
            println!("  event: #{victim} restarted as pid {}", pid.unwrap_or(0));
            break;
        }
    }
    wait_until_available(&pool, 4).await?;
    println!("back to {} healthy workers", pool.health().healthy);

    pool.scale(6).await?;
    println!("scaled up to {}", pool.size());
    pool.scale(3).await?;
    println!("scaled down to {}", pool.size());

    // A rolling reload under load: one worker at a time, no call fails.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(render_until(
                renderer.clone(),
                format!("user-{n}"),
                stop.clone(),
            ))
        })
        .collect();
    pool.reload().await?;
    stop.store(true, Ordering::Relaxed);
    let mut served = 0;
    for task in load {
        served += task.await??;
    }
    println!(
        "rolling reload of {} workers under load: {served} calls, none failed",
        pool.size()
    );

    pm.shutdown().await?;
    println!("shut down: {} processes left", pm.list().len());
    Ok(())
}

/// Renders pages for `user` until told to stop; fails on the first failed call.
async fn render_until(
    renderer: RendererProxy,
    user: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<usize> {
    let mut served = 0;
    while !stop.load(Ordering::Relaxed) {
        renderer.render(user.clone(), "reload".into()).await?;
        served += 1;
    }
    Ok(served)
}

async fn wait_until_available(pool: &PoolHandle, n: usize) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), async {
        while pool.health().available < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the pool did not have {n} available workers within 30 s"))
}
