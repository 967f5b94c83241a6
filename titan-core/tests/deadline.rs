//! A deadline travels with a request: past it the call fails with
//! `Error::Timeout` and the process drops the work. Time here is tokio's
//! paused clock, so nothing depends on the machine's speed.

use std::sync::Mutex;
use std::time::Duration;

use titan_core::prelude::*;
use titan_core::{MethodDefinition, Payload, Request};
use tokio::time::Instant;

/// The `secs` of every `sleep` call whose work was dropped before it finished
/// (each test uses its own values, as tests run side by side).
static ABANDONED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

struct Abandoned(u64);

impl Drop for Abandoned {
    fn drop(&mut self) {
        ABANDONED.lock().expect("abandoned lock").push(self.0);
    }
}

fn abandoned(secs: u64) -> bool {
    ABANDONED.lock().expect("abandoned lock").contains(&secs)
}

#[derive(Default)]
struct Sleeper;

#[process]
impl Sleeper {
    #[public]
    async fn sleep(&self, secs: u64) -> u64 {
        let guard = Abandoned(secs);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        std::mem::forget(guard);
        secs
    }
}

fn sleep_method() -> &'static MethodDefinition {
    Sleeper::DEFINITION.method("sleep").expect("sleep")
}

fn request(secs: u64, deadline: Option<Instant>) -> Request {
    Request {
        service: Sleeper::DEFINITION,
        method: sleep_method(),
        payload: Payload::value((secs,)),
        deadline,
        stream: None,
        key: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_deadline_fails_with_timeout() {
    let pm = ProcessManager::new();
    let sleeper = pm.spawn::<Sleeper>().await.expect("spawns");
    let id = sleeper.process_id().expect("managed");

    let started = Instant::now();
    let deadline = started + Duration::from_secs(5);
    let err = sleeper
        .client()
        .call(request(3_601, Some(deadline)))
        .await
        .expect_err("the deadline passes first");
    assert_eq!(err, Error::Timeout);
    assert!(err.is_retryable());
    assert!(
        Instant::now() >= deadline,
        "it failed at the deadline, not before"
    );
    assert!(
        Instant::now() < started + Duration::from_secs(3_601),
        "it did not wait for the method"
    );

    assert!(abandoned(3_601), "the process dropped the work");
    assert_eq!(pm.get(id).expect("listed").in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_within_its_deadline_succeeds() {
    let pm = ProcessManager::new();
    let sleeper = pm.spawn::<Sleeper>().await.expect("spawns");

    let deadline = Instant::now() + Duration::from_secs(60);
    let response = sleeper
        .client()
        .call(request(10, Some(deadline)))
        .await
        .expect("finishes before the deadline");
    assert_eq!(response.payload.into_value::<u64>().expect("a u64"), 10);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_leaves_the_process_serving() {
    let pm = ProcessManager::new();
    let sleeper = pm.spawn::<Sleeper>().await.expect("spawns");
    let client = sleeper.client();

    let err = client
        .call(request(600, Some(Instant::now() + Duration::from_secs(1))))
        .await
        .expect_err("times out");
    assert_eq!(err, Error::Timeout);
    assert!(abandoned(600), "the process dropped the work");

    assert_eq!(sleeper.sleep(2).await.expect("still serving"), 2);
    assert_eq!(
        pm.get(sleeper.process_id().expect("managed"))
            .expect("listed")
            .status,
        titan_core::ProcessStatus::Running
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_without_a_deadline_waits_for_the_method() {
    let pm = ProcessManager::new();
    let sleeper = pm.spawn::<Sleeper>().await.expect("spawns");

    let started = Instant::now();
    let response = sleeper
        .client()
        .call(request(3_600, None))
        .await
        .expect("no deadline, no timeout");
    assert_eq!(response.payload.into_value::<u64>().expect("a u64"), 3_600);
    assert!(Instant::now() >= started + Duration::from_secs(3_600));
    assert!(!abandoned(3_600), "the work ran to the end");
}
