// A `version` that is not MAJOR.MINOR.PATCH is rejected at the string.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Calculator;

#[process(version = "1.0")]
impl Calculator {
    #[public]
    pub async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
