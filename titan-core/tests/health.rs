//! Health probes with Kubernetes' semantics, on tokio's paused clock:
//! liveness failures and unanswered probes restart a process, readiness
//! failures only take it out of its pool's balancing, startup checks hold
//! the others back, and events say what happened.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use titan_core::events::EventKind;
use titan_core::health::HealthKind;
use titan_core::prelude::*;

#[path = "support/events.rs"]
mod events_support;
use events_support::next;
use titan_core::restart::Backoff;

#[derive(Default)]
struct Patient {
    sick: AtomicBool,
    frozen: AtomicBool,
    unready: AtomicBool,
    probes: AtomicU32,
}

#[process]
impl Patient {
    /// Makes the liveness check answer unhealthy.
    #[public]
    async fn fall_ill(&self) {
        self.sick.store(true, Ordering::Relaxed);
    }

    /// Makes the liveness check never answer.
    #[public]
    async fn freeze(&self) {
        self.frozen.store(true, Ordering::Relaxed);
    }

    /// Makes the readiness check fail, or pass again.
    #[public]
    async fn set_ready(&self, ready: bool) {
        self.unready.store(!ready, Ordering::Relaxed);
    }

    /// How many liveness probes this instance has answered.
    #[public]
    async fn probes(&self) -> u32 {
        self.probes.load(Ordering::Relaxed)
    }

    #[health_check(
        kind = "liveness",
        interval = "1s",
        timeout = "100ms",
        failure_threshold = 3
    )]
    async fn alive(&self) -> Health {
        if self.frozen.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        self.probes.fetch_add(1, Ordering::Relaxed);
        if self.sick.load(Ordering::Relaxed) {
            Health::unhealthy("fever")
        } else {
            Health::healthy()
        }
    }

    #[health_check(
        kind = "readiness",
        interval = "500ms",
        timeout = "100ms",
        failure_threshold = 2
    )]
    async fn ready(&self) -> bool {
        !self.unready.load(Ordering::Relaxed)
    }
}

fn quick_restarts() -> SpawnOptions {
    SpawnOptions::new().restart(RestartPolicy::new().backoff(Backoff::exponential(
        Duration::from_millis(10),
        Duration::from_millis(10),
    )))
}

async fn spawn_patient(pm: &ProcessManager) -> PatientProxy {
    pm.spawn_with::<Patient>(quick_restarts())
        .await
        .expect("spawns")
}

#[tokio::test(start_paused = true)]
async fn a_process_whose_liveness_check_turns_unhealthy_is_restarted() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let patient = spawn_patient(&pm).await;
    let id = patient.process_id().expect("managed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        patient.probes().await.expect("serving") >= 2,
        "probed every second"
    );
    assert_eq!(pm.health(id).expect("listed").status, HealthStatus::Healthy);

    patient.fall_ill().await.expect("serving");
    let unhealthy = next(&mut events, |k| matches!(k, EventKind::Unhealthy { .. })).await;
    assert_eq!(
        unhealthy.kind,
        EventKind::Unhealthy {
            check: "alive",
            kind: HealthKind::Liveness,
            message: "fever".into()
        }
    );
    let crashed = next(&mut events, |k| matches!(k, EventKind::Crashed { .. })).await;
    let EventKind::Crashed { reason } = crashed.kind else {
        unreachable!()
    };
    assert!(
        reason.contains("alive") && reason.contains("3 times"),
        "{reason}"
    );
    next(&mut events, |k| matches!(k, EventKind::Restarted { .. })).await;

    assert_eq!(patient.probes().await, Ok(0), "a fresh instance");
    let report = pm.health(id).expect("listed");
    assert_eq!(report.status, HealthStatus::Healthy);
    assert_eq!(pm.get(id).expect("listed").restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_process_that_stops_answering_its_probe_is_restarted() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let patient = spawn_patient(&pm).await;
    patient.freeze().await.expect("serving");
    let unhealthy = next(&mut events, |k| matches!(k, EventKind::Unhealthy { .. })).await;
    let EventKind::Unhealthy { message, .. } = unhealthy.kind else {
        unreachable!()
    };
    assert!(message.contains("did not answer"), "{message}");
    next(&mut events, |k| matches!(k, EventKind::Restarted { .. })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(patient.probes().await.expect("answers again") >= 1);
}

#[tokio::test(start_paused = true)]
async fn the_health_report_names_each_check_and_counts_failures() {
    let pm = ProcessManager::new();
    let patient = spawn_patient(&pm).await;
    let id = patient.process_id().expect("managed");
    patient.set_ready(false).await.expect("serving");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = pm.health(id).expect("listed");
    let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alive", "ready"]);
    let ready = &report.checks[1];
    assert_eq!(ready.kind, HealthKind::Readiness);
    assert_eq!(ready.status, HealthStatus::Unhealthy);
    assert!(ready.failures >= 2, "{ready:?}");
    assert_eq!(report.status, HealthStatus::Unhealthy, "the worst check");
    assert!(!report.ready);
    assert_eq!(
        pm.get(id).expect("listed").restarts,
        0,
        "failing readiness never restarts"
    );
}

#[tokio::test(start_paused = true)]
async fn failing_readiness_takes_a_worker_out_of_balancing_until_it_recovers() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let (patient, pool) = pm
        .pool::<Patient>(Pool::new(2).spawn_options(quick_restarts()))
        .await
        .expect("spawns");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let workers = pool.workers();
    let sick = pm.proxy::<Patient>(workers[0]).expect("a Patient");
    sick.set_ready(false).await.expect("serving");
    let out = next(&mut events, |k| matches!(k, EventKind::Unhealthy { .. })).await;
    assert_eq!(out.process, workers[0]);

    let before = pm.metrics(workers[0]).expect("listed").calls;
    for _ in 0..20 {
        patient.probes().await.expect("the other worker serves");
    }
    assert_eq!(
        pm.metrics(workers[0]).expect("listed").calls,
        before,
        "the unready worker got none"
    );
    assert_eq!(pool.health().available, 1);
    assert_eq!(pm.get(workers[0]).expect("listed").restarts, 0);

    sick.set_ready(true).await.expect("serving");
    let back = next(&mut events, |k| matches!(k, EventKind::Recovered { .. })).await;
    assert_eq!(back.process, workers[0]);
    let served: HashSet<_> = {
        let mut ids = HashSet::new();
        for _ in 0..20 {
            patient.probes().await.expect("serving");
        }
        for id in &workers {
            if pm.metrics(*id).expect("listed").calls > 0 {
                ids.insert(*id);
            }
        }
        ids
    };
    assert_eq!(served.len(), 2);
    assert!(
        pm.metrics(workers[0]).expect("listed").calls > before,
        "it serves again"
    );
}

/// Starts slowly: its startup check passes from the third probe on.
#[derive(Default)]
struct SlowStarter {
    startup_probes: AtomicU32,
    liveness_probes: AtomicU32,
}

#[process]
impl SlowStarter {
    #[public]
    async fn liveness_probes(&self) -> u32 {
        self.liveness_probes.load(Ordering::Relaxed)
    }

    #[health_check(kind = "startup", interval = "1s", failure_threshold = 10)]
    async fn warmed_up(&self) -> bool {
        self.startup_probes.fetch_add(1, Ordering::Relaxed) >= 2
    }

    #[health_check(kind = "liveness", interval = "1s")]
    async fn alive(&self) -> HealthStatus {
        self.liveness_probes.fetch_add(1, Ordering::Relaxed);
        HealthStatus::Healthy
    }
}

#[tokio::test(start_paused = true)]
async fn liveness_waits_for_the_startup_check_to_pass() {
    let pm = ProcessManager::new();
    let starter = pm.spawn::<SlowStarter>().await.expect("spawns");
    let id = starter.process_id().expect("managed");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(starter.liveness_probes().await, Ok(0), "not started yet");
    assert!(!pm.health(id).expect("listed").ready);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(pm.health(id).expect("listed").ready, "started");
    assert!(starter.liveness_probes().await.expect("serving") >= 1);
}

#[derive(Default)]
struct NeverStarts;

#[process]
impl NeverStarts {
    #[public]
    async fn ping(&self) {}

    #[health_check(kind = "startup", interval = "1s", failure_threshold = 3)]
    async fn warmed_up(&self) -> Health {
        Health::unhealthy("still loading")
    }
}

#[tokio::test(start_paused = true)]
async fn a_startup_check_that_keeps_failing_restarts_the_process() {
    let pm = ProcessManager::new();
    let mut events = pm.events();
    let stuck = pm
        .spawn_with::<NeverStarts>(quick_restarts())
        .await
        .expect("spawns");
    let unhealthy = next(&mut events, |k| matches!(k, EventKind::Unhealthy { .. })).await;
    assert!(matches!(
        unhealthy.kind,
        EventKind::Unhealthy {
            kind: HealthKind::Startup,
            ..
        }
    ));
    next(&mut events, |k| matches!(k, EventKind::Restarted { .. })).await;
    assert_eq!(stuck.ping().await, Ok(()), "calls still reach it");
}
