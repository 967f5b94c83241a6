// Every violation in an impl block is reported in one build, each at its own token.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Greeter;

#[process(version = "one")]
impl Greeter {
    #[public]
    pub async fn greet(&self, name: &str) -> String {
        format!("Hello, {name}!")
    }

    #[public]
    pub async fn pick<T>(&self, items: Vec<T>) -> usize {
        items.len()
    }

    #[public]
    pub async fn names(&self, names: Vec<&'static str>) -> usize {
        names.len()
    }
}

fn main() {}
