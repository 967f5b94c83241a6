//! The goals of issue 5, checked against the rows of a run. They are
//! reported, never asserted: a missed target is a finding, not a failure.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::Measurement;
use crate::placement::Placement;
use crate::report::{Family, Implementation, Row, latency, throughput};

/// A goal of issue 5, checked against the rows.
#[derive(Debug)]
pub struct Target {
    /// What the goal says.
    pub goal: String,
    /// What was measured, in words; `None` if the rows it needs were not run.
    pub measured: Option<String>,
    /// Whether the goal is met.
    pub met: bool,
}

pub(crate) fn find(
    rows: &[Row],
    family: Family,
    implementation: Implementation,
    placement: Option<Placement>,
    payload: Option<usize>,
    concurrency: usize,
) -> Option<&Measurement> {
    rows.iter()
        .find(|row| {
            row.family == family
                && row.implementation == implementation
                && row.placement == placement
                && row.payload == payload
                && row.concurrency == concurrency
        })
        .map(|row| &row.measured)
}

/// Checks every target against the rows.
pub fn check(rows: &[Row]) -> Vec<Target> {
    use Implementation::{MpscOneshot, RawEcho, Tarpc, Titan};
    let mut targets = Vec::new();
    let small = Some(crate::SMALL);

    let local = |implementation| find(rows, Family::Local, implementation, None, small, 1);
    let (titan, mpsc, tarpc) = (local(Titan), local(MpscOneshot), local(Tarpc));
    targets.push(match (titan, mpsc) {
        (Some(titan), Some(mpsc)) => {
            let ratio = titan.p50().as_secs_f64() / mpsc.p50().as_secs_f64();
            Target {
                goal: "local proxy call p50 ≤ 1.5× an mpsc + oneshot round trip".into(),
                measured: Some(format!(
                    "{} vs {}: {ratio:.2}×",
                    latency(titan.p50()),
                    latency(mpsc.p50())
                )),
                met: ratio <= 1.5,
            }
        }
        _ => missing("local proxy call p50 ≤ 1.5× an mpsc + oneshot round trip"),
    });
    targets.push(match (titan, tarpc) {
        (Some(titan), Some(tarpc)) => {
            let faster = tarpc.p50().as_secs_f64() / titan.p50().as_secs_f64();
            Target {
                goal: "local proxy call ≥ 10× faster (p50) than tarpc's in-process channel".into(),
                measured: Some(format!(
                    "{} vs {}: {faster:.1}× faster",
                    latency(titan.p50()),
                    latency(tarpc.p50())
                )),
                met: faster >= 10.0,
            }
        }
        _ => missing("local proxy call ≥ 10× faster (p50) than tarpc's in-process channel"),
    });

    for (family, name) in [(Family::Unix, "unix"), (Family::Tcp, "TCP")] {
        for payload in [crate::SMALL, crate::LARGE] {
            let size = crate::service::size_name(payload);
            let goal = format!("{name}, {size}, c=1, same vCPU: p50 ≤ 1.3× the raw echo");
            let same = Some(Placement::Same);
            let found = |implementation| find(rows, family, implementation, same, Some(payload), 1);
            targets.push(match (found(Titan), found(RawEcho)) {
                (Some(titan), Some(raw)) => {
                    let ratio = titan.p50().as_secs_f64() / raw.p50().as_secs_f64();
                    Target {
                        goal,
                        measured: Some(format!(
                            "{} vs {}: {ratio:.2}×",
                            latency(titan.p50()),
                            latency(raw.p50())
                        )),
                        met: ratio <= 1.3,
                    }
                }
                _ => missing(&goal),
            });
        }
        let found = |implementation, placement| {
            find(rows, family, implementation, Some(placement), small, 64)
        };
        let goal = format!("{name}, 16 B, c=64 on one connection, same vCPU: ≥ 1.5 M calls/s");
        targets.push(match found(Titan, Placement::Same) {
            Some(titan) => Target {
                goal,
                measured: Some(throughput(titan.throughput())),
                met: titan.throughput() >= 1.5e6,
            },
            None => missing(&goal),
        });
        let goal = format!("{name}, 16 B, c=64 on one connection, same vCPU: ≥ 3× tarpc");
        targets.push(
            match (found(Titan, Placement::Same), found(Tarpc, Placement::Same)) {
                (Some(titan), Some(tarpc)) => {
                    let ratio = titan.throughput() / tarpc.throughput();
                    Target {
                        goal,
                        measured: Some(format!(
                            "{} vs {}: {ratio:.2}×",
                            throughput(titan.throughput()),
                            throughput(tarpc.throughput())
                        )),
                        met: ratio >= 3.0,
                    }
                }
                _ => missing(&goal),
            },
        );
        let goal = format!("{name}, 16 B, c=64 on one connection, split vCPUs: ≥ 0.6 M calls/s");
        targets.push(match found(Titan, Placement::Split) {
            Some(titan) => Target {
                goal,
                measured: Some(throughput(titan.throughput())),
                met: titan.throughput() >= 0.6e6,
            },
            None => missing(&goal),
        });
    }

    let goal = format!(
        "pool pick ≤ 100 ns for every strategy at {} workers",
        crate::pool::WORKERS
    );
    let picks: Vec<&Row> = rows
        .iter()
        .filter(|row| row.family == Family::Pool)
        .collect();
    let slowest = picks.iter().max_by_key(|row| row.measured.p50());
    targets.push(match slowest {
        Some(slowest) if picks.len() == crate::pool::strategies().len() => Target {
            goal,
            measured: Some(format!(
                "slowest {} (p50 per pick, {})",
                latency(slowest.measured.p50()),
                slowest.label
            )),
            met: slowest.measured.p50() <= Duration::from_nanos(100),
        },
        _ => missing(&goal),
    });

    let goal = "child spawn to first reply p50 ≤ 3 ms";
    targets.push(
        match rows
            .iter()
            .find(|row| row.family == Family::Spawn && row.implementation == Titan)
        {
            Some(row) => Target {
                goal: goal.into(),
                measured: Some(latency(row.measured.p50())),
                met: row.measured.p50() <= Duration::from_millis(3),
            },
            None => missing(goal),
        },
    );
    targets
}

fn missing(goal: &str) -> Target {
    Target {
        goal: goal.into(),
        measured: None,
        met: false,
    }
}

/// The targets as a markdown table.
pub fn markdown(targets: &[Target]) -> String {
    let mut out = String::from("| target | measured | met? |\n| --- | --- | --- |\n");
    for target in targets {
        let (measured, met) = match &target.measured {
            Some(measured) => (measured.as_str(), if target.met { "met" } else { "missed" }),
            None => ("not run", "—"),
        };
        let _ = writeln!(out, "| {} | {measured} | {met} |", target.goal);
    }
    out
}

/// The targets as aligned text.
pub fn text(targets: &[Target]) -> String {
    let mut out = String::from("targets (goals of issue 5; reported, never asserted):\n");
    for target in targets {
        let verdict = match (&target.measured, target.met) {
            (None, _) => "not run".to_string(),
            (Some(measured), true) => format!("met     {measured}"),
            (Some(measured), false) => format!("missed  {measured}"),
        };
        let _ = writeln!(out, "  {:<72} {verdict}", target.goal);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::constant as measured;
    use crate::report::Group;

    #[test]
    fn local_targets_are_checked_and_missing_rows_are_not_run() {
        let mut group = Group::new(Family::Local, "local call", None, Some(crate::SMALL), 1);
        let ns = Duration::from_nanos;
        group.push(Implementation::MpscOneshot, "mpsc", measured(ns(400), 10));
        group.push(Implementation::Tarpc, "tarpc", measured(ns(6_000), 10));
        group.push(Implementation::Titan, "titan", measured(ns(500), 10));
        let targets = check(&group.finish());
        assert!(targets[0].met, "500 ns ≤ 1.5 × 400 ns");
        assert!(targets[1].met, "6 µs is 12× 500 ns");
        assert!(targets[2..].iter().all(|target| target.measured.is_none()));
        assert!(markdown(&targets).contains("| not run | — |"));
    }
}
