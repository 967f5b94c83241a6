// An unknown `#[process]` option with no close match lists the options there are.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process(timeout = "5s")]
impl Calculator {
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
