//! A call to a child process over its socket pair: Titan's
//! `Isolation::Child` against a raw length-prefixed echo child.
//!
//! Titan's ipc is a unix socket pair whose child end is the child's standard
//! input, so the baseline is the same: this bench started again as a raw echo
//! server ([`crate::server`]) over a socket pair on its standard input.

use titan_core::SpawnOptions;

use crate::measure::{Callers, Lineup, Settings};
use crate::placement::{Cpus, Placement};
use crate::raw::RawEcho;
use crate::report::{Case, Implementation, Row};
use crate::service::{Bench, TitanCall, payload};

/// Measures the child-process rows of `cases`, all in one `placement`, the
/// rows of each case in turns ([`Lineup`]).
pub async fn run(
    cpus: &Cpus,
    placement: Placement,
    settings: &Settings,
    cases: &[Case],
) -> anyhow::Result<Vec<Row>> {
    let pm = titan_core::ProcessManager::new();
    let bench = if cases.iter().any(|case| case.wants(Implementation::Titan)) {
        let spawned = pm.spawn_with::<Bench>(SpawnOptions::child());
        Some(cpus.start_other_side(placement, spawned).await??)
    } else {
        None
    };
    let mut rows = Vec::new();
    for case in cases {
        let mut lineup = Lineup::default();
        // A fresh child per case: the raw echo serves its one socket pair.
        let mut raw_child = None;
        if case.wants(Implementation::RawEcho) {
            let (child, stream) = crate::server::start_raw_ipc(cpus, placement).await?;
            raw_child = Some(child);
            lineup.add(
                Implementation::RawEcho,
                "raw echo child, socket pair on stdin",
                RawEcho::boxed(stream, case.payload, case.concurrency),
            );
        }
        if let (Some(bench), true) = (&bench, case.wants(Implementation::Titan)) {
            let caller = TitanCall::new(bench.clone(), payload(case.payload));
            lineup.add(
                Implementation::Titan,
                "Titan proxy, `Isolation::Child`",
                Callers::boxed(caller, case.concurrency),
            );
        }
        let measured = lineup
            .measure(settings, case.group("child process (ipc)"))
            .await;
        if let Some(mut child) = raw_child {
            let _ = child.kill().await;
        }
        rows.extend(measured?);
    }
    pm.shutdown().await?;
    Ok(rows)
}
