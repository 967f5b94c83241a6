//! Stopping a server: gracefully (calls in flight finish, new connections and
//! new calls are refused, then everything closes) or at once (drop).

mod support;

use std::time::Duration;

use support::*;
use titan_core::prelude::*;
use titan_transport::{ConnectOptions, ReconnectingCaller};

over_both_transports!(
    shutdown_lets_a_call_in_flight_finish_and_refuses_new_connections,
    shutdown_stops_calls_that_outlive_its_timeout,
    dropping_the_server_stops_everything_at_once,
    an_idle_server_shuts_down_with_clients_connected,
    shutdown_lets_a_stream_in_progress_finish,
);

async fn shutdown_lets_a_call_in_flight_finish_and_refuses_new_connections(transport: Transport) {
    let served = serve_bank(transport, "graceful").await;
    let url = served.url();
    let bank = titan_transport::connect::<Bank>(&url)
        .await
        .expect("connects");
    let in_flight = tokio::spawn({
        let bank = bank.clone();
        async move { bank.wait_for("finish".into()).await }
    });
    eventually("the call reaches the process", || served.in_flight() == 1).await;

    let Served { pm, local, server } = served;
    let shutdown = tokio::spawn(server.shutdown());

    // New connections are refused once the listener is closed.
    guarded("new connections are refused", async {
        loop {
            match titan_transport::connect::<Bank>(&url).await {
                Err(Error::Unavailable { reason }) => break reason,
                Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(other) => panic!("expected Unavailable, got {other:?}"),
            }
        }
    })
    .await;
    // New calls on the open connection are refused too...
    let reason = unavailable(bank.add(1, 1).await);
    assert!(reason.contains("shutting down"), "{reason}");
    // ...while the call in flight runs on.
    assert!(!in_flight.is_finished());
    assert!(!shutdown.is_finished(), "shutdown waits for the call");

    local.open("finish".into()).await.expect("opens the gate");
    assert_eq!(
        guarded("the call in flight", in_flight)
            .await
            .expect("joins"),
        Ok("finish".to_string()),
        "the call in flight finished and its reply was delivered"
    );
    guarded("shutdown", shutdown).await.expect("joins");
    if let Transport::Unix = transport {
        let path = url.strip_prefix("unix://").expect("a unix url");
        assert!(
            !std::path::Path::new(path).exists(),
            "the socket file is removed"
        );
    }
    pm.shutdown().await.expect("the manager shuts down");
}

async fn shutdown_stops_calls_that_outlive_its_timeout(transport: Transport) {
    let served = serve_bank_with(transport.endpoint("timeout"), |builder| {
        builder.shutdown_timeout(Duration::from_millis(100))
    })
    .await;
    let bank = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");
    let hanging = tokio::spawn({
        let bank = bank.clone();
        async move { bank.hang().await }
    });
    eventually("the call reaches the process", || served.in_flight() == 1).await;

    let Served { pm, local, server } = served;
    guarded("shutdown", server.shutdown()).await;
    unavailable(guarded("the hanging call", hanging).await.expect("joins"));
    eventually("the process's work is stopped", || {
        in_flight(&pm, &local) == 0
    })
    .await;
}

async fn dropping_the_server_stops_everything_at_once(transport: Transport) {
    let served = serve_bank(transport, "drop").await;
    let url = served.url();
    let caller = ReconnectingCaller::connect(
        served.server.local_addr(),
        ConnectOptions {
            wait_for_connection: Duration::ZERO,
            ..quick_reconnect()
        },
    )
    .await
    .expect("connects");
    let bank = BankProxy::from_client(Client::new(caller.clone()));
    let hanging = tokio::spawn({
        let bank = bank.clone();
        async move { bank.hang().await }
    });
    eventually("the call reaches the process", || served.in_flight() == 1).await;

    let Served { pm, local, server } = served;
    server.abort();
    unavailable(guarded("the hanging call", hanging).await.expect("joins"));
    eventually("the process's work is stopped", || {
        in_flight(&pm, &local) == 0
    })
    .await;
    eventually("the client notices", || !caller.is_connected()).await;
    unavailable(bank.add(1, 1).await);
    if let Some(path) = url.strip_prefix("unix://") {
        assert!(!std::path::Path::new(path).exists());
    }
}

async fn an_idle_server_shuts_down_with_clients_connected(transport: Transport) {
    let served = serve_bank(transport, "idle").await;
    let caller = ReconnectingCaller::connect(served.server.local_addr(), quick_reconnect())
        .await
        .expect("connects");
    let bank = BankProxy::from_client(Client::new(caller.clone()));
    assert_eq!(bank.add(1, 1).await, Ok(2));
    guarded("shutdown", served.server.shutdown()).await;
    eventually("the client sees its connection closed", || {
        !caller.is_connected()
    })
    .await;
}

async fn shutdown_lets_a_stream_in_progress_finish(transport: Transport) {
    let served = serve_bank(transport, "stream-drain").await;
    let url = served.url();
    let bank = titan_transport::connect::<Bank>(&url)
        .await
        .expect("connects");
    // Far more items than the stream window: the producer can only finish
    // as the consumer reads, well after the shutdown has begun.
    let mut items = bank.count(1000).await.expect("the stream starts");
    assert_eq!(guarded("the first item", items.next()).await, Some(Ok(1)));

    let shutdown = tokio::spawn(served.server.shutdown());
    guarded("new connections are refused", async {
        while titan_transport::connect::<Bank>(&url).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(!shutdown.is_finished(), "shutdown waits for the stream");

    let rest: Vec<u64> = guarded(
        "the rest of the stream",
        items.map(|item| item.expect("an item")).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(rest, (2..=1000).collect::<Vec<_>>(), "every item arrived");
    guarded("shutdown", shutdown).await.expect("joins");
}
