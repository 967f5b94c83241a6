//! Graceful shutdown with calls in flight, for local and worker processes
//! (child processes: `tests/child.rs`): every call in flight completes, then
//! `#[on_shutdown]` runs, once; a kill or a crash skips it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use titan_core::ProcessStatus;
use titan_core::events::EventKind;
use titan_core::prelude::*;

/// What each test's processes did, in order, by the key in their config.
static LOGS: LazyLock<Mutex<HashMap<u64, Vec<String>>>> = LazyLock::new(Default::default);
static KEYS: AtomicU64 = AtomicU64::new(1);

fn log(key: u64, what: impl Into<String>) {
    LOGS.lock()
        .expect("the log lock")
        .entry(key)
        .or_default()
        .push(what.into());
}

fn logged(key: u64) -> Vec<String> {
    LOGS.lock()
        .expect("the log lock")
        .get(&key)
        .cloned()
        .unwrap_or_default()
}

struct Drainer {
    key: u64,
}

#[process]
impl Drainer {
    #[init]
    fn new(key: u64) -> Self {
        Drainer { key }
    }

    /// Works for `millis`, then logs that it finished.
    #[public]
    async fn work(&self, millis: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        log(self.key, "call");
        millis
    }

    #[public]
    async fn explode(&self) {
        panic!("exploded");
    }

    #[on_shutdown]
    async fn flush(&self) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        log(self.key, "on_shutdown");
    }
}

fn options(isolation: Isolation) -> (u64, SpawnOptions<u64>) {
    let key = KEYS.fetch_add(1, Ordering::Relaxed);
    let options = SpawnOptions::new()
        .config(key)
        .isolation(isolation)
        .restart(RestartPolicy::never());
    (key, options)
}

async fn drains_then_runs_on_shutdown_once(isolation: Isolation, by_stop: bool) {
    let pm = ProcessManager::new();
    let (key, options) = options(isolation);
    let drainer = pm.spawn_with::<Drainer>(options).await.expect("spawns");
    let id = drainer.process_id().expect("managed");
    let calls: Vec<_> = (1..=5)
        .map(|n| {
            let drainer = drainer.clone();
            tokio::spawn(async move { drainer.work(20 * n).await })
        })
        .collect();
    // Let every call reach the process before the shutdown begins.
    while pm.get(id).expect("listed").in_flight < 5 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if by_stop {
        assert!(pm.stop(id).await);
    } else {
        pm.shutdown().await.expect("shuts down");
    }
    for (n, call) in (1..=5).zip(calls) {
        assert_eq!(call.await.expect("joins"), Ok(20 * n), "call {n} completed");
    }
    let log = logged(key);
    assert_eq!(
        log.iter().filter(|l| *l == "on_shutdown").count(),
        1,
        "once: {log:?}"
    );
    assert_eq!(
        log.last().map(String::as_str),
        Some("on_shutdown"),
        "after the calls: {log:?}"
    );
    assert_eq!(log.len(), 6);
}

#[tokio::test]
async fn shutdown_of_a_local_process_drains_then_runs_on_shutdown_once() {
    drains_then_runs_on_shutdown_once(Isolation::Local, false).await;
}

#[tokio::test]
async fn stop_of_a_local_process_drains_then_runs_on_shutdown_once() {
    drains_then_runs_on_shutdown_once(Isolation::Local, true).await;
}

#[tokio::test]
async fn shutdown_of_a_worker_drains_then_runs_on_shutdown_once() {
    drains_then_runs_on_shutdown_once(Isolation::Worker, false).await;
}

#[tokio::test]
async fn stop_of_a_worker_drains_then_runs_on_shutdown_once() {
    drains_then_runs_on_shutdown_once(Isolation::Worker, true).await;
}

#[tokio::test]
async fn a_kill_or_a_crash_skips_on_shutdown() {
    for isolation in [Isolation::Local, Isolation::Worker] {
        let pm = ProcessManager::new();
        let (killed_key, killing) = options(isolation);
        let killed = pm.spawn_with::<Drainer>(killing).await.expect("spawns");
        assert!(pm.kill(killed.process_id().expect("managed")));

        let (crashed_key, crashing) = options(isolation);
        let crashed = pm.spawn_with::<Drainer>(crashing).await.expect("spawns");
        let _ = crashed.explode().await;
        assert!(matches!(
            pm.get(crashed.process_id().expect("managed"))
                .expect("listed")
                .status,
            ProcessStatus::Crashed { .. }
        ));
        pm.shutdown().await.expect("shuts down");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(logged(killed_key).is_empty(), "{isolation:?}");
        assert!(logged(crashed_key).is_empty(), "{isolation:?}");
    }
}

#[tokio::test]
async fn a_stop_says_so_in_the_events() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let (_, options) = options(Isolation::Local);
    let drainer = pm.spawn_with::<Drainer>(options).await.expect("spawns");
    let id = drainer.process_id().expect("managed");
    pm.stop(id).await;
    let mut kinds = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(10), events.recv()).await
    {
        assert_eq!(event.process, id);
        kinds.push(event.kind);
    }
    assert_eq!(
        kinds,
        [EventKind::Spawned { pid: None }, EventKind::Stopped]
    );
}
