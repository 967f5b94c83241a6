//! `Isolation::Worker`: a process on a dedicated OS thread with its own
//! runtime. `#[init]` and every method run there; a blocking method never
//! stalls the caller's runtime; the lifecycle (kill, crash, drain) is the
//! local one; the thread is gone once the process is stopped. (The panic
//! messages these tests print to stderr are expected.)

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::Duration;

use support::poll_once;
use titan_core::prelude::*;
use titan_core::{Payload, ProcessStatus, Request};
use tokio::sync::{Barrier, Notify};

const HANG_GUARD: Duration = Duration::from_secs(10);
const CALLS: usize = 1_000;

/// A gate a method blocks its OS thread on (not a task: the whole thread).
#[derive(Default)]
struct Latch {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Latch {
    fn open(&self) {
        *self.open.lock().expect("latch lock") = true;
        self.opened.notify_all();
    }

    /// Blocks the thread until the latch opens; false if the hang guard passes first.
    fn wait(&self) -> bool {
        let open = self.open.lock().expect("latch lock");
        let (_open, waited) = self
            .opened
            .wait_timeout_while(open, HANG_GUARD, |open| !*open)
            .expect("latch lock");
        !waited.timed_out()
    }
}

/// What a test shares with the process it spawns.
struct Shared {
    /// Notified when `block` has started blocking its thread.
    entered: Notify,
    /// What `block` waits for.
    release: Latch,
    /// What `pass` waits for.
    gate: Notify,
    /// What `meet` waits at, with every other `meet` call.
    barrier: Barrier,
    /// What happened, in order.
    events: Mutex<Vec<&'static str>>,
    /// Set when the thread that ran `#[init]` has ended (a thread-local's drop).
    exited: AtomicBool,
    /// Set when the work of a `sleep` call was dropped before it finished.
    abandoned: AtomicBool,
}

impl Shared {
    fn event(&self, event: &'static str) {
        self.events.lock().expect("events lock").push(event);
    }

    fn events(&self) -> Vec<&'static str> {
        self.events.lock().expect("events lock").clone()
    }

    fn exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }
}

/// Shared state by key: a config must be serialisable, a key is.
static SHARED: LazyLock<Mutex<HashMap<u64, Arc<Shared>>>> = LazyLock::new(Mutex::default);
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

fn share() -> (u64, Arc<Shared>) {
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        entered: Notify::new(),
        release: Latch::default(),
        gate: Notify::new(),
        barrier: Barrier::new(CALLS),
        events: Mutex::default(),
        exited: AtomicBool::new(false),
        abandoned: AtomicBool::new(false),
    });
    SHARED
        .lock()
        .expect("shared lock")
        .insert(key, shared.clone());
    (key, shared)
}

fn shared(key: u64) -> Result<Arc<Shared>, String> {
    SHARED
        .lock()
        .map_err(|e| e.to_string())?
        .remove(&key)
        .ok_or_else(|| format!("nothing shared under key {key}"))
}

/// Dropped with the thread-locals of the thread that made it: at thread exit.
struct ExitFlag(Arc<Shared>);

impl Drop for ExitFlag {
    fn drop(&mut self) {
        self.0.exited.store(true, Ordering::Release);
    }
}

thread_local! {
    static ON_EXIT: RefCell<Vec<ExitFlag>> = const { RefCell::new(Vec::new()) };
}

/// Sets `shared.exited` when the current thread ends.
fn flag_thread_exit(shared: &Arc<Shared>) {
    ON_EXIT.with(|flags| flags.borrow_mut().push(ExitFlag(shared.clone())));
}

fn this_thread() -> String {
    let thread = std::thread::current();
    format!("{:?} {}", thread.id(), thread.name().unwrap_or("<unnamed>"))
}

struct Abandoned(Arc<Shared>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.abandoned.store(true, Ordering::Release);
    }
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum MathError {
    DivisionByZero,
}

struct Probe {
    shared: Arc<Shared>,
    init_thread: String,
    count: u64,
}

#[process(version = "2.0.0")]
impl Probe {
    #[init]
    fn new(key: u64) -> Result<Self, String> {
        let shared = shared(key)?;
        flag_thread_exit(&shared);
        Ok(Probe {
            shared,
            init_thread: this_thread(),
            count: 0,
        })
    }

    #[public]
    fn thread(&self) -> String {
        this_thread()
    }

    #[public]
    fn init_thread(&self) -> String {
        self.init_thread.clone()
    }

    /// Blocks its OS thread until the test releases it; false if it never does.
    #[public]
    fn block(&self) -> bool {
        self.shared.event("the method blocks its thread");
        self.shared.entered.notify_one();
        let released = self.shared.release.wait();
        self.shared.event("the method is released");
        released
    }

    /// Waits until every other `meet` call has arrived; true for exactly one call.
    #[public]
    async fn meet(&self) -> bool {
        self.shared.barrier.wait().await.is_leader()
    }

    #[public]
    async fn increment(&mut self) -> u64 {
        self.count += 1;
        self.count
    }

    #[public]
    fn div(&self, a: i64, b: i64) -> Result<i64, MathError> {
        if b == 0 {
            Err(MathError::DivisionByZero)
        } else {
            Ok(a / b)
        }
    }

    #[public]
    async fn explode(&self, code: u32) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom {code}");
    }

    #[public]
    async fn pass(&self, value: u32) -> u32 {
        self.shared.gate.notified().await;
        value
    }

    #[public]
    async fn never(&self) {
        std::future::pending::<()>().await;
    }

    #[public]
    async fn sleep(&self, secs: u64) -> u64 {
        let guard = Abandoned(self.shared.clone());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        std::mem::forget(guard);
        secs
    }

    #[public]
    fn ping(&self) -> String {
        "pong".into()
    }
}

/// A process whose `#[init]` fails, on the thread it runs on.
struct Refuser;

#[process]
impl Refuser {
    #[init]
    fn new(key: u64) -> Result<Self, String> {
        flag_thread_exit(&shared(key)?);
        Err(format!("refused on {}", this_thread()))
    }

    #[public]
    fn ping(&self) {}
}

/// A process whose `#[init]` panics.
struct Doomed;

#[process]
impl Doomed {
    #[init]
    fn new() -> Self {
        panic!("doomed from the start");
    }

    #[public]
    fn ping(&self) {}
}

/// Left down when it crashes: these tests are about the crash itself.
fn on_worker<C>(config: C) -> SpawnOptions<C> {
    SpawnOptions::new()
        .config(config)
        .isolation(Isolation::Worker)
        .restart(RestartPolicy::never())
}

async fn worker(pm: &ProcessManager) -> (ProbeProxy, Arc<Shared>) {
    let (key, shared) = share();
    let probe = pm
        .spawn_with::<Probe>(on_worker(key))
        .await
        .expect("spawns on a worker");
    (probe, shared)
}

fn id_of(proxy: &impl Proxy) -> titan_core::ProcessId {
    proxy.process_id().expect("a managed process")
}

fn is_stopped(error: &Error, why: &str) -> bool {
    matches!(error, Error::ProcessStopped { reason, .. } if reason == why)
}

fn crash_reason(error: &Error) -> &str {
    match error {
        Error::ProcessCrashed { reason, .. } => reason,
        other => panic!("expected ProcessCrashed, got {other:?}"),
    }
}

/// Waits (at most the hang guard) for the thread that ran `#[init]` to end.
async fn thread_ends(shared: &Shared) {
    tokio::time::timeout(HANG_GUARD, async {
        while !shared.exited() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the worker thread ends");
}

#[tokio::test]
async fn a_worker_runs_init_and_every_call_on_its_own_named_thread() {
    let pm = ProcessManager::new();
    let (probe, _shared) = worker(&pm).await;
    let id = id_of(&probe);

    let first = probe.thread().await.expect("thread");
    assert_ne!(first, this_thread(), "not the caller's thread");
    assert!(
        first.ends_with(&format!(" titan-worker-probe#{id}")),
        "the thread is named for the process: {first}"
    );
    for _ in 0..10 {
        assert_eq!(
            probe.thread().await.expect("thread"),
            first,
            "always the same thread"
        );
    }
    assert_eq!(
        probe.init_thread().await.expect("init thread"),
        first,
        "`#[init]` ran on the worker thread too"
    );
}

#[tokio::test]
async fn a_blocking_method_on_a_worker_does_not_stall_the_callers_runtime() {
    // The test's runtime is a current-thread one: were the method to block it,
    // the task that releases the method could never run.
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;

    let blocked = tokio::spawn({
        let probe = probe.clone();
        async move { probe.block().await }
    });
    let releaser = tokio::spawn({
        let shared = shared.clone();
        async move {
            shared.entered.notified().await;
            shared.event("the caller's runtime runs another task");
            shared.release.open();
        }
    });

    let released = tokio::time::timeout(HANG_GUARD, blocked)
        .await
        .expect("does not hang")
        .expect("the calling task completes")
        .expect("the call succeeds");
    assert!(released, "the caller's runtime released the blocked method");
    releaser.await.expect("the releasing task completes");
    assert_eq!(
        shared.events(),
        [
            "the method blocks its thread",
            "the caller's runtime runs another task",
            "the method is released",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_shared_calls_are_in_flight_at_once_on_one_worker() {
    let pm = ProcessManager::new();
    let (probe, _shared) = worker(&pm).await;

    // The barrier lets no call return before all of them have arrived.
    let calls = (0..CALLS).map(|_| {
        let probe = probe.clone();
        tokio::spawn(async move { probe.meet().await })
    });
    let results = tokio::time::timeout(HANG_GUARD, futures::future::join_all(calls))
        .await
        .expect("every call is in flight at once");
    let leaders = results
        .into_iter()
        .map(|result| result.expect("task completes").expect("call succeeds"))
        .filter(|&leader| leader)
        .count();
    assert_eq!(leaders, 1, "one barrier, one leader");
}

#[tokio::test]
async fn a_thousand_exclusive_increments_on_a_worker_are_exact() {
    let pm = ProcessManager::new();
    let (probe, _shared) = worker(&pm).await;

    let calls = (0..CALLS).map(|_| probe.increment());
    let mut seen = tokio::time::timeout(HANG_GUARD, futures::future::join_all(calls))
        .await
        .expect("does not hang")
        .into_iter()
        .map(|result| result.expect("increments"))
        .collect::<Vec<_>>();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=CALLS as u64).collect::<Vec<_>>(),
        "each value once"
    );
    assert_eq!(
        probe.increment().await.expect("increments"),
        CALLS as u64 + 1
    );
}

#[tokio::test]
async fn a_worker_returns_a_typed_application_error() {
    let pm = ProcessManager::new();
    let (probe, _shared) = worker(&pm).await;

    assert_eq!(probe.div(7, 2).await, Ok(3));
    assert_eq!(
        probe.div(1, 0).await,
        Err(CallError::Application(MathError::DivisionByZero))
    );
    assert_eq!(
        probe.ping().await.expect("still serving"),
        "pong",
        "an application error is an answer, not a failure"
    );
}

#[tokio::test]
async fn killing_a_worker_fails_its_in_flight_call_promptly_and_later_calls() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    let id = id_of(&probe);

    let call = probe.never();
    tokio::pin!(call);
    assert!(
        poll_once(&mut call).await.is_pending(),
        "the call is in flight"
    );
    assert_eq!(pm.get(id).expect("managed").in_flight, 1);

    assert!(pm.kill(id));
    let err = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("a killed worker fails its in-flight calls at once")
        .expect_err("killed");
    assert!(is_stopped(&err, "killed"), "{err:?}");

    let later = tokio::time::timeout(HANG_GUARD, probe.ping())
        .await
        .expect("does not hang")
        .expect_err("killed");
    assert!(is_stopped(&later, "killed"), "{later:?}");
    assert!(
        later.to_string().contains(&format!("probe#{id}")),
        "{later}"
    );

    thread_ends(&shared).await;
}

#[tokio::test]
async fn killing_a_worker_fails_a_call_even_while_a_method_blocks_its_thread() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    let id = id_of(&probe);

    let blocked = probe.block();
    tokio::pin!(blocked);
    assert!(poll_once(&mut blocked).await.is_pending());
    tokio::time::timeout(HANG_GUARD, shared.entered.notified())
        .await
        .expect("the method starts blocking its thread");

    assert!(pm.kill(id));
    let err = tokio::time::timeout(HANG_GUARD, blocked)
        .await
        .expect("the call fails although the worker thread is still blocked")
        .expect_err("killed");
    assert!(is_stopped(&err, "killed"), "{err:?}");
    assert!(!shared.exited(), "the thread is still inside the method");

    shared.release.open();
    thread_ends(&shared).await;
}

#[tokio::test]
async fn a_panic_on_a_worker_crashes_the_process() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    let id = id_of(&probe);

    let waiting = probe.never();
    tokio::pin!(waiting);
    assert!(poll_once(&mut waiting).await.is_pending());

    let err = tokio::time::timeout(HANG_GUARD, probe.explode(42))
        .await
        .expect("does not hang")
        .expect_err("the method panicked");
    let reason = crash_reason(&err);
    assert!(reason.contains("boom 42"), "{reason}");
    assert!(reason.contains("explode"), "names the method: {reason}");

    match pm.get(id).expect("a crashed process stays listed").status {
        ProcessStatus::Crashed { reason } => assert!(reason.contains("boom 42"), "{reason}"),
        other => panic!("expected Crashed, got {other:?}"),
    }
    let other = tokio::time::timeout(HANG_GUARD, waiting)
        .await
        .expect("the other call in flight does not hang")
        .expect_err("crashed");
    assert!(crash_reason(&other).contains("boom 42"), "{other:?}");
    let later = probe.ping().await.expect_err("crashed");
    assert!(crash_reason(&later).contains("boom 42"), "{later:?}");

    thread_ends(&shared).await;
}

#[tokio::test]
async fn shutdown_drains_a_worker_and_its_thread_has_ended_when_it_returns() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    let id = id_of(&probe);

    let call = probe.pass(7);
    tokio::pin!(call);
    assert!(
        poll_once(&mut call).await.is_pending(),
        "the call is in flight"
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
    let refused = probe.ping().await.expect_err("no new calls while draining");
    assert!(is_stopped(&refused, "shut down"), "{refused:?}");

    shared.gate.notify_one();
    let drained = tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("does not hang");
    assert_eq!(drained, Ok(7), "the in-flight call completed normally");
    tokio::time::timeout(HANG_GUARD, shutdown)
        .await
        .expect("shutdown completes once drained")
        .expect("shuts down");

    assert!(
        shared.exited(),
        "the worker thread (thread-locals included) has ended when shutdown returns"
    );
    assert!(pm.list().is_empty());
    let after = probe.ping().await.expect_err("shut down");
    assert!(is_stopped(&after, "shut down"), "{after:?}");
}

#[tokio::test]
async fn stop_waits_for_the_worker_thread_to_end() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    let id = id_of(&probe);
    assert_eq!(probe.ping().await.expect("serving"), "pong");

    assert!(
        tokio::time::timeout(HANG_GUARD, pm.stop(id))
            .await
            .expect("stop completes")
    );
    assert!(
        shared.exited(),
        "the worker thread has ended when stop returns"
    );
    assert!(pm.get(id).is_none());
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_timeout_cuts_off_a_worker_call_that_never_finishes() {
    // The default shutdown timeout (30 s) passes on the test's paused clock;
    // waiting for the worker thread must not be cut short by that clock.
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;

    let call = probe.never();
    tokio::pin!(call);
    assert!(poll_once(&mut call).await.is_pending());

    tokio::time::timeout(HANG_GUARD * 10, pm.shutdown())
        .await
        .expect("shutdown gives up on the call after its timeout")
        .expect("shuts down");
    let err = call.await.expect_err("cut off");
    assert!(is_stopped(&err, "shut down"), "{err:?}");
    assert!(
        shared.exited(),
        "the worker thread has ended when shutdown returns"
    );
}

#[tokio::test]
async fn a_worker_thread_ends_when_every_handle_is_dropped() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    assert_eq!(probe.ping().await.expect("serving"), "pong");

    drop(pm);
    assert!(!shared.exited(), "a proxy still reaches the process");
    assert_eq!(probe.ping().await.expect("still serving"), "pong");
    drop(probe);
    thread_ends(&shared).await;
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_and_the_worker_drops_the_work() {
    let pm = ProcessManager::new();
    let (probe, shared) = worker(&pm).await;
    let id = id_of(&probe);

    let request = Request {
        service: Probe::DEFINITION,
        method: Probe::DEFINITION.method("sleep").expect("sleep"),
        payload: Payload::value((3_600_u64,)),
        deadline: Some(tokio::time::Instant::now() + Duration::from_millis(20)),
        stream: None,
        key: None,
    };
    let err = tokio::time::timeout(HANG_GUARD, probe.client().call(request))
        .await
        .expect("the deadline fires, not the hang guard")
        .expect_err("the deadline passes first");
    assert_eq!(err, Error::Timeout);
    assert_eq!(pm.get(id).expect("listed").in_flight, 0);

    tokio::time::timeout(HANG_GUARD, async {
        while !shared.abandoned.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the worker drops the work");
    assert_eq!(probe.ping().await.expect("still serving"), "pong");
}

#[tokio::test]
async fn an_init_error_on_a_worker_fails_the_spawn_and_leaves_no_thread() {
    let pm = ProcessManager::new();
    let (key, shared) = share();

    let err = pm
        .spawn_with::<Refuser>(on_worker(key))
        .await
        .expect_err("`#[init]` refused");
    match &err {
        Error::Init { process, reason } => {
            assert_eq!(process, "refuser");
            assert!(reason.contains("refused on"), "{reason}");
            assert!(
                reason.contains("titan-worker-refuser#"),
                "ran on the worker: {reason}"
            );
        }
        other => panic!("expected Init, got {other:?}"),
    }
    assert!(
        shared.exited(),
        "the worker thread has ended when the spawn fails"
    );
    assert!(pm.list().is_empty());
}

#[tokio::test]
async fn an_init_panic_on_a_worker_fails_the_spawn_with_init() {
    let pm = ProcessManager::new();
    let err = pm
        .spawn_with::<Doomed>(SpawnOptions::new().isolation(Isolation::Worker))
        .await
        .expect_err("`#[init]` panicked");
    match &err {
        Error::Init { process, reason } => {
            assert_eq!(process, "doomed");
            assert!(reason.contains("doomed from the start"), "{reason}");
        }
        other => panic!("expected Init, got {other:?}"),
    }
    assert!(pm.list().is_empty());
}

#[tokio::test]
async fn list_shows_worker_isolation() {
    let pm = ProcessManager::new();
    let (probe, _shared) = worker(&pm).await;
    let (key, _local_shared) = share();
    let local = pm
        .spawn_with::<Probe>(SpawnOptions::new().config(key))
        .await
        .expect("spawns locally");

    let isolations: Vec<_> = pm
        .list()
        .into_iter()
        .map(|info| (info.id, info.isolation, info.status))
        .collect();
    assert_eq!(
        isolations,
        [
            (id_of(&probe), Isolation::Worker, ProcessStatus::Running),
            (id_of(&local), Isolation::Local, ProcessStatus::Running),
        ]
    );
    assert_eq!(
        local.thread().await.expect("thread"),
        this_thread(),
        "a local process runs on the caller's thread"
    );
    pm.shutdown().await.expect("shuts down");
}
