//! Calls over real sockets, unix and TCP: the same proxies as a local spawn,
//! typed errors, exclusivity, many calls on one connection, what a client is
//! told about services the server does not offer, and the connection limit.

mod support;

use std::time::Duration;

use support::*;
use titan_core::prelude::*;
use titan_transport::{ConnectOptions, Endpoint, ReconnectingCaller};

over_both_transports!(
    unary_calls_and_typed_errors,
    mut_self_calls_take_turns_across_the_network,
    many_concurrent_calls_share_one_connection,
    a_service_the_server_does_not_offer_is_not_found,
    another_major_version_is_a_version_mismatch,
    the_connection_limit_refuses_extra_connections,
    dropping_the_last_proxy_closes_its_connection,
    streams_cross_the_network_both_ways,
);

async fn unary_calls_and_typed_errors(transport: Transport) {
    let served = serve_bank(transport, "unary").await;
    let bank = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");

    assert_eq!(bank.add(5, 3).await, Ok(8));
    assert_eq!(bank.deposit(10).await, Ok(10));
    assert_eq!(bank.withdraw(4).await, Ok(6));
    assert_eq!(
        bank.withdraw(100).await,
        Err(CallError::Application(BankError::Insufficient {
            balance: 6
        })),
        "the method's own error arrives typed"
    );
    assert_eq!(
        served.local.balance().await,
        Ok(6),
        "the calls reached the served process"
    );
    assert_eq!(
        bank.process_id(),
        None,
        "a remote proxy names no local process"
    );
}

async fn mut_self_calls_take_turns_across_the_network(transport: Transport) {
    let served = serve_bank(transport, "exclusive").await;
    // Two connections, so calls also interleave across connection tasks.
    let first = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");
    let second = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");
    let deposits = (0..100).map(|i| {
        let bank = if i % 2 == 0 { &first } else { &second };
        bank.deposit(1)
    });
    let balances = guarded("100 deposits", futures::future::join_all(deposits)).await;
    let mut balances: Vec<u64> = balances
        .into_iter()
        .map(|balance| balance.expect("a deposit"))
        .collect();
    balances.sort_unstable();
    assert_eq!(
        balances,
        (1..=100).collect::<Vec<_>>(),
        "every deposit saw the one before it: none was lost"
    );
}

async fn many_concurrent_calls_share_one_connection(transport: Transport) {
    let served = serve_bank(transport, "concurrent").await;
    let bank = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");

    // One call waits for a gate that a later call on the same connection
    // opens: replies come back out of order, nothing waits in line.
    let waiting = tokio::spawn({
        let bank = bank.clone();
        async move { bank.wait_for("gate".into()).await }
    });
    eventually("the waiting call starts", || served.in_flight() == 1).await;
    bank.open("gate".into()).await.expect("opens");
    assert_eq!(
        guarded("the waiting call", waiting).await.expect("joins"),
        Ok("gate".to_string())
    );

    let sums = (0..500_i64).map(|i| bank.add(i, i));
    let sums = guarded("500 calls", futures::future::join_all(sums)).await;
    for (i, sum) in (0_i64..).zip(sums) {
        assert_eq!(sum, Ok(2 * i));
    }
    assert_eq!(served.server.connections(), 1, "all on one connection");
}

async fn a_service_the_server_does_not_offer_is_not_found(transport: Transport) {
    let served = serve_bank(transport, "not-found").await;
    match titan_transport::connect::<Stranger>(served.server.local_addr()).await {
        Err(Error::ServiceNotFound { service }) => {
            assert!(service.contains("stranger@1.0.0"), "{service}");
            assert!(
                service.contains("bank@1.2.0"),
                "says what is offered: {service}"
            );
        }
        other => panic!("expected ServiceNotFound, got {other:?}"),
    }

    // An untyped caller connects to anything and learns it per call.
    let caller = ReconnectingCaller::connect(served.server.local_addr(), ConnectOptions::default())
        .await
        .expect("connects");
    assert_eq!(caller.offered()[0].name, "bank");
    let stranger = StrangerProxy::from_client(Client::new(caller));
    assert!(matches!(
        stranger.hi().await,
        Err(Error::ServiceNotFound { .. })
    ));
}

async fn another_major_version_is_a_version_mismatch(transport: Transport) {
    let served = serve_bank(transport, "version").await;
    match titan_transport::connect::<BankV2>(served.server.local_addr()).await {
        Err(Error::VersionMismatch {
            service,
            expected,
            found,
        }) => {
            assert_eq!(
                (service.as_str(), expected.as_str(), found.as_str()),
                ("bank", "2.0.0", "1.2.0")
            );
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
}

async fn the_connection_limit_refuses_extra_connections(transport: Transport) {
    let served = serve_bank_with(transport.endpoint("limit"), |builder| {
        builder.max_connections(2)
    })
    .await;
    let url = served.url();
    let first = titan_transport::connect::<Bank>(&url)
        .await
        .expect("first connects");
    let second = titan_transport::connect::<Bank>(&url)
        .await
        .expect("second connects");
    assert_eq!(served.server.connections(), 2);

    let reason = unavailable(titan_transport::connect::<Bank>(&url).await.map(|_| ()));
    assert!(reason.contains("limit of 2 connections"), "{reason}");
    assert_eq!(first.add(1, 1).await, Ok(2), "the admitted ones still work");
    assert_eq!(second.add(2, 2).await, Ok(4));

    // A freed slot admits the next client.
    drop(first);
    eventually("the first connection closes", || {
        served.server.connections() == 1
    })
    .await;
    let third = titan_transport::connect::<Bank>(&url)
        .await
        .expect("third connects");
    assert_eq!(third.add(3, 3).await, Ok(6));
}

async fn dropping_the_last_proxy_closes_its_connection(transport: Transport) {
    let served = serve_bank(transport, "drop-proxy").await;
    let bank = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");
    let clone = bank.clone();
    drop(bank);
    assert_eq!(clone.add(1, 2).await, Ok(3), "a clone keeps it open");
    assert_eq!(served.server.connections(), 1);
    drop(clone);
    eventually("the connection closes", || served.server.connections() == 0).await;
}

async fn streams_cross_the_network_both_ways(transport: Transport) {
    let served = serve_bank(transport, "streams").await;
    let bank = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");
    let items: Vec<u64> = bank
        .count(500)
        .await
        .expect("the stream starts")
        .map(|item| item.expect("an item"))
        .collect()
        .await;
    assert_eq!(items, (1..=500).collect::<Vec<_>>());
    assert_eq!(bank.sum(Stream::iter(1..=1000)).await, Ok(500_500));
}

#[tokio::test]
async fn the_server_reports_the_port_it_was_given() {
    let served = serve_bank(Transport::Tcp, "port").await;
    match served.server.local_addr() {
        Endpoint::Tcp { host, port } => {
            assert_eq!(host, "127.0.0.1");
            assert_ne!(*port, 0, "port 0 became a real port");
        }
        other => panic!("expected a tcp endpoint, got {other}"),
    }
    assert!(served.url().starts_with("tcp://127.0.0.1:"));
    let bank = titan_transport::connect::<Bank>(served.url())
        .await
        .expect("connects to the reported URL");
    assert_eq!(bank.add(1, 1).await, Ok(2));
}

#[tokio::test]
async fn connect_says_what_is_wrong_with_a_bad_url_or_an_absent_server() {
    match titan_transport::connect::<Bank>("http://127.0.0.1:1").await {
        Err(error @ Error::InvalidArgument { .. }) => {
            assert!(!error.is_retryable(), "a bad URL stays bad");
            assert!(
                error.to_string().contains("`http` is not supported"),
                "{error}"
            );
        }
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }

    let path = unix_path("nobody");
    let reason = unavailable(
        titan_transport::connect::<Bank>(format!("unix://{}", path.display()))
            .await
            .map(|_| ()),
    );
    assert!(reason.contains("could not connect to unix://"), "{reason}");

    // A port that was just free: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binds")
        .local_addr()
        .expect("has an address")
        .port();
    let reason = unavailable(
        titan_transport::connect::<Bank>(format!("tcp://127.0.0.1:{port}"))
            .await
            .map(|_| ()),
    );
    assert!(reason.contains("could not connect to tcp://"), "{reason}");
}

#[tokio::test]
async fn a_call_with_a_deadline_travels_with_it() {
    let served = serve_bank(Transport::Tcp, "deadline").await;
    let bank = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("connects");
    assert_eq!(
        bank.with_timeout(Duration::from_millis(50)).hang().await,
        Err(Error::Timeout)
    );
    eventually("the server drops the work", || served.in_flight() == 0).await;
    assert_eq!(bank.add(2, 3).await, Ok(5));
}
