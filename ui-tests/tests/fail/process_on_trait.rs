// `#[process]` on a trait definition is rejected.
use titan_core::prelude::*;

#[process]
pub trait Calculator {
    fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
