//! A call to a worker thread: Titan's `Isolation::Worker` against an mpsc +
//! oneshot round trip to a thread with a current-thread runtime of its own.

use titan_core::{Isolation, SpawnOptions};
use tokio::sync::mpsc;

use crate::local::{MpscOneshot, answer};
use crate::measure::{Callers, Lineup, Settings};
use crate::placement::{Cpus, Placement};
use crate::report::{Case, Implementation, Row};
use crate::service::{Bench, TitanCall, payload};

/// Measures the worker rows of `cases`, all in one `placement`, the rows of
/// each case in turns ([`Lineup`]).
pub async fn run(
    cpus: &Cpus,
    placement: Placement,
    settings: &Settings,
    cases: &[Case],
) -> anyhow::Result<Vec<Row>> {
    let data = payload(crate::SMALL);
    let wanted = |implementation| cases.iter().any(|case| case.wants(implementation));

    let mut baseline = None;
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
        baseline = Some((jobs, thread));
    }
    let pm = titan_core::ProcessManager::new();
    let mut bench = None;
    if wanted(Implementation::Titan) {
        let options = SpawnOptions::new().isolation(Isolation::Worker);
        let spawned = pm.spawn_with::<Bench>(options);
        bench = Some(cpus.start_other_side(placement, spawned).await??);
    }

    let mut rows = Vec::new();
    for case in cases {
        let mut lineup = Lineup::default();
        if let (Some((jobs, _)), true) = (&baseline, case.wants(Implementation::MpscOneshot)) {
            let caller = MpscOneshot::new(jobs.clone(), data.clone());
            lineup.add(
                Implementation::MpscOneshot,
                "mpsc + oneshot across two runtimes",
                Callers::boxed(caller, case.concurrency),
            );
        }
        if let (Some(bench), true) = (&bench, case.wants(Implementation::Titan)) {
            let caller = TitanCall::new(bench.clone(), data.clone());
            lineup.add(
                Implementation::Titan,
                "Titan proxy, `Isolation::Worker`",
                Callers::boxed(caller, case.concurrency),
            );
        }
        rows.extend(
            lineup
                .measure(settings, case.group("worker thread"))
                .await?,
        );
    }

    if let Some((jobs, thread)) = baseline {
        // The channel's last sender: the baseline's thread ends.
        drop(jobs);
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("the baseline's thread panicked"))??;
    }
    pm.shutdown().await?;
    Ok(rows)
}
