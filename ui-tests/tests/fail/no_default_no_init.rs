// A process type with neither `Default` nor `#[init]` cannot be constructed.
use titan_core::prelude::*;

pub struct Calculator {
    base: i64,
}

#[process]
impl Calculator {
    #[public]
    pub async fn add(&self, a: i64) -> i64 {
        self.base + a
    }
}

fn main() {}
