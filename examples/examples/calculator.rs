//! Spawns a calculator and a memory, calls every method, prints the results and
//! shuts down: `cargo run -p titan-examples --example calculator`.

use titan_core::prelude::*;
use titan_examples::calculator::{
    Calculator, Memory, MemoryConfig, MemoryError, arithmetic, count_concurrently,
};

#[titan_core::main]
async fn main() -> anyhow::Result<()> {
    let pm = ProcessManager::new();

    let calc = pm.spawn::<Calculator>().await?;
    // Every arithmetic method, its result printed and checked; typed errors too.
    arithmetic(&calc).await?;

    // `&mut self`: 100 concurrent calls take turns; the count is exact.
    let counts = count_concurrently(&calc, 100).await?;
    println!("count() x 100        = 1..={}", counts.len());
    assert_eq!(counts, (1..=100).collect::<Vec<u64>>());

    // A process built by `#[init]` from its config.
    let memory = pm
        .spawn_with::<Memory>(SpawnOptions::new().config(MemoryConfig { capacity: 1 }))
        .await?;
    memory.store("answer".into(), 42).await?;
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
