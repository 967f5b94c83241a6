//! A call to a worker thread: Titan's `Isolation::Worker` against an mpsc +
//! oneshot round trip to a thread with a current-thread runtime of its own.

use titan_core::{Isolation, SpawnOptions};
use tokio::sync::mpsc;

use crate::local::{MpscOneshot, answer};
use crate::measure::{Settings, closed_loop};
use crate::placement::{Cpus, Placement};
use crate::report::{Case, Group, Implementation, Row};
use crate::service::{Bench, TitanCall, payload};

/// Measures the worker rows of `cases`, all in one `placement`.
pub async fn run(
    cpus: &Cpus,
    placement: Placement,
    settings: &Settings,
    cases: &[Case],
) -> anyhow::Result<Vec<Row>> {
    let data = payload(crate::SMALL);
    let mut groups: Vec<Group> = cases
        .iter()
        .map(|case| case.group("worker thread"))
        .collect();
    let wanted = |implementation| cases.iter().any(|case| case.wants(implementation));

    if wanted(Implementation::MpscOneshot) {
        let (jobs, received) = mpsc::unbounded_channel();
        let thread = cpus
            .start_other_side(placement, async {
                std::thread::Builder::new()
                    .name("bench-worker".into())
                    .spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        runtime.block_on(answer(received));
                        anyhow::Ok(())
                    })
            })
            .await??;
        for (case, group) in cases.iter().zip(&mut groups) {
            if case.wants(Implementation::MpscOneshot) {
                let caller = MpscOneshot::new(jobs.clone(), data.clone());
                let measured = closed_loop(settings, case.concurrency, caller).await?;
                group.push(
                    Implementation::MpscOneshot,
                    "mpsc + oneshot across two runtimes",
                    measured,
                );
            }
        }
        drop(jobs);
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("the baseline's thread panicked"))??;
    }

    if wanted(Implementation::Titan) {
        let pm = titan_core::ProcessManager::new();
        let options = SpawnOptions::new().isolation(Isolation::Worker);
        let bench = cpus
            .start_other_side(placement, pm.spawn_with::<Bench>(options))
            .await??;
        for (case, group) in cases.iter().zip(&mut groups) {
            if case.wants(Implementation::Titan) {
                let caller = TitanCall::new(bench.clone(), data.clone());
                let measured = closed_loop(settings, case.concurrency, caller).await?;
                group.push(
                    Implementation::Titan,
                    "Titan proxy, `Isolation::Worker`",
                    measured,
                );
            }
        }
        pm.shutdown().await?;
    }
    Ok(groups.into_iter().flat_map(Group::finish).collect())
}
