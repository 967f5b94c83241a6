//! The lifecycle markers of `#[process]`: `#[health_check]` methods (listed in
//! `HEALTH_CHECKS`, part of the interface), the `#[on_shutdown]` hook
//! (`Process::on_shutdown`) and `#[key]` arguments (the request's call key).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use titan_core::health::{Health, HealthKind, HealthStatus};
use titan_core::prelude::*;
use titan_core::{CallKey, Caller, Payload, Receiver, Request, Response};

// --- health checks -----------------------------------------------------------

#[derive(Default)]
struct Probes {
    ready: bool,
}

#[process(name = "probes")]
impl Probes {
    #[public]
    async fn set_ready(&mut self, ready: bool) {
        self.ready = ready;
    }

    /// Alive while it answers.
    #[health_check]
    fn alive(&self) -> bool {
        true
    }

    #[health_check(kind = "readiness", interval = "500ms", timeout = "250us")]
    async fn ready(&self) -> HealthStatus {
        if self.ready {
            HealthStatus::Healthy
        } else {
            HealthStatus::Degraded
        }
    }

    /// Degraded until ready; `&mut self` waits for exclusive access.
    #[health_check(
        kind = "startup",
        interval = "1.5s",
        timeout = "2m",
        failure_threshold = 10
    )]
    async fn started(&mut self) -> Health {
        if self.ready {
            Health::healthy()
        } else {
            Health::degraded("warming up")
        }
    }
}

#[test]
fn health_checks_list_their_kinds_and_options() {
    let checks = Probes::HEALTH_CHECKS;
    assert_eq!(checks.len(), 3);

    let names: Vec<&str> = checks.iter().map(|check| check.name()).collect();
    assert_eq!(names, ["alive", "ready", "started"]);

    let alive = &checks[0];
    assert_eq!(alive.kind, HealthKind::Liveness);
    assert_eq!(alive.interval, Duration::from_secs(10));
    assert_eq!(alive.timeout, Duration::from_secs(1));
    assert_eq!(alive.failure_threshold, 3);

    let ready = &checks[1];
    assert_eq!(ready.kind, HealthKind::Readiness);
    assert_eq!(ready.interval, Duration::from_millis(500));
    assert_eq!(ready.timeout, Duration::from_micros(250));
    assert_eq!(ready.failure_threshold, 3);

    let started = &checks[2];
    assert_eq!(started.kind, HealthKind::Startup);
    assert_eq!(started.interval, Duration::from_millis(1500));
    assert_eq!(started.timeout, Duration::from_secs(120));
    assert_eq!(started.failure_threshold, 10);

    for check in checks {
        assert_eq!(
            Some(check.method),
            Probes::DEFINITION.method(check.name()),
            "{} points at its method's definition",
            check.name()
        );
    }
}

#[test]
fn health_checks_are_part_of_the_definition() {
    let names: Vec<&str> = Probes::DEFINITION.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["set_ready", "alive", "ready", "started"]);
    for name in ["alive", "ready", "started"] {
        let method = Probes::DEFINITION.method(name).expect("defined");
        assert_eq!(method.result, "Health", "{name}");
        assert_eq!(method.error, None, "{name}");
        assert!(method.args.is_empty(), "{name}");
        assert_eq!(method.key, None, "{name}");
        assert!(
            !method.client_streaming && !method.server_streaming,
            "{name}"
        );
    }
    let started = Probes::DEFINITION.method("started").expect("defined");
    assert_eq!(started.receiver, Receiver::Exclusive);
    assert_eq!(
        started.docs,
        "Degraded until ready; `&mut self` waits for exclusive access."
    );
    let alive = Probes::DEFINITION.method("alive").expect("defined");
    assert_eq!(alive.receiver, Receiver::Shared);
}

#[test]
fn a_process_without_checks_has_none() {
    assert!(Router::HEALTH_CHECKS.is_empty());
}

#[tokio::test]
async fn the_proxy_probes_every_kind_of_answer() {
    let pm = ProcessManager::new();
    let probes = pm.spawn::<Probes>().await.expect("spawns");

    // From `bool`.
    assert_eq!(probes.alive().await, Ok(Health::healthy()));
    // From `HealthStatus`.
    assert_eq!(
        probes.ready().await,
        Ok(Health::from(HealthStatus::Degraded))
    );
    // A `Health` as it is, from a `&mut self` check.
    assert_eq!(probes.started().await, Ok(Health::degraded("warming up")));

    probes.set_ready(true).await.expect("set_ready");
    assert_eq!(probes.ready().await, Ok(Health::healthy()));
    assert_eq!(probes.started().await, Ok(Health::healthy()));
    pm.shutdown().await.expect("shuts down");
}

/// A `false` answer is unhealthy, with a reason.
#[derive(Default)]
struct Failing;

#[process]
impl Failing {
    #[health_check]
    fn alive(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn false_is_unhealthy() {
    let pm = ProcessManager::new();
    let failing = pm.spawn::<Failing>().await.expect("spawns");
    let health = failing.alive().await.expect("answers");
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert_eq!(health, Health::from(false));
}

// --- on_shutdown ---------------------------------------------------------------

static FLUSHES: AtomicUsize = AtomicUsize::new(0);

/// An async `&mut self` hook, on a process built by `#[init]` from a config.
struct Journal {
    pending: Vec<u64>,
}

#[process]
impl Journal {
    #[init]
    async fn new(start: u64) -> Self {
        Journal {
            pending: vec![start],
        }
    }

    #[public]
    async fn len(&self) -> usize {
        self.pending.len()
    }

    #[on_shutdown]
    async fn flush(&mut self) {
        FLUSHES.fetch_add(self.pending.len(), Ordering::SeqCst);
        self.pending.clear();
    }
}

#[tokio::test]
async fn an_async_mut_hook_runs_once_under_the_write_lock() {
    let state = Arc::new(<Journal as Process>::init(7).await.expect("init"));
    assert_eq!(state.read().await.pending, [7]);
    <Journal as Process>::on_shutdown(Arc::clone(&state)).await;
    assert_eq!(FLUSHES.load(Ordering::SeqCst), 1);
    assert!(
        state.read().await.pending.is_empty(),
        "the hook ran on the instance"
    );
}

static CLOSES: AtomicUsize = AtomicUsize::new(0);

/// A sync `&self` hook on a process with no lock.
#[derive(Default)]
struct Closer;

#[process]
impl Closer {
    #[public]
    fn ping(&self) -> bool {
        true
    }

    #[on_shutdown]
    fn close(&self) {
        CLOSES.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_sync_shared_hook_runs_once() {
    let state = Arc::new(<Closer as Process>::init(()).await.expect("init"));
    <Closer as Process>::on_shutdown(state).await;
    assert_eq!(CLOSES.load(Ordering::SeqCst), 1);
}

static READS: AtomicUsize = AtomicUsize::new(0);

/// A `&self` hook on a process that sits behind a lock for its `&mut self` method.
#[derive(Default)]
struct Tally {
    count: usize,
}

#[process]
impl Tally {
    #[public]
    async fn bump(&mut self) -> usize {
        self.count += 1;
        self.count
    }

    #[on_shutdown]
    async fn report(&self) {
        READS.fetch_add(self.count + 1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_shared_hook_runs_under_the_read_lock() {
    let state = Arc::new(<Tally as Process>::init(()).await.expect("init"));
    state.write().await.count = 4;
    <Tally as Process>::on_shutdown(state).await;
    assert_eq!(READS.load(Ordering::SeqCst), 5);
}

static LOCKS: AtomicUsize = AtomicUsize::new(0);

/// Only the hook takes `&mut self`: the process still sits behind a lock.
#[derive(Default)]
struct Sealer {
    sealed: bool,
}

#[process]
impl Sealer {
    #[public]
    fn sealed(&self) -> bool {
        self.sealed
    }

    #[on_shutdown]
    fn seal(&mut self) {
        self.sealed = true;
        LOCKS.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_mut_hook_alone_puts_the_process_behind_a_lock() {
    let state = Arc::new(<Sealer as Process>::init(()).await.expect("init"));
    <Sealer as Process>::on_shutdown(Arc::clone(&state)).await;
    assert_eq!(LOCKS.load(Ordering::SeqCst), 1);
    let sealer: &tokio::sync::RwLock<Sealer> = &state;
    assert!(sealer.read().await.sealed);

    // It serves calls as usual.
    let pm = ProcessManager::new();
    let sealer = pm.spawn::<Sealer>().await.expect("spawns");
    assert_eq!(sealer.sealed().await, Ok(false));
}

#[test]
fn the_hook_is_not_part_of_the_interface() {
    assert!(Journal::DEFINITION.method("flush").is_none());
    assert!(Closer::DEFINITION.method("close").is_none());
    assert_eq!(Journal::DEFINITION.methods.len(), 1);
}

// --- #[key] ----------------------------------------------------------------------

#[derive(Default)]
struct Router;

#[process]
impl Router {
    #[public]
    async fn route(&self, shard: u8, #[key] user: String) -> u64 {
        u64::from(shard) + user.len() as u64
    }

    #[public]
    async fn plain(&self, value: u64) -> u64 {
        value
    }
}

/// A caller that records each request's key and answers `0`.
#[derive(Clone, Default)]
struct KeyRecorder {
    keys: Arc<Mutex<Vec<Option<CallKey>>>>,
}

impl Caller for KeyRecorder {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        self.keys.lock().expect("lock").push(request.key);
        Box::pin(async { Ok(Response::new(Payload::value(0_u64))) })
    }
}

impl KeyRecorder {
    fn take(&self) -> Vec<Option<CallKey>> {
        std::mem::take(&mut *self.keys.lock().expect("lock"))
    }
}

#[test]
fn the_definition_names_the_key() {
    let route = Router::DEFINITION.method("route").expect("defined");
    assert_eq!(route.key, Some("user"));
    assert_eq!(route.args.len(), 2);
    let plain = Router::DEFINITION.method("plain").expect("defined");
    assert_eq!(plain.key, None);
}

#[tokio::test]
async fn the_key_argument_keys_the_request() {
    let recorder = KeyRecorder::default();
    let router = RouterProxy::from_client(Client::new(recorder.clone()));

    assert_eq!(router.route(1, "ada".into()).await, Ok(0));
    assert_eq!(router.plain(5).await, Ok(0));
    assert_eq!(
        recorder.take(),
        [Some(CallKey::of(&String::from("ada"))), None]
    );
}

#[tokio::test]
async fn an_explicit_key_takes_precedence() {
    let recorder = KeyRecorder::default();
    let router = RouterProxy::from_client(Client::new(recorder.clone())).with_key(&"other");

    assert_eq!(router.route(1, "ada".into()).await, Ok(0));
    assert_eq!(router.plain(5).await, Ok(0));
    let other = Some(CallKey::of(&"other"));
    assert_eq!(recorder.take(), [other, other]);
}

#[tokio::test]
async fn a_keyed_method_runs_as_usual() {
    let pm = ProcessManager::new();
    let router = pm.spawn::<Router>().await.expect("spawns");
    assert_eq!(router.route(2, "ada".into()).await, Ok(5));
}
