//! Auto-scaling: a pool that grows under load and shrinks when idle.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;

use super::{PoolHandle, PoolInner, Worker};

/// How a pool resizes itself with its load.
///
/// Every `interval` the pool measures its *utilisation*: for each target that
/// is set, the workers' average (CPU % or resident memory, read from the OS
/// for child workers; calls in flight for saturation) divided by the target,
/// and the highest of these. At or above `scale_up_threshold` it grows to
/// `ceil(size × utilisation)` (by at least one); at or below
/// `scale_down_threshold` it shrinks to `ceil(size × utilisation)` (by at
/// least one); always within `min..=max`, and never again within `cooldown`
/// of its last resize. This is Kubernetes' horizontal autoscaler rule with a
/// dead band between the thresholds.
///
/// ```
/// use std::time::Duration;
/// use titan_core::pool::{AutoScale, Pool};
///
/// let pool = Pool::new(2).autoscale(
///     AutoScale::new(1, 8)
///         .target_saturation(4.0) // four calls in flight per worker
///         .cooldown(Duration::from_secs(30)),
/// );
/// # let _ = pool;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AutoScale {
    /// Never fewer workers.
    pub min: usize,
    /// Never more workers.
    pub max: usize,
    /// CPU % per worker to aim for (100 = one core), child workers only.
    pub target_cpu: Option<f64>,
    /// Resident bytes per worker to aim for, child workers only.
    pub target_memory: Option<u64>,
    /// Calls in flight per worker to aim for.
    pub target_saturation: Option<f64>,
    /// Utilisation at or above which the pool grows. Default 1.0.
    pub scale_up_threshold: f64,
    /// Utilisation at or below which the pool shrinks. Default 0.5.
    pub scale_down_threshold: f64,
    /// How long after a resize the pool holds its size. Default 30 s.
    pub cooldown: Duration,
    /// How often the load is measured. Default 1 s.
    pub interval: Duration,
}

impl AutoScale {
    /// Between `min` and `max` workers, aiming at 4 calls in flight per worker.
    pub fn new(min: usize, max: usize) -> AutoScale {
        AutoScale {
            min,
            max: max.max(min),
            target_cpu: None,
            target_memory: None,
            target_saturation: Some(4.0),
            scale_up_threshold: 1.0,
            scale_down_threshold: 0.5,
            cooldown: Duration::from_secs(30),
            interval: Duration::from_secs(1),
        }
    }

    /// Aims at this CPU % per worker.
    pub fn target_cpu(mut self, percent: f64) -> Self {
        self.target_cpu = Some(percent);
        self
    }

    /// Aims at this much resident memory per worker.
    pub fn target_memory(mut self, bytes: u64) -> Self {
        self.target_memory = Some(bytes);
        self
    }

    /// Aims at this many calls in flight per worker.
    pub fn target_saturation(mut self, calls: f64) -> Self {
        self.target_saturation = Some(calls);
        self
    }

    /// Grows at or above `up`, shrinks at or below `down` (utilisation, 1.0 = on target).
    pub fn thresholds(mut self, up: f64, down: f64) -> Self {
        self.scale_up_threshold = up;
        self.scale_down_threshold = down;
        self
    }

    /// Holds the size for this long after a resize.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Measures the load this often.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The size to move to from `size` at `utilisation`, if any.
    fn decide(&self, size: usize, utilisation: Option<f64>) -> Option<usize> {
        let bounded = |n: usize| n.clamp(self.min, self.max);
        if size < self.min || size > self.max {
            return Some(bounded(size));
        }
        let utilisation = utilisation?;
        let desired = (size as f64 * utilisation).ceil().max(0.0) as usize;
        let to = if utilisation >= self.scale_up_threshold {
            bounded(desired.max(size + 1))
        } else if utilisation <= self.scale_down_threshold {
            bounded(desired.min(size.saturating_sub(1)))
        } else {
            size
        };
        (to != size).then_some(to)
    }
}

/// The highest of the workers' average load over each target, if any is known.
fn utilisation(scale: &AutoScale, workers: &[std::sync::Arc<Worker>]) -> Option<f64> {
    if workers.is_empty() {
        return None;
    }
    let n = workers.len() as f64;
    let mut highest: Option<f64> = None;
    let mut consider = |value: f64| highest = Some(highest.map_or(value, |h| h.max(value)));
    if let Some(target) = scale.target_saturation.filter(|t| *t > 0.0) {
        let in_flight: f64 = workers.iter().map(|w| f64::from(w.load.in_flight())).sum();
        consider(in_flight / n / target);
    }
    let usage: Vec<_> = workers.iter().map(|w| w.slot.usage()).collect();
    if let Some(target) = scale.target_cpu.filter(|t| *t > 0.0) {
        let known: Vec<f64> = usage.iter().filter_map(|(cpu, _)| *cpu).collect();
        if !known.is_empty() {
            consider(known.iter().sum::<f64>() / known.len() as f64 / target);
        }
    }
    if let Some(target) = scale.target_memory.filter(|t| *t > 0) {
        let known: Vec<f64> = usage
            .iter()
            .filter_map(|(_, memory)| *memory)
            .map(|b| b as f64)
            .collect();
        if !known.is_empty() {
            consider(known.iter().sum::<f64>() / known.len() as f64 / target as f64);
        }
    }
    highest
}

/// Runs the autoscaler of a pool until the pool or its manager shuts down.
pub(super) fn start(pool: Weak<PoolInner>, scale: AutoScale) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(scale.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        let mut last_resize: Option<Instant> = None;
        loop {
            ticker.tick().await;
            let Some(inner) = pool.upgrade() else {
                return;
            };
            if inner.closed.load(std::sync::atomic::Ordering::Acquire) || inner.pm.is_closed() {
                return;
            }
            if last_resize.is_some_and(|at| at.elapsed() < scale.cooldown) {
                continue;
            }
            let workers = inner.workers();
            let Some(to) = scale.decide(workers.len(), utilisation(&scale, &workers)) else {
                continue;
            };
            tracing::info!(pool = %inner.id, from = workers.len(), to, "auto-scaling");
            drop(workers);
            match (PoolHandle { inner }).scale(to).await {
                Ok(()) => last_resize = Some(Instant::now()),
                Err(error) => tracing::warn!(%error, "auto-scaling could not resize the pool"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_the_autoscaler_rule_and_at_least_one() {
        let scale = AutoScale::new(1, 10);
        assert_eq!(scale.decide(2, Some(3.0)), Some(6));
        assert_eq!(scale.decide(2, Some(1.0)), Some(3));
        assert_eq!(scale.decide(4, Some(9.0)), Some(10), "capped at max");
    }

    #[test]
    fn shrinks_when_idle_but_never_below_min() {
        let scale = AutoScale::new(2, 10);
        assert_eq!(scale.decide(6, Some(0.0)), Some(2));
        assert_eq!(scale.decide(6, Some(0.5)), Some(3));
        assert_eq!(scale.decide(2, Some(0.0)), None);
    }

    #[test]
    fn holds_its_size_between_the_thresholds_or_without_a_measure() {
        let scale = AutoScale::new(1, 10);
        assert_eq!(scale.decide(4, Some(0.75)), None);
        assert_eq!(scale.decide(4, None), None);
    }

    #[test]
    fn a_size_outside_the_bounds_is_brought_back() {
        let scale = AutoScale::new(2, 4);
        assert_eq!(scale.decide(1, None), Some(2));
        assert_eq!(scale.decide(6, Some(0.75)), Some(4));
    }
}
