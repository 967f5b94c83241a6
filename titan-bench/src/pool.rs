//! Picking a pool's worker: every strategy of `titan_core::pool` choosing
//! among [`WORKERS`] workers, round-robin (one shared counter) the baseline.
//!
//! A pick takes nanoseconds, too little to time one by one with a clock read
//! of its own, so picks are timed [`BATCH`] at a time, back to back, and a
//! batch's mean per pick is recorded as the latency of that batch: the p50 is
//! the median batch's, which a batch the scheduler interrupted does not move.
//! Every pick goes through `Arc<dyn Balancer>`, as the pool's do, with a new
//! call key each (the hashing strategies hash it, the others ignore it).
//!
//! The workers have figures to rank: weights 1 to 4, 32 recorded calls each
//! (100–500 µs, some failed), a sampled CPU usage, and up to two calls in
//! flight. The picks begin and end no call themselves, so every pick sees
//! the same figures. A row is measured for at most [`MAX_DURATION`] after a
//! quarter of that as warm-up, whatever `--duration` says: a pick needs no
//! longer to settle.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use titan_core::CallKey;
use titan_core::pool::{AdaptiveWeights, Balancer, Strategy, WorkerLoad, WorkerSet};

use crate::measure::{Measurement, Recorder, Settings};
use crate::report::{Case, Family, Group, Implementation, Row};

/// Workers in the pool the picks choose from.
pub const WORKERS: usize = 64;
/// Picks timed together.
const BATCH: u32 = 128;
/// The longest a row is measured.
pub const MAX_DURATION: Duration = Duration::from_millis(250);
/// How the call key changes from one pick to the next.
const KEY_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// Every strategy measured, in the table's order; round-robin first, as the
/// baseline.
pub fn strategies() -> Vec<Strategy> {
    vec![
        Strategy::RoundRobin,
        Strategy::Random,
        Strategy::WeightedRoundRobin,
        Strategy::WeightedRandom,
        Strategy::PowerOfTwoChoices,
        Strategy::KeyHash,
        Strategy::ConsistentHash,
        Strategy::LeastConnections,
        Strategy::LeastLoaded,
        Strategy::LeastResponseTime,
        Strategy::Latency,
        Strategy::Adaptive(AdaptiveWeights::default()),
    ]
}

/// The rows of the pool family, one per strategy.
pub fn implementations() -> Vec<Implementation> {
    strategies()
        .iter()
        .map(|strategy| Implementation::Pool(strategy.name()))
        .collect()
}

/// [`WORKERS`] workers with figures to rank.
fn workers() -> WorkerSet {
    let loads = (0..WORKERS as u64)
        .map(|i| {
            let load = Arc::new(WorkerLoad::new(i + 1, (i % 4) as u32 + 1));
            for call in 0..32 {
                load.begin();
                let latency = Duration::from_micros(100 + (i * 37 + call * 11) % 400);
                load.end(latency, (i + call) % 13 != 0);
            }
            for _ in 0..i % 3 {
                load.begin();
            }
            load.set_usage(((i * 17) % 100) as f32, 64 << 20);
            load
        })
        .collect();
    WorkerSet::new(loads)
}

/// Measures the pool rows of `case`.
pub fn run(settings: &Settings, case: &Case) -> anyhow::Result<Vec<Row>> {
    let settings = Settings {
        warmup: settings.warmup.min(MAX_DURATION / 4),
        duration: settings.duration.min(MAX_DURATION),
    };
    let set = workers();
    let mut group = Group::new(
        Family::Pool,
        format!("pool pick, {WORKERS} workers"),
        None,
        None,
        1,
    );
    for strategy in strategies() {
        let implementation = Implementation::Pool(strategy.name());
        if case.wants(implementation) {
            let measured = measure(&settings, &*strategy.balancer(), &set)?;
            group.push(implementation, strategy.name(), measured);
        }
    }
    Ok(group.finish())
}

/// Picks from `set` with `balancer` in batches through a warm-up and a
/// measured window.
fn measure(
    settings: &Settings,
    balancer: &dyn Balancer,
    set: &WorkerSet,
) -> anyhow::Result<Measurement> {
    let mut key = 0u64;
    for _ in 0..WORKERS {
        key = key.wrapping_add(KEY_STEP);
        let picked = balancer.pick(set, Some(CallKey(key)));
        anyhow::ensure!(
            picked.is_some_and(|i| i < set.len()),
            "a pick out of the set: {picked:?}"
        );
    }
    let window = settings.window();
    let mut recorder = Recorder::new(window);
    let mut batches = 0u64;
    loop {
        let start = Instant::now();
        for _ in 0..BATCH {
            key = key.wrapping_add(KEY_STEP);
            black_box(balancer.pick(black_box(set), Some(CallKey(key))));
        }
        let end = Instant::now();
        let per_pick = end.duration_since(start) / BATCH;
        batches += u64::from(end >= window.warm_end && end < window.end);
        if !recorder.record(end - per_pick, end) {
            break;
        }
    }
    let mut measured = recorder.finish();
    // One latency recorded per batch, but every pick counts.
    measured.calls = batches * u64::from(BATCH);
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_has_a_row_and_round_robin_comes_first() {
        let names: Vec<&str> = strategies().iter().map(Strategy::name).collect();
        assert_eq!(names[0], Strategy::RoundRobin.name());
        let distinct: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert_eq!(names.len(), 12);
    }

    #[test]
    fn a_short_run_measures_every_strategy() -> anyhow::Result<()> {
        let settings = Settings {
            warmup: Duration::from_millis(1),
            duration: Duration::from_millis(5),
        };
        let case = Case {
            family: Family::Pool,
            placement: None,
            payload: crate::SMALL,
            concurrency: 1,
            implementations: implementations(),
        };
        let rows = run(&settings, &case)?;
        assert_eq!(rows.len(), 12);
        assert_eq!(rows[0].ratio, "baseline");
        assert!(
            rows[1].ratio.starts_with("p50: round-robin "),
            "{}",
            rows[1].ratio
        );
        let labels: Vec<&str> = rows.iter().map(|row| row.label.as_str()).collect();
        let names: Vec<&str> = strategies().iter().map(Strategy::name).collect();
        assert_eq!(labels, names);
        Ok(())
    }
}
