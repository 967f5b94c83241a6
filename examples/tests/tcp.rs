//! The `tcp_server` and `tcp_client` examples, run together in one process:
//! the server's code on port 0, the client's code against the port it got.
//! The examples' own files are compiled in here, so this covers their code.

#[path = "../examples/tcp_server.rs"]
#[allow(dead_code)]
mod tcp_server;

#[path = "../examples/tcp_client.rs"]
#[allow(dead_code)]
mod tcp_client;

use std::time::Duration;

use titan_core::prelude::*;

const HANG_GUARD: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_tcp_client_example_calls_the_tcp_server_example() -> anyhow::Result<()> {
    let pm = ProcessManager::new();
    let server = tcp_server::start(&pm, "tcp://127.0.0.1:0").await?;
    let url = server.local_addr().to_string();

    // Twice: the second client continues the server's count.
    for _ in 0..2 {
        tokio::time::timeout(HANG_GUARD, tcp_client::run(&url))
            .await
            .expect("the client finishes")?;
    }

    tokio::time::timeout(HANG_GUARD, server.shutdown())
        .await
        .expect("the server shuts down");
    pm.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_tcp_client_example_says_when_no_server_is_there() {
    let path = std::env::temp_dir().join(format!("titan-no-server-{}.sock", std::process::id()));
    let url = format!("unix://{}", path.display());
    let error = tcp_client::run(&url).await.expect_err("nothing is there");
    assert!(
        format!("{error:#}").contains("is the tcp_server example running?"),
        "{error:#}"
    );
}
