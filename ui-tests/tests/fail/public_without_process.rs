// `#[public]` in an impl block without `#[process]` is an error, not silently ignored.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

impl Calculator {
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
