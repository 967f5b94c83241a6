//! Pools and lifecycle with child OS processes, the cluster scenarios of the
//! seed documents: every worker healthy, round-robin across distinct pids,
//! recovery from SIGKILL, state kept per worker, metrics across the pool;
//! and for children in particular: graceful shutdown with `#[on_shutdown]`,
//! SIGTERM then SIGKILL for a child that will not stop, CPU and memory read
//! from the OS, and `max_memory`.
//!
//! Like `tests/child.rs`, this binary has `harness = false` and calls
//! `host_if_child` first, so it can start itself again as each child.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use libtest_mimic::Arguments;
use titan_core::events::{EventKind, RecycleReason};
use titan_core::pool::{PoolHandle, Strategy};
use titan_core::prelude::*;
use titan_core::restart::Backoff;

#[path = "support/harness.rs"]
mod harness;
use harness::trial;

const HANG_GUARD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct NodeConfig {
    /// Where `#[on_shutdown]` appends a line, if anywhere.
    shutdown_log: Option<PathBuf>,
    /// How long `#[on_shutdown]` takes.
    shutdown_millis: u64,
}

struct Node {
    config: NodeConfig,
    counter: AtomicU64,
    hoard: Mutex<Vec<Vec<u8>>>,
}

#[process(name = "node")]
impl Node {
    #[init]
    fn new(config: NodeConfig) -> Self {
        Node {
            config,
            counter: AtomicU64::new(0),
            hoard: Mutex::new(Vec::new()),
        }
    }

    #[public]
    fn pid(&self) -> u32 {
        std::process::id()
    }

    #[public]
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    #[public]
    fn increment(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    #[public]
    fn counter(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    #[public]
    async fn slow(&self, millis: u64) -> u32 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        std::process::id()
    }

    /// Allocates and touches `mib` MiB more, and keeps it.
    #[public]
    fn hog(&self, mib: usize) {
        self.hoard
            .lock()
            .expect("the hoard lock")
            .push(vec![7_u8; mib << 20]);
    }

    /// Spins for `millis` of CPU time.
    #[public]
    fn spin(&self, millis: u64) -> u64 {
        let until = std::time::Instant::now() + Duration::from_millis(millis);
        let mut n = 0_u64;
        while std::time::Instant::now() < until {
            n = n.wrapping_add(1);
        }
        n
    }

    /// Blocks the child's only runtime thread: nothing it hosts answers any more.
    #[public]
    fn freeze(&self) {
        std::thread::sleep(Duration::from_secs(3600));
    }

    #[health_check(kind = "readiness", interval = "200ms")]
    fn ready(&self) -> bool {
        true
    }

    #[health_check(
        kind = "liveness",
        interval = "300ms",
        timeout = "150ms",
        failure_threshold = 2
    )]
    fn alive(&self) -> bool {
        true
    }

    #[on_shutdown]
    async fn flush(&self) {
        tokio::time::sleep(Duration::from_millis(self.config.shutdown_millis)).await;
        if let Some(path) = &self.config.shutdown_log {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("opens the log");
            writeln!(file, "on_shutdown in {}", std::process::id()).expect("writes");
        }
    }
}

fn children() -> SpawnOptions<NodeConfig> {
    SpawnOptions::child().config(NodeConfig::default())
}

fn quick_restarts(options: SpawnOptions<NodeConfig>) -> SpawnOptions<NodeConfig> {
    options.restart(RestartPolicy::new().backoff(Backoff::exponential(
        Duration::from_millis(50),
        Duration::from_millis(50),
    )))
}

async fn guarded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

/// Waits until `condition` holds, polling.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    guarded(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// A pool of `n` child workers.
async fn pool_of(pm: &ProcessManager, n: usize, strategy: Strategy) -> (NodeProxy, PoolHandle) {
    pm.pool::<Node>(Pool::new(n).strategy(strategy).spawn_options(children()))
        .await
        .expect("spawns")
}

fn alive(pid: u32) -> bool {
    // A reaped child has no /proc entry; a zombie would say `State: Z`.
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|status| !status.contains("State:\tZ"))
        .unwrap_or(false)
}

async fn a_pool_of_four_children_is_all_healthy() {
    let pm = ProcessManager::new();
    let (_node, pool) = pool_of(&pm, 4, Strategy::LeastLoaded).await;
    until("every worker is ready", || pool.health().available == 4).await;
    let health = pool.health();
    assert_eq!(health.total, 4);
    assert_eq!(health.healthy, 4);
    let pids: HashSet<_> = pool
        .workers()
        .into_iter()
        .map(|id| pm.get(id).expect("listed").pid.expect("a child"))
        .collect();
    assert_eq!(pids.len(), 4, "four OS processes");
    pm.shutdown().await.expect("shuts down");
    for pid in pids {
        assert!(!alive(pid), "{pid} exited");
    }
}

async fn round_robin_reaches_four_distinct_pids() {
    let pm = ProcessManager::new();
    let (node, _pool) = pool_of(&pm, 4, Strategy::RoundRobin).await;
    let mut pids = HashSet::new();
    for _ in 0..100 {
        pids.insert(node.pid().await.expect("answers"));
    }
    assert_eq!(pids.len(), 4);
    assert!(!pids.contains(&std::process::id()));
    pm.shutdown().await.expect("shuts down");
}

async fn a_sigkilled_worker_comes_back_and_no_call_after_recovery_fails() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let (node, pool) = pm
        .pool::<Node>(
            Pool::new(2)
                .strategy(Strategy::LeastLoaded)
                .spawn_options(quick_restarts(children())),
        )
        .await
        .expect("spawns");
    until("both ready", || pool.health().available == 2).await;
    let victim = pool.workers()[0];
    let pid = pm.get(victim).expect("listed").pid.expect("a child");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("runs kill");
    assert!(killed.success());

    guarded("the worker restarts", async {
        loop {
            let event = events.recv().await.expect("alive");
            if event.process == victim && matches!(event.kind, EventKind::Restarted { .. }) {
                break;
            }
        }
    })
    .await;
    until("both healthy again", || pool.health().available == 2).await;
    assert_eq!(pool.health().healthy, 2);
    let new_pid = pm.get(victim).expect("listed").pid.expect("a child");
    assert_ne!(new_pid, pid, "a new OS process");
    for n in 0..50 {
        assert_eq!(node.add(n, 1).await, Ok(n + 1), "call {n} after recovery");
    }
    pm.shutdown().await.expect("shuts down");
}

async fn each_child_worker_keeps_its_own_state() {
    let pm = ProcessManager::new();
    let (_node, pool) = pm
        .pool::<Node>(Pool::new(3).spawn_options(children()))
        .await
        .expect("spawns");
    let workers = pool.workers();
    let first = pm.proxy::<Node>(workers[0]).expect("a Node");
    let second = pm.proxy::<Node>(workers[1]).expect("a Node");
    first.increment().await.expect("answers");
    first.increment().await.expect("answers");
    assert_eq!(first.counter().await, Ok(2));
    assert_eq!(second.counter().await, Ok(0), "independent state");
    second.increment().await.expect("answers");
    assert_eq!(second.counter().await, Ok(1));
    assert_eq!(first.counter().await, Ok(2));
    pm.shutdown().await.expect("shuts down");
}

async fn a_child_that_stops_answering_its_probe_is_replaced() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let node = pm
        .spawn_with::<Node>(quick_restarts(children()))
        .await
        .expect("spawns");
    let id = node.process_id().expect("managed");
    let pid = node.pid().await.expect("answers");
    let frozen = tokio::spawn({
        let node = node.clone();
        async move { node.freeze().await }
    });
    let unhealthy = guarded("the probe fails", async {
        loop {
            let event = events.recv().await.expect("alive");
            // Its readiness check may fail first; the liveness check restarts it.
            if let EventKind::Unhealthy {
                check: "alive",
                message,
                ..
            } = event.kind
            {
                break message;
            }
        }
    })
    .await;
    assert!(unhealthy.contains("did not answer"), "{unhealthy}");
    guarded("it restarts", async {
        loop {
            let event = events.recv().await.expect("alive");
            if matches!(event.kind, EventKind::Restarted { .. }) {
                break;
            }
        }
    })
    .await;
    assert!(
        matches!(
            frozen.await.expect("joins"),
            Err(Error::ProcessCrashed { .. })
        ),
        "the call stuck in the frozen child failed"
    );
    until("the frozen child is gone", || !alive(pid)).await;
    let new_pid = node.pid().await.expect("a new child answers");
    assert_ne!(new_pid, pid);
    assert_eq!(pm.get(id).expect("listed").restarts, 1);
    pm.shutdown().await.expect("shuts down");
}

async fn pool_metrics_count_every_call_and_every_worker_served() {
    let pm = ProcessManager::new();
    let (node, pool) = pool_of(&pm, 4, Strategy::LeastLoaded).await;
    for _ in 0..50 {
        assert_eq!(node.add(1, 1).await, Ok(2));
    }
    let metrics = pool.metrics();
    assert_eq!(metrics.total.calls, 50);
    assert_eq!(metrics.total.errors, 0);
    assert_eq!(metrics.workers.len(), 4);
    for (id, worker) in &metrics.workers {
        assert!(worker.calls > 0, "worker {id} served none");
    }
    assert_eq!(
        metrics.workers.iter().map(|(_, m)| m.calls).sum::<u64>(),
        50
    );
    pm.shutdown().await.expect("shuts down");
}

fn shutdown_log() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "titan-cluster-{}-{}.log",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    path
}

async fn graceful_shutdown_of_a_child_drains_and_runs_on_shutdown_once() {
    for by_stop in [false, true] {
        let pm = ProcessManager::new();
        let log = shutdown_log();
        let node = pm
            .spawn_with::<Node>(SpawnOptions::child().config(NodeConfig {
                shutdown_log: Some(log.clone()),
                shutdown_millis: 20,
            }))
            .await
            .expect("spawns");
        let id = node.process_id().expect("managed");
        let pid = pm.get(id).expect("listed").pid.expect("a child");
        let calls: Vec<_> = (1..=5)
            .map(|n| {
                let node = node.clone();
                tokio::spawn(async move { node.slow(50 * n).await })
            })
            .collect();
        until("the calls are in flight", || {
            pm.get(id).expect("listed").in_flight == 5
        })
        .await;
        if by_stop {
            assert!(pm.stop(id).await);
        } else {
            pm.shutdown().await.expect("shuts down");
        }
        for call in calls {
            assert_eq!(
                call.await.expect("joins"),
                Ok(pid),
                "completed in the child"
            );
        }
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(
            logged,
            format!("on_shutdown in {pid}\n"),
            "once, in the child"
        );
        assert!(!alive(pid), "the child exited");
        let _ = std::fs::remove_file(&log);
    }
}

async fn a_child_that_will_not_stop_gets_sigterm_then_sigkill() {
    let pm = ProcessManager::new();
    let log = shutdown_log();
    let node = pm
        .spawn_with::<Node>(
            SpawnOptions::child()
                .config(NodeConfig {
                    shutdown_log: Some(log.clone()),
                    shutdown_millis: 60_000,
                })
                .shutdown_timeout(Duration::from_millis(300)),
        )
        .await
        .expect("spawns");
    let id = node.process_id().expect("managed");
    let pid = pm.get(id).expect("listed").pid.expect("a child");
    let started = std::time::Instant::now();
    assert!(guarded("the stop ends", pm.stop(id)).await);
    let took = started.elapsed();
    assert!(!alive(pid), "killed in the end");
    assert!(
        took < Duration::from_secs(5),
        "bounded by the timeouts: {took:?}"
    );
    assert!(
        std::fs::read_to_string(&log).unwrap_or_default().is_empty(),
        "its on_shutdown never finished"
    );
    let _ = std::fs::remove_file(&log);
}

async fn a_childs_cpu_and_memory_are_read_from_the_os() {
    let pm = ProcessManager::new();
    let node = pm
        .spawn_with::<Node>(children().sample_interval(Duration::from_millis(100)))
        .await
        .expect("spawns");
    let id = node.process_id().expect("managed");
    node.hog(32).await.expect("answers");
    let spinning = tokio::spawn({
        let node = node.clone();
        async move { node.spin(600).await }
    });
    until("a CPU sample while it spins", || {
        pm.metrics(id)
            .and_then(|m| m.cpu_percent)
            .is_some_and(|cpu| cpu > 30.0)
    })
    .await;
    spinning.await.expect("joins").expect("answers");
    let memory = pm
        .metrics(id)
        .and_then(|m| m.memory_bytes)
        .expect("sampled");
    assert!(
        memory > 32 << 20,
        "resident memory {memory} includes the 32 MiB"
    );
    pm.shutdown().await.expect("shuts down");
}

async fn a_child_past_max_memory_is_replaced() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let node = pm
        .spawn_with::<Node>(
            children()
                .max_memory(96 << 20)
                .sample_interval(Duration::from_millis(50)),
        )
        .await
        .expect("spawns");
    let id = node.process_id().expect("managed");
    let pid = node.pid().await.expect("answers");
    node.hog(128).await.expect("answers");
    let reason = guarded("it is recycled", async {
        loop {
            let event = events.recv().await.expect("alive");
            if let EventKind::Recycled { reason } = event.kind {
                break reason;
            }
        }
    })
    .await;
    assert!(
        matches!(reason, RecycleReason::Memory { resident, limit } if resident > limit && limit == 96 << 20),
        "{reason:?}"
    );
    let new_pid = node
        .pid()
        .await
        .expect("the same proxy reaches the new child");
    assert_ne!(new_pid, pid);
    until("the old child exited", || !alive(pid)).await;
    assert_eq!(pm.get(id).expect("listed").restarts, 1);
    pm.shutdown().await.expect("shuts down");
}

async fn a_pool_replaces_a_worker_past_max_memory_without_failing_a_call() {
    let pm = ProcessManager::new();
    let (node, pool) = pm
        .pool::<Node>(
            Pool::new(2).strategy(Strategy::RoundRobin).spawn_options(
                children()
                    .max_memory(96 << 20)
                    .sample_interval(Duration::from_millis(50)),
            ),
        )
        .await
        .expect("spawns");
    let mut events = pool.events();
    until("both ready", || pool.health().available == 2).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (node, stop) = (node.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0_u32, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match node.slow(5).await {
                        Ok(_) => ok += 1,
                        Err(error) => failed.push(error),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let hog = pm.proxy::<Node>(pool.workers()[0]).expect("a Node");
    hog.hog(128).await.expect("answers");
    guarded("the worker is recycled", async {
        loop {
            let event = events.recv().await.expect("alive");
            if matches!(event.kind, EventKind::Recycled { .. }) {
                break;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        let (ok, failed) = task.await.expect("joins");
        assert!(failed.is_empty(), "no call failed: {failed:?}");
        total += ok;
    }
    assert!(total > 20, "the load was steady: {total}");
    pm.shutdown().await.expect("shuts down");
}

fn main() {
    // In a child, this hosts the process its parent asked for and exits.
    titan_core::child::host_if_child();

    let args = Arguments::from_args();
    let trials = vec![
        trial(
            "a_pool_of_four_children_is_all_healthy",
            a_pool_of_four_children_is_all_healthy,
        ),
        trial(
            "round_robin_reaches_four_distinct_pids",
            round_robin_reaches_four_distinct_pids,
        ),
        trial(
            "a_sigkilled_worker_comes_back_and_no_call_after_recovery_fails",
            a_sigkilled_worker_comes_back_and_no_call_after_recovery_fails,
        ),
        trial(
            "each_child_worker_keeps_its_own_state",
            each_child_worker_keeps_its_own_state,
        ),
        trial(
            "a_child_that_stops_answering_its_probe_is_replaced",
            a_child_that_stops_answering_its_probe_is_replaced,
        ),
        trial(
            "pool_metrics_count_every_call_and_every_worker_served",
            pool_metrics_count_every_call_and_every_worker_served,
        ),
        trial(
            "graceful_shutdown_of_a_child_drains_and_runs_on_shutdown_once",
            graceful_shutdown_of_a_child_drains_and_runs_on_shutdown_once,
        ),
        trial(
            "a_child_that_will_not_stop_gets_sigterm_then_sigkill",
            a_child_that_will_not_stop_gets_sigterm_then_sigkill,
        ),
        trial(
            "a_childs_cpu_and_memory_are_read_from_the_os",
            a_childs_cpu_and_memory_are_read_from_the_os,
        ),
        trial(
            "a_child_past_max_memory_is_replaced",
            a_child_past_max_memory_is_replaced,
        ),
        trial(
            "a_pool_replaces_a_worker_past_max_memory_without_failing_a_call",
            a_pool_replaces_a_worker_past_max_memory_without_failing_a_call,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
