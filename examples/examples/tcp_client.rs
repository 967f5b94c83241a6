//! Connects to the calculator that the `tcp_server` example serves, calls each
//! method and prints the results:
//!
//! ```sh
//! cargo run -p titan-examples --example tcp_client                 # tcp://127.0.0.1:7000
//! cargo run -p titan-examples --example tcp_client -- unix:///tmp/calc.sock
//! ```

use anyhow::Context;
use titan_examples::calculator::{Calculator, arithmetic, count_concurrently};

/// Where the client connects unless told otherwise.
pub const DEFAULT_URL: &str = "tcp://127.0.0.1:7000";

#[titan_core::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    run(&url).await
}

/// Connects to `url` and calls every method of the calculator served there.
pub async fn run(url: &str) -> anyhow::Result<()> {
    // The same `CalculatorProxy` type a local spawn returns.
    let calc = titan_transport::connect::<Calculator>(url)
        .await
        .with_context(|| format!("connecting to {url} (is the tcp_server example running?)"))?;
    println!("connected to {url}");

    // Every arithmetic method, its result printed and checked; typed errors too.
    arithmetic(&calc).await?;

    // `&mut self` across the network: concurrent calls still take turns, so
    // the counts come back distinct and consecutive (continuing from earlier
    // clients of the same server).
    let counts = count_concurrently(&calc, 10).await?;
    println!("count() x 10         = {counts:?}");
    anyhow::ensure!(
        counts.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "counts are not consecutive: {counts:?}"
    );
    Ok(())
}
