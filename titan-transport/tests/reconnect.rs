//! Losing the server and getting it back: the same proxy reconnects with
//! backoff; calls in flight on the lost connection fail at once; calls made
//! while disconnected wait for the next connection, up to a limit.

mod support;

use std::time::Duration;

use support::*;
use titan_core::prelude::*;
use titan_transport::{ConnectOptions, ReconnectingCaller, Server};

over_both_transports!(
    the_same_proxy_works_again_after_the_server_restarts,
    a_call_in_flight_when_the_server_dies_fails_at_once,
    with_no_server_a_call_fails_after_waiting_for_a_connection,
    a_deadline_sooner_than_the_wait_is_a_timeout,
);

/// Serves a new bank on `url`, retrying while the dropped server's listener
/// is still on its way out (its task is dropped by the runtime shortly after
/// the abort).
async fn rebind(url: &str) -> Served {
    let pm = ProcessManager::new();
    let local = pm.spawn::<Bank>().await.expect("the bank spawns");
    let server = guarded("binding again", async {
        loop {
            match Server::builder().serve::<Bank>(&local).bind(url).await {
                Ok(server) => break server,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
    Served { pm, local, server }
}

/// A proxy over a reconnecting caller that the test can also look at.
async fn connect(served: &Served, options: ConnectOptions) -> (BankProxy, ReconnectingCaller) {
    let caller = ReconnectingCaller::connect(served.server.local_addr(), options)
        .await
        .expect("connects");
    let bank = BankProxy::from_client(Client::new(caller.clone()));
    (bank, caller)
}

async fn the_same_proxy_works_again_after_the_server_restarts(transport: Transport) {
    let first = serve_bank(transport, "restart").await;
    let url = first.url();
    let (bank, caller) = connect(&first, quick_reconnect()).await;
    assert_eq!(bank.deposit(5).await, Ok(5));

    guarded("the first server shuts down", first.server.shutdown()).await;
    eventually("the client notices", || !caller.is_connected()).await;

    // A call made while disconnected waits for the next server.
    let waiting = tokio::spawn({
        let bank = bank.clone();
        async move { bank.add(20, 22).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "the call waits for a connection");

    // A new server (a new process behind it) on the same path or port.
    let second = serve_bank_with(url.clone(), |builder| builder).await;
    assert_eq!(second.url(), url);
    assert_eq!(
        guarded("the waiting call", waiting).await.expect("joins"),
        Ok(42)
    );
    assert!(caller.is_connected());
    assert_eq!(
        bank.deposit(1).await,
        Ok(1),
        "the same proxy now reaches the new process"
    );
    assert_eq!(second.server.connections(), 1, "one connection, reused");
}

async fn a_call_in_flight_when_the_server_dies_fails_at_once(transport: Transport) {
    let served = serve_bank(transport, "dies").await;
    let url = served.url();
    let (bank, caller) = connect(&served, quick_reconnect()).await;
    let hanging = tokio::spawn({
        let bank = bank.clone();
        async move { bank.hang().await }
    });
    eventually("the call reaches the process", || served.in_flight() == 1).await;

    let Served { pm, server, local } = served;
    drop(server); // aborts: every connection closes at once
    let reason = unavailable(guarded("the call in flight", hanging).await.expect("joins"));
    assert!(reason.contains(&url), "names the server: {reason}");
    eventually("the process's work is stopped", || {
        in_flight(&pm, &local) == 0
    })
    .await;

    // Not retried behind the caller's back, but the proxy is not broken either.
    eventually("the client notices", || !caller.is_connected()).await;
    let again = rebind(&url).await;
    assert_eq!(
        guarded("a call after the server is back", bank.add(1, 1)).await,
        Ok(2)
    );
    assert_eq!(again.server.connections(), 1);
}

async fn with_no_server_a_call_fails_after_waiting_for_a_connection(transport: Transport) {
    let served = serve_bank(transport, "gone").await;
    let wait = Duration::from_millis(300);
    let (bank, caller) = connect(
        &served,
        ConnectOptions {
            wait_for_connection: wait,
            ..quick_reconnect()
        },
    )
    .await;
    assert_eq!(bank.add(1, 1).await, Ok(2));
    guarded("shutdown", served.server.shutdown()).await;
    eventually("the client notices", || !caller.is_connected()).await;

    let started = tokio::time::Instant::now();
    let reason = unavailable(guarded("the call", bank.add(1, 1)).await);
    assert!(
        started.elapsed() >= wait,
        "it waited for a connection first"
    );
    assert!(reason.contains("after waiting"), "{reason}");
    assert!(
        reason.contains("could not connect"),
        "says why the last attempt failed: {reason}"
    );
}

async fn a_deadline_sooner_than_the_wait_is_a_timeout(transport: Transport) {
    let served = serve_bank(transport, "deadline").await;
    let (bank, caller) = connect(&served, quick_reconnect()).await;
    guarded("shutdown", served.server.shutdown()).await;
    eventually("the client notices", || !caller.is_connected()).await;
    assert_eq!(
        guarded(
            "the call",
            bank.with_timeout(Duration::from_millis(50)).add(1, 1)
        )
        .await,
        Err(Error::Timeout)
    );
}

#[tokio::test]
async fn without_waiting_a_disconnected_call_fails_at_once() {
    let served = serve_bank(Transport::Unix, "no-wait").await;
    let (bank, caller) = connect(
        &served,
        ConnectOptions {
            wait_for_connection: Duration::ZERO,
            ..quick_reconnect()
        },
    )
    .await;
    guarded("shutdown", served.server.shutdown()).await;
    eventually("the client notices", || !caller.is_connected()).await;
    let reason = unavailable(guarded("the call", bank.add(1, 1)).await);
    assert!(reason.contains("not connected"), "{reason}");
}
