//! `&self` methods run concurrently; `&mut self` methods run alone.
//!
//! Overlap is proved with a barrier that only opens when every call is inside
//! the method at once; exclusivity with a counter of concurrent executions that
//! a method yields in the middle of. Timeouts here are hang guards only.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::poll_once;
use titan_core::prelude::*;
use tokio::sync::Barrier;

const CALLS: usize = 1_000;
const HANG_GUARD: Duration = Duration::from_secs(10);

/// A process whose `meet` returns only once `size` calls are waiting in it.
struct Meeting {
    barrier: Barrier,
}

#[process]
impl Meeting {
    #[init]
    fn new(size: usize) -> Self {
        Meeting {
            barrier: Barrier::new(size),
        }
    }

    /// Waits until `size` calls are in here at once; true for exactly one of them.
    #[public]
    async fn meet(&self) -> bool {
        self.barrier.wait().await.is_leader()
    }
}

/// `Meeting` with an exclusive method too, so its state sits behind a lock.
struct LockedMeeting {
    barrier: Barrier,
    resets: u64,
}

#[process]
impl LockedMeeting {
    #[init]
    fn new(size: usize) -> Self {
        LockedMeeting {
            barrier: Barrier::new(size),
            resets: 0,
        }
    }

    #[public]
    async fn meet(&self) -> bool {
        self.barrier.wait().await.is_leader()
    }

    #[public]
    fn reset(&mut self, size: usize) -> u64 {
        self.barrier = Barrier::new(size);
        self.resets += 1;
        self.resets
    }
}

/// A counter whose increment reads, yields, then writes: lost updates show
/// if two increments ever interleave.
#[derive(Default)]
struct Counter {
    value: u64,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

#[process]
impl Counter {
    #[public]
    async fn increment(&mut self) -> u64 {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
        let before = self.value;
        tokio::task::yield_now().await;
        self.value = before + 1;
        self.active.fetch_sub(1, Ordering::SeqCst);
        self.value
    }

    /// The counter and the most increments ever seen running at once.
    #[public]
    fn stats(&self) -> (u64, usize) {
        (self.value, self.max_active.load(Ordering::SeqCst))
    }
}

/// A process whose exclusive method holds the lock for a while.
#[derive(Default)]
struct Ledger {
    value: u64,
}

#[process]
impl Ledger {
    #[public]
    async fn update_slowly(&mut self, secs: u64) -> u64 {
        self.value += 1;
        tokio::time::sleep(Duration::from_secs(secs)).await;
        self.value += 1;
        self.value
    }

    #[public]
    fn read(&self) -> u64 {
        self.value
    }
}

/// Runs `CALLS` calls at once, each on a task of its own, and returns their
/// results; fails if they do not all finish within the hang guard.
async fn on_tasks<T, F, Fut>(call: F, what: &str) -> Vec<T>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    let tasks: Vec<_> = (0..CALLS).map(|_| tokio::spawn(call())).collect();
    let results = tokio::time::timeout(HANG_GUARD, futures::future::join_all(tasks))
        .await
        .unwrap_or_else(|_| panic!("{what}: the calls did not all finish"));
    results
        .into_iter()
        .map(|joined| joined.expect("task completes").expect("call succeeds"))
        .collect()
}

fn assert_one_leader(leaders: &[bool]) {
    assert_eq!(leaders.len(), CALLS);
    assert_eq!(
        leaders.iter().filter(|&&leader| leader).count(),
        1,
        "a barrier round has exactly one leader"
    );
}

#[tokio::test]
async fn a_thousand_shared_calls_are_all_in_flight_at_once() {
    let pm = ProcessManager::new();
    let meeting = pm
        .spawn_with::<Meeting>(SpawnOptions::new().config(CALLS))
        .await
        .expect("spawns");

    // The barrier opens only when all 1,000 calls wait in `meet` together.
    let calls = futures::future::join_all((0..CALLS).map(|_| meeting.meet()));
    let results = tokio::time::timeout(HANG_GUARD, calls)
        .await
        .expect("all calls overlapped: the barrier opened");
    let leaders: Vec<bool> = results
        .into_iter()
        .map(|r| r.expect("call succeeds"))
        .collect();
    assert_one_leader(&leaders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_shared_calls_overlap_across_worker_threads() {
    let pm = ProcessManager::new();
    let meeting = pm
        .spawn_with::<Meeting>(SpawnOptions::new().config(CALLS))
        .await
        .expect("spawns");

    let leaders = on_tasks(
        || {
            let meeting = meeting.clone();
            async move { meeting.meet().await }
        },
        "all calls overlap, so the barrier opens",
    )
    .await;
    assert_one_leader(&leaders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_calls_still_overlap_when_the_process_also_has_exclusive_methods() {
    let pm = ProcessManager::new();
    let meeting = pm
        .spawn_with::<LockedMeeting>(SpawnOptions::new().config(CALLS))
        .await
        .expect("spawns");

    let leaders = on_tasks(
        || {
            let meeting = meeting.clone();
            async move { meeting.meet().await }
        },
        "all calls overlap under the read lock",
    )
    .await;
    assert_one_leader(&leaders);

    // The exclusive method still works once the shared calls are done.
    assert_eq!(meeting.reset(2).await.expect("reset"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_exclusive_increments_run_one_at_a_time_and_lose_nothing() {
    let pm = ProcessManager::new();
    let counter = pm.spawn::<Counter>().await.expect("spawns");

    let mut seen = on_tasks(
        || {
            let counter = counter.clone();
            async move { counter.increment().await }
        },
        "increments complete",
    )
    .await;
    seen.sort_unstable();
    let expected: Vec<u64> = (1..=CALLS as u64).collect();
    assert_eq!(seen, expected, "each increment saw a distinct value");

    let (value, max_active) = counter.stats().await.expect("stats");
    assert_eq!(value, CALLS as u64);
    assert_eq!(max_active, 1, "two `&mut self` calls never ran at once");
}

#[tokio::test(start_paused = true)]
async fn an_exclusive_call_keeps_shared_calls_out_until_it_returns() {
    let pm = ProcessManager::new();
    let ledger = pm.spawn::<Ledger>().await.expect("spawns");

    let update = ledger.update_slowly(60);
    tokio::pin!(update);
    assert!(
        poll_once(&mut update).await.is_pending(),
        "the update is inside the method, holding the lock"
    );

    // With the clock paused, time only moves when every task is idle: a read
    // that could proceed would return before 30 virtual seconds pass.
    let read = ledger.read();
    tokio::pin!(read);
    assert!(
        tokio::time::timeout(Duration::from_secs(30), &mut read)
            .await
            .is_err(),
        "a `&self` call waits while a `&mut self` call runs"
    );

    assert_eq!(update.await.expect("update"), 2);
    assert_eq!(
        read.await.expect("read"),
        2,
        "the read never sees a half-done update"
    );
}
