// `#[init]` builds the process, so it cannot take `self`.
use titan_core::prelude::*;

pub struct Calculator {
    base: i64,
}

#[process]
impl Calculator {
    #[init]
    pub fn new(&self) -> Self {
        Calculator { base: self.base }
    }

    #[public]
    pub async fn add(&self, a: i64) -> i64 {
        self.base + a
    }
}

fn main() {}
