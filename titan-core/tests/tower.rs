//! Proxies fit tower: any layer can wrap a proxy's calls, and the layered
//! proxy is still the same typed proxy.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use titan_core::prelude::*;
use titan_core::{ErrorCode, Request, Response};
use tower::ServiceExt;
use tower::timeout::TimeoutLayer;

#[derive(Default)]
struct Worker;

#[process]
impl Worker {
    #[public]
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    #[public]
    async fn slow(&self, secs: u64) -> u64 {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        secs
    }
}

/// A layer written against tower's traits: records the method of every call
/// that passes through it and whether the call succeeded.
#[derive(Clone)]
struct Recording<S> {
    inner: S,
    seen: Record,
}

type Record = Arc<Mutex<Vec<(&'static str, bool)>>>;

/// A layer that wraps a client in [`Recording`], writing to `seen`.
fn recording(seen: &Record) -> impl tower::Layer<Client, Service = Recording<Client>> + use<> {
    let seen = seen.clone();
    tower::layer::layer_fn(move |inner| Recording {
        inner,
        seen: seen.clone(),
    })
}

impl<S> tower::Service<Request> for Recording<S>
where
    S: tower::Service<Request, Response = Response, Error = Error>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = request.method.name;
        let seen = self.seen.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            seen.lock()
                .expect("record lock")
                .push((method, result.is_ok()));
            result
        })
    }
}

/// A layer that refuses every call with an error of its own.
#[derive(Clone)]
struct Refusing;

impl tower::Service<Request> for Refusing {
    type Response = Response;
    type Error = tower::BoxError;
    type Future = std::future::Ready<Result<Response, tower::BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), tower::BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request) -> Self::Future {
        std::future::ready(Err("over quota".into()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_turns_a_slow_call_into_error_timeout() {
    let pm = ProcessManager::new();
    let worker = pm
        .spawn::<Worker>()
        .await
        .expect("spawns")
        .layer(TimeoutLayer::new(Duration::from_secs(1)));

    assert_eq!(worker.slow(60).await, Err(Error::Timeout));
    // The same layered proxy still serves calls that finish in time.
    assert_eq!(worker.add(2, 3).await, Ok(5));
    assert_eq!(worker.slow(0).await, Ok(0));
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_is_no_longer_in_flight() {
    let pm = ProcessManager::new();
    let worker = pm.spawn::<Worker>().await.expect("spawns");
    let id = worker.process_id().expect("managed");
    let layered = worker.layer(TimeoutLayer::new(Duration::from_secs(1)));

    assert_eq!(layered.slow(60).await, Err(Error::Timeout));
    assert_eq!(
        pm.get(id).expect("listed").in_flight,
        0,
        "the timed-out call was dropped"
    );
}

#[tokio::test]
async fn a_custom_layer_sees_every_call() {
    let pm = ProcessManager::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let layer = recording(&seen);
    let worker = pm.spawn::<Worker>().await.expect("spawns").layer(layer);

    assert_eq!(worker.add(1, 1).await.expect("add"), 2);
    assert_eq!(worker.slow(0).await.expect("slow"), 0);
    let clone = worker.clone();
    assert_eq!(clone.add(2, 2).await.expect("add through a clone"), 4);

    pm.kill(worker.process_id().expect("managed"));
    worker.add(3, 3).await.expect_err("killed");

    assert_eq!(
        *seen.lock().expect("record lock"),
        [("add", true), ("slow", true), ("add", true), ("add", false)]
    );
}

#[tokio::test]
async fn concurrent_calls_each_pass_through_the_layer_once() {
    let pm = ProcessManager::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let layer = recording(&seen);
    let worker = pm.spawn::<Worker>().await.expect("spawns").layer(layer);

    let sums = futures::future::join_all((0..100).map(|i| worker.add(i, i))).await;
    assert!(sums.iter().all(Result::is_ok));
    let seen = seen.lock().expect("record lock");
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|&(method, ok)| method == "add" && ok));
}

#[tokio::test(start_paused = true)]
async fn layers_stack_and_keep_the_process_id() {
    let pm = ProcessManager::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = pm.spawn::<Worker>().await.expect("spawns");
    let id = worker.process_id();
    let recording = {
        let seen = seen.clone();
        tower::layer::layer_fn(move |inner| Recording {
            inner,
            seen: seen.clone(),
        })
    };
    let layered = worker
        .layer(recording)
        .layer(TimeoutLayer::new(Duration::from_secs(1)));

    assert_eq!(layered.process_id(), id);
    assert_eq!(layered.slow(60).await, Err(Error::Timeout));
    assert_eq!(layered.add(1, 2).await, Ok(3));
    // The timeout sits outside the recorder, so the timed-out call never
    // finished there; the fast one did.
    assert_eq!(*seen.lock().expect("record lock"), [("add", true)]);
}

#[tokio::test]
async fn a_foreign_layer_error_becomes_error_layer_with_its_message() {
    let pm = ProcessManager::new();
    let worker = pm
        .spawn::<Worker>()
        .await
        .expect("spawns")
        .layer(tower::layer::layer_fn(|_inner| Refusing));

    let err = worker.add(1, 2).await.expect_err("refused by the layer");
    assert_eq!(err.code(), ErrorCode::Layer);
    assert!(err.to_string().contains("over quota"), "{err}");
}

#[tokio::test]
async fn a_client_is_a_tower_service() {
    let pm = ProcessManager::new();
    let worker = pm.spawn::<Worker>().await.expect("spawns");
    let client = worker.client().clone();
    let definition = <Worker as Process>::DEFINITION;

    let response = client
        .oneshot(Request {
            service: definition,
            method: definition.method("add").expect("add"),
            payload: titan_core::Payload::value((20_i64, 22_i64)),
            deadline: None,
            stream: None,
            key: None,
        })
        .await
        .expect("call succeeds");
    assert_eq!(response.payload.into_value::<i64>().expect("an i64"), 42);
}
