//! Starting a child process: Titan's `spawn_with(SpawnOptions::child())` up
//! to the reply of its first call, against fork/exec of `/bin/true` and
//! waiting for it to exit.
//!
//! Run before anything is pinned, so the scheduler places parent and child as
//! it would for any program. Each child is stopped after it is measured, its
//! teardown left out of the latency.

use std::time::Instant;

use titan_core::{Proxy, SpawnOptions};

use crate::measure::{Measurement, Recorder, Settings};
use crate::placement::Placement;
use crate::report::{Case, Family, Group, Implementation, Row};
use crate::service::{Bench, check_echo, payload};

/// Measures the spawn rows of `case`.
pub async fn run(settings: &Settings, case: &Case) -> anyhow::Result<Vec<Row>> {
    let mut group = Group::new(
        Family::Spawn,
        "child spawn → first reply",
        Some(Placement::Unpinned),
        None,
        1,
    );

    if case.wants(Implementation::ForkExec) {
        group.push(
            Implementation::ForkExec,
            "fork/exec `/bin/true` + wait",
            fork_exec(settings)?,
        );
    }
    if case.wants(Implementation::Titan) {
        group.push(
            Implementation::Titan,
            "Titan `spawn_with(child)` + first call",
            titan(settings).await?,
        );
    }
    Ok(group.finish())
}

/// fork/exec of `/bin/true`, and wait for it.
fn fork_exec(settings: &Settings) -> anyhow::Result<Measurement> {
    let mut recorder = Recorder::new(settings.window());
    loop {
        let start = Instant::now();
        let status = std::process::Command::new("/bin/true").status()?;
        let end = Instant::now();
        anyhow::ensure!(status.success(), "/bin/true failed: {status}");
        if !recorder.record(start, end) {
            break;
        }
    }
    Ok(recorder.finish())
}

/// Titan's child spawn, up to the reply of the first call.
async fn titan(settings: &Settings) -> anyhow::Result<Measurement> {
    let pm = titan_core::ProcessManager::new();
    let data = payload(crate::SMALL);
    let mut recorder = Recorder::new(settings.window());
    loop {
        let start = Instant::now();
        let bench = pm.spawn_with::<Bench>(SpawnOptions::child()).await?;
        let echoed = bench.echo(data.clone()).await?;
        let end = Instant::now();
        check_echo(&data, &echoed)?;
        let going = recorder.record(start, end);
        if let Some(id) = bench.process_id() {
            pm.stop(id).await;
        }
        if !going {
            break;
        }
    }
    pm.shutdown().await?;
    Ok(recorder.finish())
}
