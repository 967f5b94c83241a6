// An `impl Trait` argument is rejected: the wire needs a concrete type.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Greeter;

#[process]
impl Greeter {
    #[public]
    pub async fn greet(&self, name: impl Into<String>) -> String {
        format!("Hello, {}!", name.into())
    }
}

fn main() {}
