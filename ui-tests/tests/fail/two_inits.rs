// Two `#[init]` constructors are rejected: a process has at most one.
use titan_core::prelude::*;

pub struct Calculator {
    base: i64,
}

#[process]
impl Calculator {
    #[init]
    pub fn new() -> Self {
        Calculator { base: 0 }
    }

    #[init]
    pub fn with_base(base: i64) -> Self {
        Calculator { base }
    }

    #[public]
    pub async fn add(&self, a: i64) -> i64 {
        self.base + a
    }
}

fn main() {}
