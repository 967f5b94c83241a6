//! Spawns a calculator and a memory, calls every method, prints the results and
//! shuts down: `cargo run -p titan-examples --example calculator`.

use titan_core::prelude::*;
use titan_examples::calculator::{Calculator, MathError, Memory, MemoryConfig, MemoryError};

#[titan_core::main]
async fn main() -> anyhow::Result<()> {
    let pm = ProcessManager::new();

    let calc = pm.spawn::<Calculator>().await?;
    let sum = calc.add(5, 3).await?;
    println!("add(5, 3)            = {sum}");
    assert_eq!(sum, 8);

    let product = calc.mul(6, 7).await?;
    println!("mul(6, 7)            = {product}");
    assert_eq!(product, 42);

    let quotient = calc.div(84, 2).await?;
    println!("div(84, 2)           = {quotient}");
    assert_eq!(quotient, 42);

    // A typed application error, distinct from "the process is unreachable".
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
    assert_eq!(total, 5050);

    // `&mut self`: 100 concurrent calls take turns; the count is exact.
    let counts = count_concurrently(&calc, 100).await?;
    println!("count() x 100        = {counts}");
    assert_eq!(counts, 100);

    // A process built by `#[init]` from its config.
    let memory = pm
        .spawn_with::<Memory>(SpawnOptions::new().config(MemoryConfig { capacity: 1 }))
        .await?;
    memory.store("answer".into(), quotient).await?;
    let recalled = memory.recall("answer".into()).await?;
    println!("recall(\"answer\")     = {recalled:?}");
    assert_eq!(recalled, Some(42));
    match memory.store("another".into(), 1).await {
        Err(CallError::Application(MemoryError::Full(1))) => {
            println!("store(\"another\", 1)  = the memory said: full")
        }
        other => anyhow::bail!("expected a full memory, got {other:?}"),
    }

    println!("\nprocesses running:");
    for info in pm.list() {
        println!(
            "  #{} {}@{} {:?}",
            info.id, info.name, info.version, info.status
        );
    }
    println!("process types in this binary:");
    for registration in titan_core::registry() {
        let methods: Vec<_> = registration
            .definition
            .methods
            .iter()
            .map(|m| m.name)
            .collect();
        println!("  {} — {}", registration.definition, methods.join(", "));
    }

    pm.shutdown().await?;
    println!("\nshut down cleanly");
    Ok(())
}

/// Calls `count` `n` times at once and returns the highest count seen.
async fn count_concurrently(
    calc: &titan_examples::calculator::CalculatorProxy,
    n: usize,
) -> Result<u64, Error> {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..n {
        let calc = calc.clone();
        calls.spawn(async move { calc.count().await });
    }
    let mut highest = 0;
    while let Some(joined) = calls.join_next().await {
        let count = joined.map_err(|e| Error::Internal(e.to_string()))??;
        highest = highest.max(count);
    }
    Ok(highest)
}
