// A service `name` that is not lowercase-kebab-like is rejected at the string.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process(name = "My Calculator")]
impl Calculator {
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
