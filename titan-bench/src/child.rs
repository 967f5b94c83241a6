//! A call to a child process over its socket pair: Titan's
//! `Isolation::Child` against a raw length-prefixed echo child.
//!
//! Titan's ipc is a unix socket pair whose child end is the child's standard
//! input, so the baseline is the same: this bench started again as a raw echo
//! server ([`crate::server`]) over a socket pair on its standard input.

use titan_core::SpawnOptions;

use crate::measure::{Callers, Settings, interleaved};
use crate::placement::{Cpus, Placement};
use crate::raw::RawEcho;
use crate::report::{Case, Implementation, Row};
use crate::service::{Bench, TitanCall, payload};

/// Measures the child-process rows of `cases`, all in one `placement`, the
/// rows of each case in turns ([`interleaved`]).
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
        let mut contenders = Vec::new();
        let mut labels = Vec::new();
        // A fresh child per case: the raw echo serves its one socket pair.
        let mut raw_child = None;
        if case.wants(Implementation::RawEcho) {
            let (child, stream) = crate::server::start_raw_ipc(cpus, placement).await?;
            raw_child = Some(child);
            contenders.push(RawEcho::boxed(stream, case.payload, case.concurrency));
            labels.push((
                Implementation::RawEcho,
                "raw echo child, socket pair on stdin",
            ));
        }
        if let (Some(bench), true) = (&bench, case.wants(Implementation::Titan)) {
            let caller = TitanCall::new(bench.clone(), payload(case.payload));
            contenders.push(Callers::boxed(caller, case.concurrency));
            labels.push((Implementation::Titan, "Titan proxy, `Isolation::Child`"));
        }
        let measured = interleaved(settings, &mut contenders).await;
        drop(contenders);
        if let Some(mut child) = raw_child {
            let _ = child.kill().await;
        }
        let mut group = case.group("child process (ipc)");
        for ((implementation, label), measured) in labels.into_iter().zip(measured?) {
            group.push(implementation, label, measured);
        }
        rows.extend(group.finish());
    }
    pm.shutdown().await?;
    Ok(rows)
}
