//! One behaviour suite, written once and run against every route a call can
//! take: a local task, a worker thread, a child OS process over its socket
//! pair, a unix socket and TCP. Whatever stands behind the proxy, the same
//! calls must behave the same: unary calls, typed application errors,
//! `&mut self` exclusivity, streams both ways with backpressure, cancellation
//! and deadlines.
//!
//! This target has `harness = false` (its `main` is below) because the child
//! route starts this very binary again as the child process.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use titan_core::prelude::*;
use titan_transport::Server;

const HANG_GUARD: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum SuiteError {
    DivisionByZero,
}

/// Counts the calls of a method running right now, and the most at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    fn enter(self: &Arc<Self>) -> GaugeGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(self.clone())
    }
}

struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The process every route serves.
#[derive(Default)]
struct Suite {
    counter: u64,
    increments: Arc<Gauge>,
    hanging: Arc<Gauge>,
    produced: Arc<AtomicU64>,
}

#[process(name = "suite", version = "1.0.0")]
impl Suite {
    #[public]
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    #[public]
    async fn divide(&self, a: i64, b: i64) -> Result<i64, SuiteError> {
        if b == 0 {
            return Err(SuiteError::DivisionByZero);
        }
        Ok(a / b)
    }

    /// Increments with a yield in the middle: two at once would be seen.
    #[public]
    async fn increment(&mut self) -> u64 {
        let _inside = self.increments.enter();
        let before = self.counter;
        tokio::task::yield_now().await;
        self.counter = before + 1;
        self.counter
    }

    /// The counter, and the most increments ever running at once.
    #[public]
    fn stats(&self) -> (u64, usize) {
        (self.counter, self.increments.most.load(Ordering::SeqCst))
    }

    #[public]
    fn pid(&self) -> u32 {
        std::process::id()
    }

    /// Never returns; counted while it runs.
    #[public]
    async fn hang(&self) {
        let _inside = self.hanging.enter();
        std::future::pending::<()>().await;
    }

    /// How many `hang` calls are running.
    #[public]
    fn hanging(&self) -> usize {
        self.hanging.now.load(Ordering::SeqCst)
    }

    /// 1, 2, …, `n`.
    #[public]
    fn count(&self, n: u64) -> Stream<u64> {
        Stream::iter(1..=n)
    }

    /// Counts forever, as fast as it is allowed to.
    #[public]
    fn ticks(&self) -> Stream<u64> {
        let produced = self.produced.clone();
        Stream::iter((1..).inspect(move |_| {
            produced.fetch_add(1, Ordering::SeqCst);
        }))
    }

    #[public]
    fn produced(&self) -> u64 {
        self.produced.load(Ordering::SeqCst)
    }

    /// Adds up what it is sent.
    #[public]
    async fn sum(&self, mut values: Stream<u64>) -> u64 {
        let mut total = 0;
        while let Some(value) = values.next().await {
            total += value;
        }
        total
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    Local,
    Worker,
    Child,
    Unix,
    Tcp,
}

/// A `SuiteProxy` reached through one route, and what keeps the route up.
struct Target {
    suite: SuiteProxy,
    pm: ProcessManager,
    server: Option<Server>,
}

impl Target {
    async fn open(route: Route) -> Target {
        let pm = ProcessManager::new();
        let spawned = |isolation| pm.spawn_with::<Suite>(SpawnOptions::new().isolation(isolation));
        match route {
            Route::Local => Target {
                suite: spawned(Isolation::Local).await.expect("spawns"),
                pm,
                server: None,
            },
            Route::Worker => Target {
                suite: spawned(Isolation::Worker).await.expect("spawns"),
                pm,
                server: None,
            },
            Route::Child => Target {
                suite: spawned(Isolation::Child).await.expect("spawns"),
                pm,
                server: None,
            },
            Route::Unix | Route::Tcp => {
                let local = spawned(Isolation::Local).await.expect("spawns");
                let url = match route {
                    Route::Unix => format!(
                        "unix://{}",
                        std::env::temp_dir()
                            .join(format!(
                                "titan-routes-{}-{}.sock",
                                std::process::id(),
                                NEXT_SOCKET.fetch_add(1, Ordering::SeqCst)
                            ))
                            .display()
                    ),
                    _ => "tcp://127.0.0.1:0".to_string(),
                };
                let server = Server::builder()
                    .serve::<Suite>(&local)
                    .bind(url.as_str())
                    .await
                    .expect("binds");
                let suite =
                    titan_transport::connect::<Suite>(server.local_addr().to_string().as_str())
                        .await
                        .expect("connects");
                Target {
                    suite,
                    pm,
                    server: Some(server),
                }
            }
        }
    }

    async fn close(self) {
        if let Some(server) = self.server {
            server.shutdown().await;
        }
        self.pm.shutdown().await.expect("shuts down");
    }
}

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(0);

async fn guarded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

/// Polls `probe` until it returns `want`.
async fn until<F, Fut, T>(what: &str, want: T, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
    T: PartialEq + std::fmt::Debug,
{
    guarded(what, async {
        loop {
            if probe().await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The producer's count once it stops moving.
async fn settled(suite: &SuiteProxy, what: &str) -> u64 {
    guarded(what, async {
        let mut last = suite.produced().await.expect("count");
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = suite.produced().await.expect("count");
            if now == last {
                return now;
            }
            last = now;
        }
    })
    .await
}

// --- The suite ----------------------------------------------------------------

async fn unary_calls(route: Route) {
    let t = Target::open(route).await;
    assert_eq!(t.suite.add(5, 3).await, Ok(8));
    let pid = t.suite.pid().await.expect("pid");
    assert_eq!(
        pid != std::process::id(),
        route == Route::Child,
        "only the child route runs in another OS process"
    );
    t.close().await;
}

async fn typed_application_errors(route: Route) {
    let t = Target::open(route).await;
    assert_eq!(t.suite.divide(7, 2).await, Ok(3));
    assert_eq!(
        t.suite.divide(1, 0).await,
        Err(CallError::Application(SuiteError::DivisionByZero))
    );
    t.close().await;
}

async fn exclusive_methods_run_one_at_a_time(route: Route) {
    let t = Target::open(route).await;
    let counts = guarded(
        "increments",
        futures::future::join_all((0..200).map(|_| t.suite.increment())),
    )
    .await;
    let mut counts: Vec<u64> = counts.into_iter().map(|c| c.expect("increments")).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=200).collect::<Vec<_>>());
    assert_eq!(t.suite.stats().await, Ok((200, 1)), "never two at once");
    t.close().await;
}

async fn a_returned_stream_arrives_whole(route: Route) {
    let t = Target::open(route).await;
    let items: Vec<u64> = t
        .suite
        .count(500)
        .await
        .expect("starts")
        .map(|item| item.expect("an item"))
        .collect()
        .await;
    assert_eq!(items, (1..=500).collect::<Vec<_>>());
    t.close().await;
}

async fn a_stream_argument_arrives_whole(route: Route) {
    let t = Target::open(route).await;
    let total = guarded("sum", t.suite.sum(Stream::iter(1..=2000))).await;
    assert_eq!(total, Ok(2_001_000));
    t.close().await;
}

async fn a_slow_consumer_holds_the_producer_and_dropping_stops_it(route: Route) {
    let t = Target::open(route).await;
    let mut ticks = t.suite.ticks().await.expect("starts");
    for expected in 1..=5 {
        assert_eq!(ticks.next().await.expect("an item").expect("ok"), expected);
    }
    // The producer stops within a bounded distance of the consumer.
    let stalled = settled(&t.suite, "the producer stalls").await;
    assert!(stalled <= 5 + 100, "{stalled} produced for 5 consumed");

    drop(ticks);
    // Once dropped, the producer makes no more items.
    let stopped = settled(&t.suite, "the producer stops").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(t.suite.produced().await, Ok(stopped));
    t.close().await;
}

async fn dropping_a_call_stops_its_work(route: Route) {
    let t = Target::open(route).await;
    let call = tokio::spawn({
        let suite = t.suite.clone();
        async move { suite.hang().await }
    });
    until("the call runs", Ok(1), || t.suite.hanging()).await;
    call.abort();
    until("the work stops", Ok(0), || t.suite.hanging()).await;
    t.close().await;
}

async fn a_deadline_fails_the_call_and_stops_its_work(route: Route) {
    let t = Target::open(route).await;
    let result = guarded(
        "the deadline",
        t.suite.with_timeout(Duration::from_millis(100)).hang(),
    )
    .await;
    assert_eq!(result, Err(Error::Timeout));
    until("the work stops", Ok(0), || t.suite.hanging()).await;
    assert_eq!(t.suite.add(1, 1).await, Ok(2), "the route still serves");
    t.close().await;
}

// --- The harness --------------------------------------------------------------

type Test = fn(Route) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        [$((stringify!($name), (|route| Box::pin($name(route))) as Test)),*]
    };
}

fn main() {
    // In a child, this hosts the process its parent asked for and exits.
    titan_core::child::host_if_child();

    let args = Arguments::from_args();
    let tests = tests![
        unary_calls,
        typed_application_errors,
        exclusive_methods_run_one_at_a_time,
        a_returned_stream_arrives_whole,
        a_stream_argument_arrives_whole,
        a_slow_consumer_holds_the_producer_and_dropping_stops_it,
        dropping_a_call_stops_its_work,
        a_deadline_fails_the_call_and_stops_its_work,
    ];
    let routes = [
        ("local", Route::Local),
        ("worker", Route::Worker),
        ("child", Route::Child),
        ("unix", Route::Unix),
        ("tcp", Route::Tcp),
    ];
    let mut trials = Vec::new();
    for (route_name, route) in routes {
        for (test_name, test) in tests {
            trials.push(Trial::test(
                format!("{route_name}::{test_name}"),
                move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .map_err(|e| Failed::from(format!("runtime: {e}")))?;
                    runtime.block_on(test(route));
                    Ok(())
                },
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
