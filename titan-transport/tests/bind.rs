//! Starting a server: bad URLs, ports and socket paths in use, stale socket
//! files, and cleaning up the socket file.

mod support;

use support::*;
use titan_core::prelude::*;
use titan_transport::{Server, TransportError};

#[tokio::test]
async fn a_bad_url_is_refused_with_the_reason() {
    match Server::builder().bind("tcp://localhost").await {
        Err(TransportError::Endpoint(error)) => {
            assert!(error.to_string().contains("port is missing"), "{error}")
        }
        other => panic!("expected an endpoint error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tcp_port_in_use_is_a_bind_error() {
    let served = serve_bank(Transport::Tcp, "in-use").await;
    match Server::builder().bind(served.server.local_addr()).await {
        Err(error @ TransportError::Bind { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&served.url()), "{message}");
            let runtime: Error = error.into();
            assert!(matches!(runtime, Error::Unavailable { .. }));
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_live_unix_socket_is_not_taken_over() {
    let served = serve_bank(Transport::Unix, "live").await;
    match Server::builder().bind(served.server.local_addr()).await {
        Err(TransportError::InUse { endpoint }) => assert_eq!(endpoint, served.url()),
        other => panic!("expected InUse, got {other:?}"),
    }
    let bank = titan_transport::connect::<Bank>(served.url())
        .await
        .expect("the first server still serves");
    assert_eq!(bank.add(1, 2).await, Ok(3));
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let path = unix_path("regular-file");
    std::fs::write(&path, b"precious").expect("writes a file");
    match Server::builder()
        .bind(format!("unix://{}", path.display()))
        .await
    {
        Err(error @ TransportError::NotASocket { .. }) => {
            assert!(error.to_string().contains("left alone"), "{error}")
        }
        other => panic!("expected NotASocket, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).expect("still there"),
        b"precious".to_vec()
    );
    std::fs::remove_file(&path).expect("cleans up");
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_the_new_one_removed_on_shutdown() {
    let path = unix_path("stale");
    // A listener that is gone leaves its file behind.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("binds"));
    assert!(path.exists());

    let served = serve_bank_with(format!("unix://{}", path.display()), |b| b).await;
    let bank = titan_transport::connect::<Bank>(served.url())
        .await
        .expect("connects");
    assert_eq!(bank.add(2, 2).await, Ok(4));
    guarded("shutdown", served.server.shutdown()).await;
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

#[tokio::test]
async fn dropping_a_unix_server_removes_its_socket_file() {
    let path = unix_path("dropped");
    let served = serve_bank_with(format!("unix://{}", path.display()), |b| b).await;
    assert!(path.exists());
    drop(served.server);
    assert!(!path.exists(), "removed at once on drop");
}

#[tokio::test]
async fn a_missing_directory_is_a_bind_error_naming_the_path() {
    let path = std::env::temp_dir()
        .join("titan-no-such-directory-for-sure")
        .join("x.sock");
    match Server::builder()
        .bind(format!("unix://{}", path.display()))
        .await
    {
        Err(error @ TransportError::Bind { .. }) => {
            assert!(
                error
                    .to_string()
                    .contains("titan-no-such-directory-for-sure"),
                "{error}"
            )
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}
