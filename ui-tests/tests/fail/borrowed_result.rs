// A borrowed result (`&str`) is rejected with a suggestion to return `String`.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Greeter {
    greeting: String,
}

#[process]
impl Greeter {
    #[public]
    pub fn greeting(&self) -> &str {
        &self.greeting
    }
}

fn main() {}
