// A `#[public]` method taking `self` by value is rejected: it would consume the process.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[process]
impl Counter {
    #[public]
    pub async fn into_value(self) -> u64 {
        self.value
    }
}

fn main() {}
