//! The restart policy, on tokio's paused clock: the backoff sequence,
//! `max_restarts` within `window`, `min_uptime`, and what callers see while
//! a process restarts. Nothing here sleeps for real: the clock jumps to the
//! next timer whenever the runtime is idle, so a delay is observed exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use titan_core::ProcessStatus;
use titan_core::events::{EventKind, Events};
use titan_core::prelude::*;

#[path = "support/events.rs"]
mod events_support;
use events_support::next;
use titan_core::restart::Backoff;
use tokio::time::Instant;

/// Counts instances ever built, so each instance has a number of its own.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

struct Phoenix {
    instance: u64,
}

impl Default for Phoenix {
    fn default() -> Self {
        Phoenix {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        }
    }
}

#[process]
impl Phoenix {
    /// Which instance answered.
    #[public]
    async fn instance(&self) -> u64 {
        self.instance
    }

    /// Crashes the process.
    #[public]
    async fn burn(&self) {
        panic!("burnt");
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Exponential 100 ms → 1 s, no jitter, many restarts allowed; runs shorter
/// than 10 s are unstable.
fn policy() -> RestartPolicy {
    RestartPolicy::new()
        .max_restarts(100, Duration::from_secs(3600))
        .backoff(Backoff::exponential(ms(100), ms(1000)).jitter(0.0))
        .min_uptime(Duration::from_secs(10))
}

/// At most `max` restarts within `window`, runs shorter than `min_uptime`
/// unstable, and a 10 ms backoff that never grows.
fn limited(max: u32, window: Duration, min_uptime: Duration) -> RestartPolicy {
    RestartPolicy::new()
        .max_restarts(max, window)
        .backoff(Backoff::exponential(ms(10), ms(10)))
        .min_uptime(min_uptime)
}

async fn spawn(pm: &ProcessManager, policy: RestartPolicy) -> PhoenixProxy {
    pm.spawn_with::<Phoenix>(SpawnOptions::new().restart(policy))
        .await
        .expect("spawns")
}

/// Crashes it `n` times, each followed by a restart.
async fn burn_and_restart(phoenix: &PhoenixProxy, events: &mut Events, n: usize) {
    for _ in 0..n {
        burn(phoenix).await;
        restarted(events).await;
    }
}

/// Why the policy gave up, from its `Failed` event.
async fn failed(events: &mut Events) -> String {
    match next(events, |k| matches!(k, EventKind::Failed { .. }))
        .await
        .kind
    {
        EventKind::Failed { reason } => reason,
        _ => unreachable!(),
    }
}

async fn restarted(events: &mut Events) -> u32 {
    match next(events, |k| matches!(k, EventKind::Restarted { .. }))
        .await
        .kind
    {
        EventKind::Restarted { attempt, .. } => attempt,
        _ => unreachable!(),
    }
}

async fn burn(phoenix: &PhoenixProxy) {
    let crashed = phoenix
        .burn()
        .await
        .expect_err("a panic crashes the process");
    assert!(
        matches!(crashed, Error::ProcessCrashed { ref reason, .. } if reason.contains("burnt")),
        "{crashed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn restarts_wait_out_an_exponential_backoff_that_grows_and_caps() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(&pm, policy()).await;
    for (n, expected) in [100, 200, 400, 800, 1000, 1000].into_iter().enumerate() {
        let crashed_at = Instant::now();
        burn(&phoenix).await;
        let attempt = restarted(&mut events).await;
        assert_eq!(attempt as usize, n + 1, "attempts count up from 1");
        assert_eq!(crashed_at.elapsed(), ms(expected), "restart {}", n + 1);
    }
    let info = pm
        .get(phoenix.process_id().expect("managed"))
        .expect("listed");
    assert_eq!(info.restarts, 6);
    assert_eq!(info.status, ProcessStatus::Running);
}

#[tokio::test(start_paused = true)]
async fn a_linear_backoff_grows_by_its_initial_delay() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let linear = policy().backoff(Backoff::linear(ms(250), ms(600)));
    let phoenix = spawn(&pm, linear).await;
    for expected in [250, 500, 600, 600] {
        let crashed_at = Instant::now();
        burn(&phoenix).await;
        restarted(&mut events).await;
        assert_eq!(crashed_at.elapsed(), ms(expected));
    }
}

#[tokio::test(start_paused = true)]
async fn a_stable_run_resets_the_backoff() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(&pm, policy()).await;
    for _ in 0..3 {
        burn(&phoenix).await;
        restarted(&mut events).await; // 100, 200, 400 ms
    }
    // This run outlives min_uptime (10 s): it was stable.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let crashed_at = Instant::now();
    burn(&phoenix).await;
    assert_eq!(restarted(&mut events).await, 1, "the count starts over");
    assert_eq!(crashed_at.elapsed(), ms(100), "and so does the delay");
}

#[tokio::test(start_paused = true)]
async fn a_proxy_held_across_restarts_reaches_the_new_instance() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(&pm, policy()).await;
    let before = phoenix.instance().await.expect("serving");
    burn(&phoenix).await;
    restarted(&mut events).await;
    let after = phoenix
        .instance()
        .await
        .expect("the same proxy, serving again");
    assert_ne!(before, after, "a fresh instance answered");
    // A proxy made by id reaches it too.
    let by_id = pm
        .proxy::<Phoenix>(phoenix.process_id().expect("managed"))
        .expect("a Phoenix");
    assert_eq!(by_id.instance().await, Ok(after));
}

#[tokio::test(start_paused = true)]
async fn a_call_made_while_restarting_waits_for_the_new_instance() {
    let pm = ProcessManager::new();
    let slow = policy().backoff(Backoff::exponential(ms(800), ms(800)));
    let phoenix = spawn(&pm, slow).await;
    let before = phoenix.instance().await.expect("serving");
    let crashed_at = Instant::now();
    burn(&phoenix).await;
    let after = phoenix.instance().await.expect("waits, then succeeds");
    assert_ne!(before, after);
    assert_eq!(crashed_at.elapsed(), ms(800), "it waited out the backoff");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_waits_longer_than_restart_wait_is_unavailable() {
    let pm = ProcessManager::new();
    let slow = policy().backoff(Backoff::exponential(ms(5000), ms(5000)));
    let phoenix = pm
        .spawn_with::<Phoenix>(SpawnOptions::new().restart(slow).restart_wait(ms(300)))
        .await
        .expect("spawns");
    burn(&phoenix).await;
    let asked_at = Instant::now();
    let error = phoenix.instance().await.expect_err("no instance in time");
    assert!(
        matches!(error, Error::Unavailable { ref reason } if reason.contains("restarting")),
        "{error:?}"
    );
    assert_eq!(asked_at.elapsed(), ms(300));
    let id = phoenix.process_id().expect("managed");
    assert_eq!(
        pm.get(id).expect("listed").status,
        ProcessStatus::Restarting { attempt: 1 }
    );
}

#[tokio::test(start_paused = true)]
async fn more_than_max_restarts_within_the_window_leaves_it_failed() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(&pm, limited(3, Duration::from_secs(60), Duration::ZERO)).await;
    burn_and_restart(&phoenix, &mut events, 3).await;
    burn(&phoenix).await;
    let reason = failed(&mut events).await;
    assert!(reason.contains('3') && reason.contains("60s"), "{reason}");

    let id = phoenix.process_id().expect("managed");
    assert!(
        matches!(
            pm.get(id).expect("listed").status,
            ProcessStatus::Failed { .. }
        ),
        "it stays down"
    );
    let error = phoenix.instance().await.expect_err("failed for good");
    assert!(
        matches!(error, Error::Unavailable { ref reason } if reason.contains("failed")),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn crashes_spread_wider_than_the_window_keep_being_restarted() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(&pm, limited(2, Duration::from_secs(60), Duration::ZERO)).await;
    for _ in 0..6 {
        burn_and_restart(&phoenix, &mut events, 1).await;
        tokio::time::sleep(Duration::from_secs(31)).await;
    }
    assert!(phoenix.instance().await.is_ok(), "still serving");
}

#[tokio::test(start_paused = true)]
async fn a_process_that_keeps_dying_before_min_uptime_ends_failed() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let unstable = limited(3, Duration::from_secs(3600), Duration::from_secs(5));
    let phoenix = spawn(&pm, unstable).await;
    burn_and_restart(&phoenix, &mut events, 3).await;
    burn(&phoenix).await;
    let reason = failed(&mut events).await;
    assert!(reason.contains("5s"), "names min_uptime: {reason}");
}

#[tokio::test(start_paused = true)]
async fn runs_that_outlive_min_uptime_never_count_as_unstable() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(
        &pm,
        limited(3, Duration::from_secs(10), Duration::from_secs(5)),
    )
    .await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_secs(6)).await;
        burn_and_restart(&phoenix, &mut events, 1).await;
    }
}

#[tokio::test(start_paused = true)]
async fn with_restarts_off_a_crash_leaves_it_down() {
    let pm = ProcessManager::new();
    let phoenix = pm
        .spawn_with::<Phoenix>(SpawnOptions::new().restart(RestartPolicy::never()))
        .await
        .expect("spawns");
    burn(&phoenix).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let error = phoenix.instance().await.expect_err("stays down");
    assert!(matches!(error, Error::ProcessCrashed { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn kill_and_stop_are_not_crashes_and_nothing_restarts() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let a = spawn(&pm, policy()).await;
    let b = spawn(&pm, policy()).await;
    assert!(pm.kill(a.process_id().expect("managed")));
    assert!(pm.stop(b.process_id().expect("managed")).await);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(matches!(
        a.instance().await,
        Err(Error::ProcessStopped { .. })
    ));
    assert!(matches!(
        b.instance().await,
        Err(Error::ProcessStopped { .. })
    ));
    let mut kinds = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(ms(1), events.recv()).await {
        kinds.push(event.kind);
    }
    assert!(
        !kinds
            .iter()
            .any(|k| matches!(k, EventKind::Restarted { .. } | EventKind::Crashed { .. })),
        "{kinds:?}"
    );
    assert!(kinds.contains(&EventKind::Killed) && kinds.contains(&EventKind::Stopped));
}

#[tokio::test(start_paused = true)]
async fn manager_restart_swaps_in_a_fresh_instance_without_failing_a_call() {
    let pm = ProcessManager::new();
    let phoenix = pm.spawn::<Phoenix>().await.expect("spawns");
    let before = phoenix.instance().await.expect("serving");
    pm.restart(phoenix.process_id().expect("managed"))
        .await
        .expect("restarts");
    let after = phoenix.instance().await.expect("serving");
    assert_ne!(before, after);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_backoff_cancels_the_restart() {
    let pm = ProcessManager::new();
    let slow = policy().backoff(Backoff::exponential(ms(5000), ms(5000)));
    let phoenix = spawn(&pm, slow).await;
    let id = phoenix.process_id().expect("managed");
    burn(&phoenix).await;
    tokio::time::sleep(ms(10)).await;
    assert_eq!(
        pm.get(id).expect("listed").status,
        ProcessStatus::Restarting { attempt: 1 }
    );
    let asked_at = Instant::now();
    assert!(pm.stop(id).await);
    assert!(asked_at.elapsed() < ms(100), "no waiting out the backoff");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(matches!(
        phoenix.instance().await,
        Err(Error::ProcessStopped { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_recycles_the_process_without_failing_a_call() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = pm
        .spawn_with::<Phoenix>(SpawnOptions::new().max_lifetime(Duration::from_secs(10)))
        .await
        .expect("spawns");
    let mut instances = std::collections::HashSet::new();
    for _ in 0..35 {
        instances.insert(phoenix.instance().await.expect("no call fails"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(instances.len(), 4, "a fresh instance every 10 s");
    let recycled = next(&mut events, |k| matches!(k, EventKind::Recycled { .. })).await;
    assert_eq!(
        recycled.kind,
        EventKind::Recycled {
            reason: titan_core::events::RecycleReason::Lifetime
        }
    );
}

#[tokio::test(start_paused = true)]
async fn manager_restart_revives_a_process_its_policy_gave_up_on() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let phoenix = spawn(&pm, limited(1, Duration::from_secs(60), Duration::ZERO)).await;
    let id = phoenix.process_id().expect("managed");
    burn_and_restart(&phoenix, &mut events, 1).await;
    burn(&phoenix).await;
    failed(&mut events).await;
    assert!(matches!(
        pm.get(id).expect("listed").status,
        ProcessStatus::Failed { .. }
    ));

    pm.restart(id).await.expect("revives it");
    assert_eq!(pm.get(id).expect("listed").status, ProcessStatus::Running);
    phoenix.instance().await.expect("serving again");
    // Supervised again, with a fresh count: the next crash is restarted.
    burn_and_restart(&phoenix, &mut events, 1).await;
    phoenix
        .instance()
        .await
        .expect("serving after that crash too");
}
