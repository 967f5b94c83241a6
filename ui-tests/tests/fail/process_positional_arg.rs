// A bare string in `#[process(...)]` is rejected: options are `key = value`.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process("calculator")]
impl Calculator {
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
