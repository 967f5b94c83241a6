//! Connects to the calculator that the `tcp_server` example serves, calls each
//! method and prints the results:
//!
//! ```sh
//! cargo run -p titan-examples --example tcp_client                 # tcp://127.0.0.1:7000
//! cargo run -p titan-examples --example tcp_client -- unix:///tmp/calc.sock
//! ```

use anyhow::Context;
use titan_core::prelude::*;
use titan_examples::calculator::{Calculator, MathError};

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

    let sum = calc.add(5, 3).await?;
    println!("add(5, 3)            = {sum}");
    anyhow::ensure!(sum == 8, "add(5, 3) returned {sum}");

    let product = calc.mul(6, 7).await?;
    println!("mul(6, 7)            = {product}");
    anyhow::ensure!(product == 42, "mul(6, 7) returned {product}");

    let quotient = calc.div(84, 2).await?;
    println!("div(84, 2)           = {quotient}");
    anyhow::ensure!(quotient == 42, "div(84, 2) returned {quotient}");

    // The method's own error arrives typed, distinct from a network failure.
    match calc.div(1, 0).await {
        Err(CallError::Application(MathError::DivisionByZero)) => {
            println!("div(1, 0)            = the calculator said: division by zero")
        }
        other => anyhow::bail!("expected a division-by-zero error, got {other:?}"),
    }
    match calc.mul(i64::MAX, 2).await {
        Err(CallError::Application(error)) => {
            println!("mul(i64::MAX, 2)     = the calculator said: {error}")
        }
        other => anyhow::bail!("expected an overflow error, got {other:?}"),
    }

    let total = calc.sum((1..=100).collect()).await?;
    println!("sum(1..=100)         = {total}");
    anyhow::ensure!(total == 5050, "sum(1..=100) returned {total}");

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

/// Calls `count` `n` times at once over the one connection; the counts, sorted.
async fn count_concurrently(
    calc: &titan_examples::calculator::CalculatorProxy,
    n: usize,
) -> Result<Vec<u64>, Error> {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..n {
        let calc = calc.clone();
        calls.spawn(async move { calc.count().await });
    }
    let mut counts = Vec::with_capacity(n);
    while let Some(joined) = calls.join_next().await {
        counts.push(joined.map_err(|e| Error::Internal(e.to_string()))??);
    }
    counts.sort_unstable();
    Ok(counts)
}
