//! A call to a child process over its socket pair: Titan's
//! `Isolation::Child` against a raw length-prefixed echo child.
//!
//! Titan's ipc is a unix socket pair whose child end is the child's standard
//! input, so the baseline is the same: this bench started again as a raw echo
//! server ([`crate::server`]) over a socket pair on its standard input.

use titan_core::SpawnOptions;

use crate::measure::{Settings, closed_loop};
use crate::placement::{Cpus, Placement};
use crate::report::{Case, Group, Implementation, Row};
use crate::service::{Bench, TitanCall, payload};

/// Measures the child-process rows of `cases`, all in one `placement`.
pub async fn run(
    cpus: &Cpus,
    placement: Placement,
    settings: &Settings,
    cases: &[Case],
) -> anyhow::Result<Vec<Row>> {
    let mut groups: Vec<Group> = cases
        .iter()
        .map(|case| case.group("child process (ipc)"))
        .collect();

    for (case, group) in cases.iter().zip(&mut groups) {
        if case.wants(Implementation::RawEcho) {
            // A fresh child per row: the raw echo serves its one socket pair.
            let (mut child, stream) = crate::server::start_raw_ipc(cpus, placement).await?;
            let measured =
                crate::raw::measure(stream, case.payload, case.concurrency, settings).await?;
            let _ = child.kill().await;
            group.push(
                Implementation::RawEcho,
                "raw echo child, socket pair on stdin",
                measured,
            );
        }
    }

    if cases.iter().any(|case| case.wants(Implementation::Titan)) {
        let pm = titan_core::ProcessManager::new();
        let bench = cpus
            .start_other_side(placement, pm.spawn_with::<Bench>(SpawnOptions::child()))
            .await??;
        for (case, group) in cases.iter().zip(&mut groups) {
            if case.wants(Implementation::Titan) {
                let caller = TitanCall::new(bench.clone(), payload(case.payload));
                let measured = closed_loop(settings, case.concurrency, caller).await?;
                group.push(
                    Implementation::Titan,
                    "Titan proxy, `Isolation::Child`",
                    measured,
                );
            }
        }
        pm.shutdown().await?;
    }
    Ok(groups.into_iter().flat_map(Group::finish).collect())
}
