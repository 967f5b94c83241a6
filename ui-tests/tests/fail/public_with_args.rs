// `#[public]` takes no arguments.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process]
impl Calculator {
    #[public(timeout = "5s")]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
