//! The process manager's lifecycle: list and get, kill, graceful stop and
//! shutdown (drain in-flight calls, refuse new ones, cut off what never ends).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use support::poll_once;
use titan_core::prelude::*;
use titan_core::{ManagerOptions, ProcessStatus};
use tokio::sync::Notify;

const HANG_GUARD: Duration = Duration::from_secs(10);

/// Gates shared between a test and the process it spawns, by key (a `Notify`
/// cannot travel in a serialisable config, a key can).
static GATES: LazyLock<Mutex<HashMap<u64, Arc<Notify>>>> = LazyLock::new(Mutex::default);
static NEXT_GATE: AtomicU64 = AtomicU64::new(0);

fn new_gate() -> (u64, Arc<Notify>) {
    let key = NEXT_GATE.fetch_add(1, Ordering::Relaxed);
    let gate = Arc::new(Notify::new());
    GATES.lock().expect("gates lock").insert(key, gate.clone());
    (key, gate)
}

/// A process whose `pass` returns only once the test opens its gate.
struct Gated {
    gate: Arc<Notify>,
}

#[process(name = "gated", version = "1.4.2")]
impl Gated {
    #[init]
    fn new(key: u64) -> Result<Self, String> {
        let gate = GATES
            .lock()
            .map_err(|e| e.to_string())?
            .remove(&key)
            .ok_or_else(|| format!("no gate {key}"))?;
        Ok(Gated { gate })
    }

    #[public]
    async fn pass(&self, value: u32) -> u32 {
        self.gate.notified().await;
        value
    }

    #[public]
    async fn never(&self) {
        std::future::pending::<()>().await;
    }

    #[public]
    fn ping(&self) -> String {
        "pong".into()
    }
}

#[derive(Default)]
struct Plain;

#[process(version = "0.3.0")]
impl Plain {
    #[public]
    fn ping(&self) -> String {
        "pong".into()
    }

    #[public]
    async fn never(&self) {
        std::future::pending::<()>().await;
    }
}

async fn gated(pm: &ProcessManager) -> (GatedProxy, Arc<Notify>) {
    let (key, gate) = new_gate();
    let proxy = pm
        .spawn_with::<Gated>(SpawnOptions::new().config(key))
        .await
        .expect("spawns");
    (proxy, gate)
}

fn id_of(proxy: &impl Proxy) -> titan_core::ProcessId {
    proxy.process_id().expect("a managed process")
}

fn is_stopped(error: &Error, why: &str) -> bool {
    matches!(error, Error::ProcessStopped { reason, .. } if reason == why)
}

#[tokio::test]
async fn list_and_get_show_running_processes_with_name_and_version() {
    let pm = ProcessManager::new();
    let (gated, _gate) = gated(&pm).await;
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let (gated_id, plain_id) = (id_of(&gated), id_of(&plain));
    assert_ne!(gated_id, plain_id);

    let list = pm.list();
    let summary: Vec<_> = list
        .iter()
        .map(|info| (info.id, info.name, info.version, info.status.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (gated_id, "gated", "1.4.2", ProcessStatus::Running),
            (plain_id, "plain", "0.3.0", ProcessStatus::Running),
        ]
    );

    let info = pm.get(plain_id).expect("plain is managed");
    assert_eq!(
        (info.id, info.name, info.version),
        (plain_id, "plain", "0.3.0")
    );
    assert_eq!(info.status, ProcessStatus::Running);
    assert_eq!(info.isolation, Isolation::Local);
    assert_eq!(info.in_flight, 0);

    assert!(pm.get(titan_core::ProcessId(9_999)).is_none());
}

#[tokio::test]
async fn get_counts_calls_in_flight() {
    let pm = ProcessManager::new();
    let (gated, gate) = gated(&pm).await;
    let id = id_of(&gated);

    let call = gated.pass(1);
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());
    assert_eq!(pm.get(id).expect("managed").in_flight, 1);

    gate.notify_one();
    assert_eq!(call.await.expect("passes"), 1);
    assert_eq!(pm.get(id).expect("managed").in_flight, 0);
}

#[tokio::test]
async fn the_manager_hands_out_proxies_by_id_for_the_right_type_only() {
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&plain);

    let again = pm.proxy::<Plain>(id).expect("same type");
    assert_eq!(again.ping().await.expect("ping"), "pong");
    assert_eq!(again.process_id(), Some(id));

    let wrong = pm.proxy::<Gated>(id).expect_err("not a Gated");
    assert!(matches!(wrong, Error::ServiceNotFound { .. }), "{wrong:?}");
    let missing = pm
        .proxy::<Plain>(titan_core::ProcessId(9_999))
        .expect_err("no such process");
    assert!(
        matches!(missing, Error::ServiceNotFound { .. }),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_call_after_kill_fails_with_process_stopped_killed() {
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&plain);

    assert!(pm.kill(id), "the process existed");
    let err = tokio::time::timeout(HANG_GUARD, plain.ping())
        .await
        .expect("does not hang")
        .expect_err("the process is killed");
    assert!(is_stopped(&err, "killed"), "{err:?}");
    assert!(err.to_string().contains("killed"), "{err}");
    assert!(err.to_string().contains(&format!("plain#{id}")), "{err}");

    assert!(
        pm.get(id).is_none(),
        "a killed process is no longer managed"
    );
    assert!(!pm.kill(id), "killing twice finds nothing");
}

#[tokio::test]
async fn a_call_in_flight_when_the_process_is_killed_fails_promptly() {
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&plain);

    let call = plain.never();
    tokio::pin!(call);
    assert!(
        poll_once(&mut call).await.is_pending(),
        "the call is running"
    );
    assert_eq!(pm.get(id).expect("managed").in_flight, 1);

    assert!(pm.kill(id));
    let err = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("a killed process fails its in-flight calls at once")
        .expect_err("killed");
    assert!(is_stopped(&err, "killed"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_fails_every_in_flight_call_on_every_thread() {
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&plain);

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let plain = plain.clone();
            tokio::spawn(async move { plain.never().await })
        })
        .collect();
    tokio::time::timeout(HANG_GUARD, async {
        while pm.get(id).expect("managed").in_flight < 50 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all calls start");

    pm.kill(id);
    let results = tokio::time::timeout(HANG_GUARD, futures::future::join_all(tasks))
        .await
        .expect("no call hangs");
    for result in results {
        let err = result.expect("task completes").expect_err("killed");
        assert!(is_stopped(&err, "killed"), "{err:?}");
    }
}

#[tokio::test]
async fn killing_one_process_leaves_the_others_serving() {
    let pm = ProcessManager::new();
    let first = pm.spawn::<Plain>().await.expect("spawns");
    let second = pm.spawn::<Plain>().await.expect("spawns");

    pm.kill(id_of(&first));
    assert!(first.ping().await.is_err());
    assert_eq!(second.ping().await.expect("still serving"), "pong");
    assert_eq!(pm.list().len(), 1);
}

#[tokio::test]
async fn shutdown_lets_in_flight_calls_finish_and_refuses_new_ones() {
    let pm = ProcessManager::new();
    let (gated, gate) = gated(&pm).await;
    let id = id_of(&gated);

    let call = gated.pass(7);
    tokio::pin!(call);
    assert!(
        poll_once(&mut call).await.is_pending(),
        "the call is waiting"
    );

    let shutdown = pm.shutdown();
    tokio::pin!(shutdown);
    assert!(
        poll_once(&mut shutdown).await.is_pending(),
        "shutdown waits for the call in flight"
    );
    assert_eq!(
        pm.get(id).expect("still listed").status,
        ProcessStatus::Stopping
    );

    let refused = gated.ping().await.expect_err("no new calls while draining");
    assert!(is_stopped(&refused, "shut down"), "{refused:?}");

    gate.notify_one();
    let drained = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("does not hang");
    assert_eq!(drained, Ok(7), "the in-flight call completed normally");
    tokio::time::timeout(HANG_GUARD, shutdown)
        .await
        .expect("shutdown completes once drained")
        .expect("shutdown succeeds");

    assert!(pm.list().is_empty());
    let after = gated.ping().await.expect_err("shut down");
    assert!(is_stopped(&after, "shut down"), "{after:?}");
    assert!(after.to_string().contains("shut down"), "{after}");
}

#[tokio::test]
async fn spawn_after_shutdown_is_unavailable() {
    let pm = ProcessManager::new();
    pm.spawn::<Plain>().await.expect("spawns before");
    pm.shutdown().await.expect("shuts down");

    let err = pm
        .spawn::<Plain>()
        .await
        .expect_err("the manager is closed");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(pm.list().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_timeout_cuts_off_a_call_that_never_finishes() {
    let timeout = Duration::from_secs(5);
    let pm = ProcessManager::with_options(ManagerOptions::new().shutdown_timeout(timeout));
    let plain = pm.spawn::<Plain>().await.expect("spawns");

    let call = plain.never();
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());

    let started = tokio::time::Instant::now();
    tokio::time::timeout(HANG_GUARD, pm.shutdown())
        .await
        .expect("shutdown gives up on the call after its timeout")
        .expect("shutdown succeeds");
    assert!(
        started.elapsed() >= timeout,
        "shutdown waited the whole timeout (virtual clock) before cutting off"
    );

    let err = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("the cut-off call does not hang")
        .expect_err("cut off");
    assert!(is_stopped(&err, "shut down"), "{err:?}");
}

#[tokio::test]
async fn stop_drains_one_process_and_leaves_the_others_running() {
    let pm = ProcessManager::new();
    let (gated, gate) = gated(&pm).await;
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&gated);

    let call = gated.pass(3);
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());

    let stop = pm.stop(id);
    tokio::pin!(stop);
    assert!(
        poll_once(&mut stop).await.is_pending(),
        "stop waits for the call"
    );
    let refused = gated.ping().await.expect_err("stopping");
    assert!(is_stopped(&refused, "shut down"), "{refused:?}");
    assert_eq!(plain.ping().await.expect("unaffected"), "pong");

    gate.notify_one();
    assert_eq!(
        tokio::time::timeout(HANG_GUARD, call)
            .await
            .expect("no hang"),
        Ok(3)
    );
    assert!(
        tokio::time::timeout(HANG_GUARD, stop)
            .await
            .expect("stop completes"),
        "the process existed"
    );

    assert!(pm.get(id).is_none(), "a stopped process is removed");
    assert_eq!(pm.list().len(), 1);
    assert!(gated.ping().await.is_err());
    assert_eq!(plain.ping().await.expect("still serving"), "pong");
    assert!(!pm.stop(id).await, "stopping again finds nothing");

    // The manager itself stays open: it can still spawn.
    pm.spawn::<Plain>().await.expect("spawns after a stop");
}

#[tokio::test(start_paused = true)]
async fn stop_uses_the_shutdown_timeout_too() {
    let pm = ProcessManager::with_options(
        ManagerOptions::new().shutdown_timeout(Duration::from_secs(2)),
    );
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&plain);

    let call = plain.never();
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());

    assert!(
        tokio::time::timeout(HANG_GUARD, pm.stop(id))
            .await
            .expect("stop gives up after the timeout")
    );
    let err = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("no hang")
        .expect_err("cut off");
    assert!(is_stopped(&err, "shut down"), "{err:?}");
}

#[tokio::test]
async fn shutdown_waits_for_a_process_that_is_already_being_stopped() {
    let pm = ProcessManager::new();
    let (gated, gate) = gated(&pm).await;
    let id = id_of(&gated);

    let call = gated.pass(5);
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());
    let stop = pm.stop(id);
    tokio::pin!(stop);
    assert!(poll_once(&mut stop).await.is_pending(), "stop is draining");

    let shutdown = pm.shutdown();
    tokio::pin!(shutdown);
    assert!(
        poll_once(&mut shutdown).await.is_pending(),
        "shutdown does not report done while a call is still in flight"
    );

    gate.notify_one();
    assert_eq!(
        tokio::time::timeout(HANG_GUARD, call)
            .await
            .expect("no hang"),
        Ok(5)
    );
    tokio::time::timeout(HANG_GUARD, shutdown)
        .await
        .expect("shutdown completes once drained")
        .expect("shuts down");
    assert!(
        tokio::time::timeout(HANG_GUARD, stop)
            .await
            .expect("stop completes")
    );
    assert!(pm.list().is_empty());
}

#[tokio::test]
async fn a_second_shutdown_also_waits_for_the_drain() {
    let pm = ProcessManager::new();
    let (gated, gate) = gated(&pm).await;

    let call = gated.pass(8);
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());
    let first = pm.shutdown();
    tokio::pin!(first);
    assert!(poll_once(&mut first).await.is_pending());

    let second = pm.shutdown();
    tokio::pin!(second);
    assert!(
        poll_once(&mut second).await.is_pending(),
        "a second shutdown is not done before the first"
    );

    gate.notify_one();
    assert_eq!(
        tokio::time::timeout(HANG_GUARD, call)
            .await
            .expect("no hang"),
        Ok(8)
    );
    tokio::time::timeout(HANG_GUARD, second)
        .await
        .expect("no hang")
        .expect("shuts down");
    tokio::time::timeout(HANG_GUARD, first)
        .await
        .expect("no hang")
        .expect("shuts down");
}

#[tokio::test]
async fn killing_a_draining_process_ends_its_stop_at_once() {
    // The default shutdown timeout (30 s) is far beyond the hang guard: stop
    // must end because of the kill, not because its timeout ran out.
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    let id = id_of(&plain);

    let call = plain.never();
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());
    let stop = pm.stop(id);
    tokio::pin!(stop);
    assert!(poll_once(&mut stop).await.is_pending(), "stop is draining");

    assert!(pm.kill(id));
    assert!(
        tokio::time::timeout(HANG_GUARD, stop)
            .await
            .expect("stop ends when the process is killed"),
    );
    let err = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("no hang")
        .expect_err("killed");
    assert!(is_stopped(&err, "killed"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_racing_a_kill_either_succeed_or_are_refused_as_killed() {
    for _ in 0..100 {
        let pm = ProcessManager::new();
        let plain = pm.spawn::<Plain>().await.expect("spawns");
        let id = id_of(&plain);
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let plain = plain.clone();
                tokio::spawn(async move {
                    loop {
                        if let Err(err) = plain.ping().await {
                            return err;
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        pm.kill(id);
        let errors = tokio::time::timeout(HANG_GUARD, futures::future::join_all(callers))
            .await
            .expect("every caller sees the kill");
        for err in errors {
            let err = err.expect("task completes");
            assert!(is_stopped(&err, "killed"), "{err:?}");
        }
    }
}
