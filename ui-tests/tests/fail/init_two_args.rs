// `#[init]` takes at most one argument, the config.
use titan_core::prelude::*;

pub struct Calculator {
    base: i64,
    scale: i64,
}

#[process]
impl Calculator {
    #[init]
    pub fn new(base: i64, scale: i64) -> Self {
        Calculator { base, scale }
    }

    #[public]
    pub async fn apply(&self, a: i64) -> i64 {
        (self.base + a) * self.scale
    }
}

fn main() {}
