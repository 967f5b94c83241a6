// `#[init]` in an impl block without `#[process]` is an error, not silently ignored.
use titan_core::prelude::*;

pub struct Calculator;

impl Calculator {
    #[init]
    pub fn new() -> Self {
        Calculator
    }
}

fn main() {}
