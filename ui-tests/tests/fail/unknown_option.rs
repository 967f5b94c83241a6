// A misspelt `#[process]` option is reported with a "did you mean" hint.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process(nmae = "calculator")]
impl Calculator {
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
