// `#[init]` must return `Self` or `Result<Self, E>`.
use titan_core::prelude::*;

pub struct Calculator {
    base: i64,
}

#[process]
impl Calculator {
    #[init]
    pub fn new(base: i64) -> Option<Self> {
        Some(Calculator { base })
    }

    #[public]
    pub async fn add(&self, a: i64) -> i64 {
        self.base + a
    }
}

fn main() {}
