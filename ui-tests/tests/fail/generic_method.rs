// A generic `#[public]` method is rejected: its wire types must be fixed at compile time.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Echo;

#[process]
impl Echo {
    #[public]
    pub async fn echo<T>(&self, value: T) -> T {
        value
    }
}

fn main() {}
