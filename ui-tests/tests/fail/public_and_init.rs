// One function cannot be both `#[public]` and `#[init]`.
use titan_core::prelude::*;

pub struct Calculator;

#[process]
impl Calculator {
    #[public]
    #[init]
    pub fn new() -> Self {
        Calculator
    }
}

fn main() {}
