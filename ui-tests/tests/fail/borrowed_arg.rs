// A borrowed `&str` argument is rejected with a suggestion to take `String`.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Greeter;

#[process]
impl Greeter {
    #[public]
    pub async fn greet(&self, name: &str) -> String {
        format!("Hello, {name}!")
    }
}

fn main() {}
