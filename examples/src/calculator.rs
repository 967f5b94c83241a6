//! A calculator and a memory: the processes of the README's quickstart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use titan_core::prelude::*;

/// What the calculator refuses to do, returned to the caller as a typed error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MathError {
    /// The divisor was zero.
    #[error("division by zero")]
    DivisionByZero,
    /// The result does not fit in an `i64`.
    #[error("the result overflows an i64")]
    Overflow,
}

/// A stateless calculator that counts the calls to `count`.
#[derive(Debug, Default)]
pub struct Calculator {
    calls: u64,
}

/// Integer arithmetic as a service.
#[process(name = "calculator", version = "1.0.0")]
impl Calculator {
    /// Adds two numbers.
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    /// Multiplies two numbers, or says that the product overflows.
    #[public]
    pub fn mul(&self, a: i64, b: i64) -> Result<i64, MathError> {
        a.checked_mul(b).ok_or(MathError::Overflow)
    }

    /// Divides `a` by `b`, or says why not.
    #[public]
    pub async fn div(&self, a: i64, b: i64) -> Result<i64, MathError> {
        if b == 0 {
            return Err(MathError::DivisionByZero);
        }
        a.checked_div(b).ok_or(MathError::Overflow)
    }

    /// Sums a list of numbers.
    #[public]
    pub async fn sum(&self, values: Vec<i64>) -> i64 {
        values.iter().copied().fold(0, i64::wrapping_add)
    }

    /// Counts its own calls; `&mut self`, so calls take turns.
    #[public]
    pub async fn count(&mut self) -> u64 {
        self.calls += 1;
        self.calls
    }
}

/// The config a [`Memory`] starts from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryConfig {
    /// How many values it keeps at most.
    pub capacity: usize,
}

/// A named store for results, built from a [`MemoryConfig`] by its `#[init]`.
#[derive(Debug)]
pub struct Memory {
    capacity: usize,
    values: BTreeMap<String, i64>,
}

/// Why a [`Memory`] refuses to store a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MemoryError {
    /// It already holds `capacity` values.
    #[error("memory is full ({0} values)")]
    Full(usize),
}

/// Keeps named numbers.
#[process(name = "memory", version = "1.0.0")]
impl Memory {
    /// Builds a memory that keeps at most `config.capacity` values.
    #[init]
    pub async fn new(config: MemoryConfig) -> Result<Self, String> {
        if config.capacity == 0 {
            return Err("capacity must be at least 1".into());
        }
        Ok(Memory {
            capacity: config.capacity,
            values: BTreeMap::new(),
        })
    }

    /// Stores `value` under `name`.
    #[public]
    pub async fn store(&mut self, name: String, value: i64) -> Result<(), MemoryError> {
        if self.values.len() >= self.capacity && !self.values.contains_key(&name) {
            return Err(MemoryError::Full(self.capacity));
        }
        self.values.insert(name, value);
        Ok(())
    }

    /// The value stored under `name`, if any.
    #[public]
    pub async fn recall(&self, name: String) -> Option<i64> {
        self.values.get(&name).copied()
    }
}

/// Calls every arithmetic method of `calc`, prints each result and checks it:
/// what the examples show, whatever stands behind the proxy (a local task, a
/// child process, a server across TCP).
pub async fn arithmetic(calc: &CalculatorProxy) -> anyhow::Result<()> {
    let sum = calc.add(5, 3).await?;
    println!("add(5, 3)            = {sum}");
    anyhow::ensure!(sum == 8, "add(5, 3) returned {sum}");

    let product = calc.mul(6, 7).await?;
    println!("mul(6, 7)            = {product}");
    anyhow::ensure!(product == 42, "mul(6, 7) returned {product}");

    let quotient = calc.div(84, 2).await?;
    println!("div(84, 2)           = {quotient}");
    anyhow::ensure!(quotient == 42, "div(84, 2) returned {quotient}");

    // The method's own error arrives typed, distinct from "the process is unreachable".
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
    Ok(())
}

/// Calls `count` `n` times at once; the counts it returned, sorted. `count`
/// takes `&mut self`, so the calls take turns and the counts are consecutive.
pub async fn count_concurrently(calc: &CalculatorProxy, n: usize) -> Result<Vec<u64>, Error> {
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
