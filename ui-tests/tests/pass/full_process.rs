// A full process — every supported method shape, docs, `#[init]` with a config, explicit options — compiles and runs.
use serde::{Deserialize, Serialize};
use titan_core::prelude::*;

/// How a `Calculator` starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// The value `total` starts at.
    pub start: i64,
}

/// Why a division failed.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum MathError {
    /// The divisor was zero.
    DivisionByZero,
}

/// A calculator that remembers a running total.
pub struct Calculator {
    total: i64,
    calls: u64,
}

/// Adds, divides and counts.
#[process(
    name = "calculator",
    version = "1.2.3",
    description = "Adds, divides and counts."
)]
impl Calculator {
    /// Builds the calculator from its config.
    #[init]
    pub async fn new(config: Config) -> Result<Self, String> {
        Ok(Calculator {
            total: config.start,
            calls: 0,
        })
    }

    /// Adds two numbers.
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    /// Adds to the running total; `&mut self` gets exclusive access.
    #[public]
    pub async fn accumulate(&mut self, value: i64) -> i64 {
        self.calls += 1;
        self.total += value;
        self.total
    }

    /// A synchronous method with a typed application error.
    #[public]
    pub fn div(&self, a: i64, b: i64) -> Result<i64, MathError> {
        if b == 0 {
            Err(MathError::DivisionByZero)
        } else {
            Ok(a / b)
        }
    }

    /// No arguments, owned collections in and out.
    #[public]
    pub async fn calls(&self) -> u64 {
        self.calls
    }

    /// Owned strings and collections cross the boundary.
    #[public]
    pub fn join(&self, parts: Vec<String>, separator: String) -> String {
        parts.join(&separator)
    }

    /// Returns nothing.
    #[public]
    pub async fn reset(&mut self) {
        self.total = 0;
    }

    /// A private helper: not part of the interface.
    fn double(&self, value: i64) -> i64 {
        value * 2
    }

    /// Uses the private helper.
    #[public]
    pub fn doubled_total(&self) -> i64 {
        self.double(self.total)
    }
}

#[titan_core::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(Calculator::NAME, "calculator");
    assert_eq!(Calculator::VERSION, "1.2.3");

    let pm = ProcessManager::new();
    let calc: CalculatorProxy = pm
        .spawn_with::<Calculator>(SpawnOptions::new().config(Config { start: 10 }))
        .await?;
    assert_eq!(calc.add(5, 3).await?, 8);
    assert_eq!(calc.accumulate(5).await?, 15);
    assert_eq!(calc.div(6, 3).await, Ok(2));
    assert_eq!(
        calc.div(1, 0).await,
        Err(CallError::Application(MathError::DivisionByZero))
    );
    assert_eq!(calc.calls().await?, 1);
    assert_eq!(
        calc.join(vec!["a".into(), "b".into()], "-".into()).await?,
        "a-b"
    );
    assert_eq!(calc.doubled_total().await?, 30);
    calc.reset().await?;
    assert_eq!(calc.doubled_total().await?, 0);
    pm.shutdown().await?;
    Ok(())
}
