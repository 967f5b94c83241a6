//! Per-process and per-pool metrics, on tokio's paused clock so that
//! latencies are exact: calls, errors, in flight, percentiles, restarts,
//! uptime, and pool totals merged from the workers' histograms.

use std::time::Duration;

use titan_core::pool::Strategy;
use titan_core::prelude::*;
use titan_core::restart::Backoff;

#[derive(Default)]
struct Timed;

#[process]
impl Timed {
    /// Takes `millis` to answer.
    #[public]
    async fn take(&self, millis: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        millis
    }

    #[public]
    async fn crash(&self) {
        panic!("crash");
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_process_counts_its_calls_errors_and_latencies() {
    let pm = ProcessManager::new();
    let timed = pm.spawn::<Timed>().await.expect("spawns");
    let id = timed.process_id().expect("managed");
    for millis in 1..=100 {
        timed.take(millis).await.expect("answers");
    }
    // Two calls that fail: past their deadline.
    let hurried = timed.with_timeout(ms(5));
    assert_eq!(hurried.take(50).await, Err(Error::Timeout));
    assert_eq!(hurried.take(50).await, Err(Error::Timeout));

    let metrics = pm.metrics(id).expect("listed");
    assert_eq!(metrics.calls, 102);
    assert_eq!(metrics.errors, 2);
    assert_eq!(metrics.in_flight, 0);
    let latency = metrics.latency;
    assert_eq!(latency.count, 102);
    let near = |d: Duration, millis: u64| d.abs_diff(ms(millis)) <= ms(1);
    assert!(near(latency.p50, 50), "p50 {:?}", latency.p50);
    assert!(near(latency.p95, 95), "p95 {:?}", latency.p95);
    assert!(near(latency.p99, 99), "p99 {:?}", latency.p99);
    assert!(near(latency.max, 100), "max {:?}", latency.max);
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_uptime_and_restarts_are_reported() {
    let pm = ProcessManager::new();
    let quick = RestartPolicy::new().backoff(Backoff::exponential(ms(10), ms(10)));
    let timed = pm
        .spawn_with::<Timed>(SpawnOptions::new().restart(quick))
        .await
        .expect("spawns");
    let id = timed.process_id().expect("managed");
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let timed = timed.clone();
            tokio::spawn(async move { timed.take(1000).await })
        })
        .collect();
    tokio::time::sleep(ms(10)).await;
    assert_eq!(pm.metrics(id).expect("listed").in_flight, 3);
    for call in slow {
        call.await.expect("joins").expect("answers");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let metrics = pm.metrics(id).expect("listed");
    assert_eq!(metrics.uptime, ms(6000));
    assert_eq!(metrics.restarts, 0);

    let _ = timed.crash().await;
    timed.take(1).await.expect("restarted, serving");
    let metrics = pm.metrics(id).expect("listed");
    assert_eq!(metrics.restarts, 1);
    assert_eq!(metrics.uptime, ms(1), "uptime of the current instance");
    assert_eq!(metrics.calls, 5, "counts survive a restart");
    assert_eq!(metrics.errors, 1, "the crashed call");
    assert_eq!(metrics.cpu_percent, None, "only a child's CPU is its own");
    assert_eq!(metrics.memory_bytes, None);
}

#[tokio::test(start_paused = true)]
async fn pool_metrics_merge_the_workers_histograms_exactly() {
    let pm = ProcessManager::new();
    let (timed, pool) = pm
        .pool::<Timed>(Pool::new(3).strategy(Strategy::RoundRobin))
        .await
        .expect("spawns");
    // Worker i (round-robin) gets the calls with millis ≡ i (mod 3).
    for millis in 1..=300 {
        timed.take(millis).await.expect("answers");
    }
    let metrics = pool.metrics();
    assert_eq!(metrics.workers.len(), 3);
    for (id, worker) in &metrics.workers {
        assert_eq!(worker.calls, 100, "worker {id}");
    }
    let total = &metrics.total;
    assert_eq!(total.calls, 300);
    assert_eq!(total.latency.count, 300);
    let near = |d: Duration, millis: u64| d.abs_diff(ms(millis)) <= ms(1);
    // The percentiles of all 300 calls, not an average of the workers' own.
    assert!(near(total.latency.p50, 150), "p50 {:?}", total.latency.p50);
    assert!(near(total.latency.p99, 297), "p99 {:?}", total.latency.p99);
    assert!(near(total.latency.max, 300));
}
