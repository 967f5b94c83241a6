//! Pools of local workers, on tokio's paused clock: strategies through a
//! real pool, keys, circuit breaking, panic mode, crashes, manual scaling,
//! auto-scaling and rolling reloads. (Child workers: `tests/cluster.rs`;
//! each strategy's defining property in isolation: the `pool::balance` unit
//! tests.)

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use titan_core::events::EventKind;
use titan_core::pool::{AutoScale, PoolHandle, Strategy};
use titan_core::prelude::*;
use titan_core::restart::Backoff;
use titan_core::{Error, ProcessId};

static INSTANCES: AtomicU64 = AtomicU64::new(0);

struct Worker {
    instance: u64,
    slow: AtomicBool,
    unready: AtomicBool,
    hits: AtomicU64,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            slow: AtomicBool::new(false),
            unready: AtomicBool::new(false),
            hits: AtomicU64::new(0),
        }
    }
}

#[process]
impl Worker {
    /// Which instance answered; 50 ms late when slowed.
    #[public]
    async fn whoami(&self) -> u64 {
        if self.slow.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.instance
    }

    /// Counts calls on this worker: each worker keeps its own state.
    #[public]
    async fn hit(&self) -> u64 {
        self.hits.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Routed by the user: the same user always reaches the same worker.
    #[public]
    async fn session(&self, #[key] user: String) -> u64 {
        let _ = user;
        self.instance
    }

    #[public]
    async fn slow_down(&self) {
        self.slow.store(true, Ordering::Relaxed);
    }

    #[public]
    async fn set_ready(&self, ready: bool) {
        self.unready.store(!ready, Ordering::Relaxed);
    }

    /// Never answers.
    #[public]
    async fn stuck(&self) {
        std::future::pending::<()>().await;
    }

    #[public]
    async fn crash(&self) {
        panic!("worker crashed");
    }

    #[health_check(kind = "readiness", interval = "100ms", failure_threshold = 1)]
    async fn ready(&self) -> bool {
        !self.unready.load(Ordering::Relaxed)
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn pool(n: usize, strategy: Strategy) -> (ProcessManager, WorkerProxy, PoolHandle) {
    let pm = ProcessManager::new();
    let (proxy, handle) = pm
        .pool::<Worker>(Pool::new(n).strategy(strategy))
        .await
        .expect("spawns");
    // Let the first readiness probes pass.
    tokio::time::sleep(ms(10)).await;
    (pm, proxy, handle)
}

fn calls(pm: &ProcessManager, id: ProcessId) -> u64 {
    pm.metrics(id).expect("listed").calls
}

#[tokio::test(start_paused = true)]
async fn round_robin_through_a_pool_is_exactly_even() {
    let (pm, worker, pool) = pool(4, Strategy::RoundRobin).await;
    for _ in 0..100 {
        worker.hit().await.expect("answers");
    }
    for id in pool.workers() {
        assert_eq!(calls(&pm, id), 25, "worker {id}");
    }
}

#[tokio::test(start_paused = true)]
async fn each_worker_keeps_its_own_state() {
    let (_pm, worker, _pool) = pool(3, Strategy::RoundRobin).await;
    let mut counts = Vec::new();
    for _ in 0..6 {
        counts.push(worker.hit().await.expect("answers"));
    }
    assert_eq!(counts, [1, 1, 1, 2, 2, 2]);
}

#[tokio::test(start_paused = true)]
async fn least_connections_avoids_a_worker_stuck_on_a_slow_call() {
    let (pm, worker, pool) = pool(3, Strategy::LeastConnections).await;
    let stuck = tokio::spawn({
        let worker = worker.clone();
        async move { worker.stuck().await }
    });
    tokio::time::sleep(ms(1)).await;
    let busy: Vec<_> = pool
        .workers()
        .into_iter()
        .filter(|id| pm.get(*id).expect("listed").in_flight == 1)
        .collect();
    assert_eq!(busy.len(), 1);
    for _ in 0..30 {
        worker.hit().await.expect("answers");
    }
    assert_eq!(
        calls(&pm, busy[0]),
        0,
        "no call but the stuck one, still in flight"
    );
    assert_eq!(pm.get(busy[0]).expect("listed").in_flight, 1);
    stuck.abort();
}

/// Eight callers, each making `per_caller` calls one after another (a
/// steady load), and how many calls each instance answered.
async fn spread(worker: &WorkerProxy, per_caller: usize) -> HashMap<u64, usize> {
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let worker = worker.clone();
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for _ in 0..per_caller {
                    answered.push(worker.whoami().await.expect("answers"));
                }
                answered
            })
        })
        .collect();
    let mut answered = HashMap::new();
    for caller in callers {
        for instance in caller.await.expect("joins") {
            *answered.entry(instance).or_default() += 1;
        }
    }
    answered
}

async fn avoids_the_slow_worker(strategy: Strategy) {
    let name = strategy.name();
    let (pm, worker, pool) = pool(4, strategy).await;
    let slow_id = pool.workers()[0];
    let slow = pm.proxy::<Worker>(slow_id).expect("a Worker");
    slow.slow_down().await.expect("answers");
    let slow_instance = slow.whoami().await.expect("answers");
    spread(&worker, 25).await; // warm-up: every worker gets measured
    let answered = spread(&worker, 125).await;
    let total: usize = answered.values().sum();
    let to_slow = answered.get(&slow_instance).copied().unwrap_or(0);
    assert_eq!(total, 1000);
    assert!(
        to_slow * 10 < total,
        "{name}: {to_slow} of {total} calls went to the slow worker"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_sends_few_calls_to_a_worker_slowed_by_50ms() {
    avoids_the_slow_worker(Strategy::Latency).await;
}

#[tokio::test(start_paused = true)]
async fn power_of_two_choices_sends_few_calls_to_a_worker_slowed_by_50ms() {
    avoids_the_slow_worker(Strategy::PowerOfTwoChoices).await;
}

#[tokio::test(start_paused = true)]
async fn adaptive_sends_few_calls_to_a_worker_slowed_by_50ms() {
    avoids_the_slow_worker(Strategy::Adaptive(Default::default())).await;
}

#[tokio::test(start_paused = true)]
async fn least_response_time_sends_few_calls_to_a_worker_slowed_by_50ms() {
    avoids_the_slow_worker(Strategy::LeastResponseTime).await;
}

#[tokio::test(start_paused = true)]
async fn a_key_argument_makes_calls_sticky_and_a_callers_key_wins() {
    for strategy in [Strategy::KeyHash, Strategy::ConsistentHash] {
        let (_pm, worker, _pool) = pool(4, strategy).await;
        let mut reached: HashMap<String, u64> = HashMap::new();
        for round in 0..5 {
            for user in 0..20 {
                let user = format!("user-{user}");
                let instance = worker.session(user.clone()).await.expect("answers");
                let first = *reached.entry(user.clone()).or_insert(instance);
                assert_eq!(first, instance, "{user} moved in round {round}");
            }
        }
        let distinct: std::collections::HashSet<_> = reached.values().collect();
        assert!(distinct.len() > 1, "keys spread over the workers");

        // A caller's own key overrides the argument: every user lands together.
        let pinned = worker.with_key("tenant-7");
        let instances: std::collections::HashSet<_> =
            futures::future::join_all((0..20).map(|user| pinned.session(format!("user-{user}"))))
                .await
                .into_iter()
                .map(|answer| answer.expect("answers"))
                .collect();
        assert_eq!(instances.len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn an_unready_worker_gets_no_calls_but_panic_mode_spreads_over_all() {
    let (pm, worker, pool) = pool(4, Strategy::RoundRobin).await;
    let ids = pool.workers();
    pm.proxy::<Worker>(ids[0])
        .expect("a Worker")
        .set_ready(false)
        .await
        .expect("answers");
    tokio::time::sleep(ms(200)).await;
    assert_eq!(pool.health().available, 3);
    assert!(!pool.health().panic_mode);
    let before = calls(&pm, ids[0]);
    for _ in 0..30 {
        worker.hit().await.expect("answers");
    }
    assert_eq!(calls(&pm, ids[0]), before, "out of balancing");

    // Three of four unready: fewer than half available, so panic mode.
    for id in &ids[1..3] {
        pm.proxy::<Worker>(*id)
            .expect("a Worker")
            .set_ready(false)
            .await
            .expect("answers");
    }
    tokio::time::sleep(ms(200)).await;
    let health = pool.health();
    assert_eq!(health.available, 1);
    let before: Vec<_> = ids.iter().map(|id| calls(&pm, *id)).collect();
    for _ in 0..40 {
        worker.hit().await.expect("answers");
    }
    assert!(pool.health().panic_mode);
    for (id, before) in ids.iter().zip(before) {
        assert_eq!(
            calls(&pm, *id) - before,
            10,
            "panic mode spreads evenly: {id}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_worker_whose_calls_keep_failing_is_skipped_until_its_circuit_half_opens() {
    let pm = ProcessManager::new();
    let (worker, pool) = pm
        .pool::<Worker>(
            Pool::new(3)
                .strategy(Strategy::RoundRobin)
                .circuit_breaker(3, Duration::from_secs(10)),
        )
        .await
        .expect("spawns");
    tokio::time::sleep(ms(10)).await;
    let ids = pool.workers();
    pm.proxy::<Worker>(ids[0])
        .expect("a Worker")
        .slow_down()
        .await
        .expect("answers");
    let hurried = worker.with_timeout(ms(20));
    let mut timeouts = 0;
    for _ in 0..9 {
        if hurried.whoami().await == Err(Error::Timeout) {
            timeouts += 1;
        }
    }
    assert_eq!(timeouts, 3, "the slow worker's three calls timed out");
    let before = calls(&pm, ids[0]);
    for _ in 0..30 {
        hurried.whoami().await.expect("the others answer in time");
    }
    assert_eq!(calls(&pm, ids[0]), before, "its circuit is open");
    tokio::time::sleep(Duration::from_secs(11)).await;
    for _ in 0..3 {
        let _ = hurried.whoami().await;
    }
    assert_eq!(
        calls(&pm, ids[0]),
        before + 1,
        "half open: one call to try it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_crashed_worker_is_replaced_while_the_others_keep_serving() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let quick = RestartPolicy::new().backoff(Backoff::exponential(ms(500), ms(500)));
    let (worker, pool) = pm
        .pool::<Worker>(Pool::new(2).spawn_options(SpawnOptions::new().restart(quick)))
        .await
        .expect("spawns");
    tokio::time::sleep(ms(10)).await;
    let ids = pool.workers();
    let _ = pm.proxy::<Worker>(ids[0]).expect("a Worker").crash().await;
    // While it restarts, every call reaches the other worker.
    for _ in 0..20 {
        worker.hit().await.expect("the other worker serves");
    }
    loop {
        let event = events.recv().await.expect("alive");
        if matches!(event.kind, EventKind::Restarted { .. }) {
            assert_eq!(event.process, ids[0]);
            assert_eq!(event.pool, Some(pool.id()));
            break;
        }
    }
    tokio::time::sleep(ms(200)).await;
    assert_eq!(pool.health().healthy, 2);
    let before = calls(&pm, ids[0]);
    for _ in 0..20 {
        worker.hit().await.expect("answers");
    }
    assert_eq!(calls(&pm, ids[0]) - before, 10, "back in the rotation");
}

#[tokio::test(start_paused = true)]
async fn scale_adds_and_drains_workers() {
    let (pm, worker, pool) = pool(2, Strategy::RoundRobin).await;
    let mut events = pool.events();
    pool.scale(5).await.expect("grows");
    assert_eq!(pool.size(), 5);
    assert_eq!(pm.list().len(), 5);
    let scaled = loop {
        let event = events.recv().await.expect("alive");
        if matches!(event.kind, EventKind::Scaled { .. }) {
            break event;
        }
    };
    assert_eq!(scaled.kind, EventKind::Scaled { from: 2, to: 5 });

    let stuck = tokio::spawn({
        let worker = worker.clone();
        async move { worker.whoami().await }
    });
    pool.scale(1).await.expect("shrinks");
    assert_eq!(pool.size(), 1);
    assert_eq!(pm.list().len(), 1, "the others stopped and left");
    assert!(
        stuck.await.expect("joins").is_ok(),
        "a call in flight drained"
    );
    worker.hit().await.expect("the last worker serves");
}

#[tokio::test(start_paused = true)]
async fn autoscaling_grows_under_load_and_shrinks_when_idle_within_bounds_and_cooldown() {
    let pm = ProcessManager::new();
    let (worker, pool) = pm
        .pool::<Worker>(
            Pool::new(1).autoscale(
                AutoScale::new(1, 4)
                    .target_saturation(2.0)
                    .cooldown(Duration::from_secs(10))
                    .interval(Duration::from_secs(1)),
            ),
        )
        .await
        .expect("spawns");
    let mut events = pool.events();
    let started = tokio::time::Instant::now();
    // Eight calls that each take a minute: four times the target on one worker.
    let load: Vec<_> = (0..8)
        .map(|_| {
            let worker = worker.clone();
            tokio::spawn(async move { worker.stuck().await })
        })
        .collect();
    let mut resizes = Vec::new();
    while resizes.len() < 2 {
        // A guard on the paused clock: fails rather than spins if nothing comes.
        let event = tokio::time::timeout(Duration::from_secs(600), events.recv())
            .await
            .expect("the pool resizes")
            .expect("alive");
        if let EventKind::Scaled { from, to } = event.kind {
            resizes.push((started.elapsed(), from, to));
            if resizes.len() == 1 {
                assert_eq!(pool.size(), 4, "up to max, not past it");
                // Load gone: the pool is idle from now on.
                for call in &load {
                    call.abort();
                }
            }
        }
    }
    assert_eq!((resizes[0].1, resizes[0].2), (1, 4));
    assert!(resizes[0].0 <= Duration::from_secs(1), "{resizes:?}");
    assert_eq!((resizes[1].1, resizes[1].2), (4, 1), "down to min");
    assert!(
        resizes[1].0 - resizes[0].0 >= Duration::from_secs(10),
        "respects the cooldown: {resizes:?}"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(pool.size(), 1, "never below min");
}

#[tokio::test(start_paused = true)]
async fn a_rolling_reload_under_steady_load_loses_no_call() {
    let (pm, worker, pool) = pool(4, Strategy::LeastConnections).await;
    let mut events = pool.events();
    let before: Vec<_> = pool.workers();
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (worker, stop) = (worker.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match worker.whoami().await {
                        Ok(_) => ok += 1,
                        Err(error) => failed.push(error),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(ms(50)).await;
    pool.reload().await.expect("reloads");
    tokio::time::sleep(ms(50)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        let (ok, failed) = task.await.expect("joins");
        assert!(failed.is_empty(), "{failed:?}");
        total += ok;
    }
    assert!(total > 100, "the load was steady: {total} calls");
    assert_eq!(
        pool.workers(),
        before,
        "the same workers, each with a fresh instance"
    );
    let mut recycled = 0;
    while let Ok(Some(event)) = tokio::time::timeout(ms(1), events.recv()).await {
        if matches!(event.kind, EventKind::Recycled { .. }) {
            recycled += 1;
        }
    }
    assert_eq!(recycled, 4);
    for id in before {
        assert_eq!(pm.get(id).expect("listed").restarts, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn max_requests_recycles_a_worker_without_failing_a_call() {
    let pm = ProcessManager::new();
    let (worker, pool) = pm
        .pool::<Worker>(Pool::new(2).spawn_options(SpawnOptions::new().max_requests(10)))
        .await
        .expect("spawns");
    let mut instances = std::collections::HashSet::new();
    for _ in 0..100 {
        instances.insert(worker.whoami().await.expect("no call fails"));
        tokio::time::sleep(ms(1)).await;
    }
    assert!(
        instances.len() >= 8,
        "recycled every 10 calls: {}",
        instances.len()
    );
    assert_eq!(pool.size(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_reload_brings_back_a_worker_left_down() {
    let pm = ProcessManager::new();
    let (worker, pool) = pm
        .pool::<Worker>(
            Pool::new(2).spawn_options(SpawnOptions::new().restart(RestartPolicy::never())),
        )
        .await
        .expect("spawns");
    tokio::time::sleep(ms(10)).await;
    let ids = pool.workers();
    let _ = pm.proxy::<Worker>(ids[0]).expect("a Worker").crash().await;
    tokio::time::sleep(ms(10)).await;
    assert_eq!(pool.health().healthy, 1, "left down: restarts are off");
    pool.reload().await.expect("reloads");
    tokio::time::sleep(ms(200)).await;
    assert_eq!(pool.health().available, 2, "back in the pool");
    let before = calls(&pm, ids[0]);
    for _ in 0..10 {
        worker.hit().await.expect("answers");
    }
    assert_eq!(calls(&pm, ids[0]) - before, 5, "and in the rotation");
}
