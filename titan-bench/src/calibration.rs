//! This run's machine against the one issue 5's targets were set on.
//!
//! The targets' absolute figures (1.5 M calls/s, 0.6 M calls/s) come from
//! baselines measured before Titan existed: a raw echo, tarpc, a channel,
//! fork/exec. The same baselines run in every table, so the run can say how
//! fast its machine is next to that one, and what an absolute goal comes to
//! here. The targets are still judged on their absolute figures; this is
//! context for reading them, printed beside them.

use std::fmt::Write as _;
use std::time::Duration;

use crate::placement::Placement;
use crate::report::{Family, Implementation, Row, latency, throughput};
use crate::targets::find;

/// What a reference figure measured.
#[derive(Debug, Clone, Copy)]
enum Figure {
    /// The median latency.
    P50(Duration),
    /// Calls per second.
    Throughput(f64),
}

/// A baseline the issue measured, and where its row is in a run.
struct Reference {
    what: &'static str,
    family: Family,
    implementation: Implementation,
    placement: Option<Placement>,
    concurrency: usize,
    figure: Figure,
}

/// The reference figures (2 vCPUs, tokio current_thread on both sides).
fn references() -> [Reference; 8] {
    use Family::{Local, Spawn, Tcp};
    use Implementation::{ForkExec, MpscOneshot, RawEcho, Tarpc};
    let same = Some(Placement::Same);
    let reference = |what, family, implementation, placement, concurrency, figure| Reference {
        what,
        family,
        implementation,
        placement,
        concurrency,
        figure,
    };
    [
        reference(
            "tokio mpsc + oneshot round trip, p50",
            Local,
            MpscOneshot,
            None,
            1,
            Figure::P50(Duration::from_nanos(220)),
        ),
        reference(
            "tarpc in-process channel, p50",
            Local,
            Tarpc,
            None,
            1,
            Figure::P50(Duration::from_nanos(2_800)),
        ),
        reference(
            "TCP raw echo, c=1, same vCPU, p50",
            Tcp,
            RawEcho,
            same,
            1,
            Figure::P50(Duration::from_nanos(6_300)),
        ),
        reference(
            "TCP tarpc, c=1, same vCPU, p50",
            Tcp,
            Tarpc,
            same,
            1,
            Figure::P50(Duration::from_nanos(10_600)),
        ),
        reference(
            "TCP raw echo, c=64, same vCPU",
            Tcp,
            RawEcho,
            same,
            64,
            Figure::Throughput(8.3e6),
        ),
        reference(
            "TCP tarpc, c=64, same vCPU",
            Tcp,
            Tarpc,
            same,
            64,
            Figure::Throughput(0.45e6),
        ),
        reference(
            "TCP raw echo, c=64, split vCPUs",
            Tcp,
            RawEcho,
            Some(Placement::Split),
            64,
            Figure::Throughput(0.85e6),
        ),
        reference(
            "fork/exec of /bin/true, p50",
            Spawn,
            ForkExec,
            Some(Placement::Unpinned),
            1,
            Figure::P50(Duration::from_nanos(850_000)),
        ),
    ]
}

/// One reference figure next to this run's.
#[derive(Debug)]
pub struct Comparison {
    /// The baseline, in words.
    pub what: &'static str,
    /// The figure, formatted.
    pub reference: String,
    /// This run's figure, formatted.
    pub measured: String,
    /// How many times slower this machine ran the baseline (below 1: faster).
    pub slower: f64,
}

/// Compares every reference baseline this run measured.
pub fn compare(rows: &[Row]) -> Vec<Comparison> {
    let payload = Some(crate::SMALL);
    references()
        .into_iter()
        .filter_map(|reference| {
            let row = rows.iter().find(|row| {
                row.family == reference.family
                    && row.implementation == reference.implementation
                    && row.placement == reference.placement
                    && row.concurrency == reference.concurrency
                    && (row.payload == payload || row.family == Family::Spawn)
            })?;
            let measured = &row.measured;
            Some(match reference.figure {
                Figure::P50(p50) => Comparison {
                    what: reference.what,
                    reference: latency(p50),
                    measured: latency(measured.p50()),
                    slower: measured.p50().as_secs_f64() / p50.as_secs_f64(),
                },
                Figure::Throughput(per_second) => Comparison {
                    what: reference.what,
                    reference: throughput(per_second),
                    measured: throughput(measured.throughput()),
                    slower: per_second / measured.throughput().max(f64::MIN_POSITIVE),
                },
            })
        })
        .collect()
}

/// The absolute throughput goals scaled by how this run's raw echo compares
/// with the issue's, on the same placement: what each goal comes to here.
pub fn scaled_goals(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let small = Some(crate::SMALL);
    for (placement, goal, reference) in [
        (Placement::Same, 1.5e6, 8.3e6),
        (Placement::Split, 0.6e6, 0.85e6),
    ] {
        for (family, name) in [(Family::Unix, "unix"), (Family::Tcp, "TCP")] {
            let found =
                |implementation| find(rows, family, implementation, Some(placement), small, 64);
            let (Some(titan), Some(raw)) =
                (found(Implementation::Titan), found(Implementation::RawEcho))
            else {
                continue;
            };
            let scaled = goal * raw.throughput() / reference;
            let verdict = if titan.throughput() >= scaled {
                "at or above"
            } else {
                "below"
            };
            lines.push(format!(
                "{name}, 16 B, c=64, {}: {} scaled by this run's raw echo ({} vs {}) is {}; \
                 Titan's {} is {verdict} it",
                match placement {
                    Placement::Split => "split vCPUs",
                    _ => "same vCPU",
                },
                throughput(goal),
                throughput(raw.throughput()),
                throughput(reference),
                throughput(scaled),
                throughput(titan.throughput()),
            ));
        }
    }
    lines
}

/// The comparison as a markdown table, and the scaled goals as a list.
pub fn markdown(rows: &[Row]) -> String {
    let comparisons = compare(rows);
    if comparisons.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "| baseline | issue's machine | this run | this machine is |\n| --- | --- | --- | --- |\n",
    );
    for c in &comparisons {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.what,
            c.reference,
            c.measured,
            speed(c.slower)
        );
    }
    out.push('\n');
    for line in scaled_goals(rows) {
        let _ = writeln!(out, "- {line}");
    }
    out
}

/// The comparison as aligned text.
pub fn text(rows: &[Row]) -> String {
    let comparisons = compare(rows);
    if comparisons.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("this machine against the issue's (same baselines; context, not a target):\n");
    for c in &comparisons {
        let _ = writeln!(
            out,
            "  {:<40} issue {:>10}  here {:>10}  {}",
            c.what,
            c.reference,
            c.measured,
            speed(c.slower)
        );
    }
    for line in scaled_goals(rows) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn speed(slower: f64) -> String {
    if slower >= 1.0 {
        format!("{slower:.2}× slower")
    } else {
        format!("{:.2}× faster", 1.0 / slower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::constant as measured;
    use crate::report::Group;

    #[test]
    fn a_slower_machine_scales_the_goal_down_and_says_by_how_much() {
        let mut group = Group::new(
            Family::Tcp,
            "TCP",
            Some(Placement::Same),
            Some(crate::SMALL),
            64,
        );
        // Calls counted over one second: 4.15 M/s for the raw echo, 800 k/s for Titan.
        group.push(
            Implementation::RawEcho,
            "raw",
            measured(Duration::from_nanos(240), 4_150_000),
        );
        group.push(
            Implementation::Titan,
            "titan",
            measured(Duration::from_micros(1), 800_000),
        );
        let rows = group.finish();
        let comparisons = compare(&rows);
        assert_eq!(comparisons.len(), 1);
        assert!(
            (comparisons[0].slower - 2.0).abs() < 0.01,
            "8.3 vs 4.15 M/s"
        );
        let scaled = scaled_goals(&rows);
        assert_eq!(scaled.len(), 1);
        assert!(scaled[0].contains("is 750 k/s"), "{}", scaled[0]);
        assert!(
            scaled[0].contains("800 k/s is at or above"),
            "{}",
            scaled[0]
        );
        assert!(text(&rows).contains("2.00× slower"));
    }
}
