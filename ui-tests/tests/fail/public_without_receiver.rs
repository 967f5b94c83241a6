// A `#[public]` associated fn without `self` is rejected: calls need an instance.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process]
impl Calculator {
    #[public]
    pub async fn add(a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
