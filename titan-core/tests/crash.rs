//! A method that panics crashes its process: the call gets
//! `Error::ProcessCrashed` with the panic message, the process shows as
//! `Crashed`, and every later call is refused the same way. (The panic
//! messages these tests print to stderr are expected.)

mod support;

use std::time::Duration;

use support::poll_once;
use titan_core::ProcessStatus;
use titan_core::prelude::*;

/// These tests are about the crash itself, so nothing restarts the process
/// (`tests/restart.rs` covers restarting).
fn left_down() -> SpawnOptions {
    SpawnOptions::new().restart(RestartPolicy::never())
}

const HANG_GUARD: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Fragile {
    writes: u64,
}

#[process]
impl Fragile {
    #[public]
    async fn explode(&self, code: u32) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom {code}");
    }

    #[public]
    fn explode_now(&self) -> u32 {
        panic!("static boom");
    }

    #[public]
    async fn explode_while_writing(&mut self) -> u64 {
        self.writes += 1;
        panic!("boom under the lock");
    }

    #[public]
    fn ping(&self) -> String {
        "pong".into()
    }

    #[public]
    async fn never(&self) {
        std::future::pending::<()>().await;
    }
}

fn crash_reason(error: &Error) -> &str {
    match error {
        Error::ProcessCrashed { reason, .. } => reason,
        other => panic!("expected ProcessCrashed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panicking_method_fails_the_call_with_process_crashed_and_its_message() {
    let pm = ProcessManager::new();
    let fragile = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");
    let id = fragile.process_id().expect("managed");

    let err = tokio::time::timeout(HANG_GUARD, fragile.explode(42))
        .await
        .expect("does not hang")
        .expect_err("the method panicked");
    let reason = crash_reason(&err);
    assert!(reason.contains("boom 42"), "{reason}");
    assert!(reason.contains("explode"), "names the method: {reason}");
    assert!(err.to_string().contains(&format!("fragile#{id}")), "{err}");
    assert!(err.is_retryable(), "a crash may be retried elsewhere");
}

#[tokio::test]
async fn a_panic_marks_the_process_crashed() {
    let pm = ProcessManager::new();
    let fragile = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");
    let id = fragile.process_id().expect("managed");
    assert_eq!(pm.get(id).expect("listed").status, ProcessStatus::Running);

    fragile.explode_now().await.expect_err("panicked");
    match pm.get(id).expect("a crashed process stays listed").status {
        ProcessStatus::Crashed { reason } => assert!(reason.contains("static boom"), "{reason}"),
        other => panic!("expected Crashed, got {other:?}"),
    }
}

#[tokio::test]
async fn calls_after_a_crash_get_process_crashed_too() {
    let pm = ProcessManager::new();
    let fragile = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");

    fragile.explode(1).await.expect_err("panicked");
    for _ in 0..3 {
        let err = fragile.ping().await.expect_err("the process is down");
        assert!(crash_reason(&err).contains("boom 1"), "{err:?}");
    }
    // A second panic never gets to run, so the first reason stays.
    let err = fragile.explode(2).await.expect_err("refused");
    assert!(crash_reason(&err).contains("boom 1"), "{err:?}");
}

#[tokio::test]
async fn a_crash_fails_the_other_calls_in_flight() {
    let pm = ProcessManager::new();
    let fragile = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");

    let waiting = fragile.never();
    tokio::pin!(waiting);
    assert!(poll_once(&mut waiting).await.is_pending());

    fragile.explode(7).await.expect_err("panicked");
    let err = tokio::time::timeout(HANG_GUARD, waiting)
        .await
        .expect("the in-flight call does not hang")
        .expect_err("its process crashed");
    assert!(crash_reason(&err).contains("boom 7"), "{err:?}");
}

#[tokio::test]
async fn a_panic_under_the_exclusive_lock_crashes_without_deadlocking() {
    let pm = ProcessManager::new();
    let fragile = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");

    let err = fragile.explode_while_writing().await.expect_err("panicked");
    assert!(
        crash_reason(&err).contains("boom under the lock"),
        "{err:?}"
    );
    let later = tokio::time::timeout(HANG_GUARD, fragile.ping())
        .await
        .expect("does not wait on the lock")
        .expect_err("crashed");
    assert!(crash_reason(&later).contains("boom under the lock"));
}

#[tokio::test]
async fn a_crash_leaves_other_processes_serving() {
    let pm = ProcessManager::new();
    let broken = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");
    let healthy = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");

    broken.explode(3).await.expect_err("panicked");
    assert_eq!(healthy.ping().await.expect("unaffected"), "pong");
    let healthy_id = healthy.process_id().expect("managed");
    assert_eq!(
        pm.get(healthy_id).expect("listed").status,
        ProcessStatus::Running
    );
}

#[tokio::test]
async fn shutdown_succeeds_with_a_crashed_process() {
    let pm = ProcessManager::new();
    let fragile = pm.spawn_with::<Fragile>(left_down()).await.expect("spawns");
    fragile.explode(9).await.expect_err("panicked");

    tokio::time::timeout(HANG_GUARD, pm.shutdown())
        .await
        .expect("no hang")
        .expect("shuts down");
    assert!(pm.list().is_empty());
}
