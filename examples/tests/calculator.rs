//! The example's processes behave as the README says, and the registry lists them.

use titan_core::prelude::*;
use titan_examples::calculator::{Calculator, MathError, Memory, MemoryConfig};

#[test]
fn registry_lists_the_example_process_types_with_their_methods() {
    let listed: Vec<String> = titan_core::registry()
        .map(|r| r.definition.to_string())
        .collect();
    assert!(
        listed.contains(&"calculator@1.0.0".to_string()),
        "{listed:?}"
    );
    assert!(listed.contains(&"memory@1.0.0".to_string()), "{listed:?}");

    let calculator = titan_core::lookup("calculator").expect("calculator is registered");
    let methods: Vec<_> = calculator
        .definition
        .methods
        .iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(methods, ["add", "mul", "div", "sum", "count"]);
    let div = calculator.definition.method("div").expect("div");
    assert_eq!(
        div.args.iter().map(|a| (a.name, a.ty)).collect::<Vec<_>>(),
        [("a", "i64"), ("b", "i64")]
    );
    assert_eq!((div.result, div.error), ("i64", Some("MathError")));
    assert_eq!(div.docs, "Divides `a` by `b`, or says why not.");
    assert_eq!(
        calculator.definition.method("count").map(|m| m.receiver),
        Some(titan_core::Receiver::Exclusive)
    );

    let memory = titan_core::lookup("memory").expect("memory is registered");
    let methods: Vec<_> = memory.definition.methods.iter().map(|m| m.name).collect();
    assert_eq!(methods, ["store", "recall"]);
}

#[tokio::test]
async fn the_calculator_answers_as_the_readme_shows() {
    let pm = ProcessManager::new();
    let calc = pm.spawn::<Calculator>().await.expect("spawns");
    assert_eq!(calc.add(5, 3).await, Ok(8));
    assert_eq!(calc.mul(6, 7).await, Ok(42));
    assert_eq!(
        calc.div(1, 0).await,
        Err(CallError::Application(MathError::DivisionByZero))
    );
    assert_eq!(
        calc.mul(i64::MAX, 2).await,
        Err(CallError::Application(MathError::Overflow))
    );
    assert_eq!(calc.sum(vec![1, 2, 3]).await, Ok(6));
    pm.shutdown().await.expect("shuts down");
}

#[tokio::test]
async fn the_memory_is_built_from_its_config() {
    let pm = ProcessManager::new();
    let refused = pm
        .spawn_with::<Memory>(SpawnOptions::new().config(MemoryConfig { capacity: 0 }))
        .await;
    match refused {
        Err(Error::Init { reason, .. }) => assert_eq!(reason, "capacity must be at least 1"),
        other => panic!("expected an init error, got {other:?}"),
    }
    let memory = pm
        .spawn_with::<Memory>(SpawnOptions::new().config(MemoryConfig { capacity: 2 }))
        .await
        .expect("spawns");
    memory.store("x".into(), 1).await.expect("stores");
    assert_eq!(memory.recall("x".into()).await, Ok(Some(1)));
}
