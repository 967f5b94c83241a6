// `#[health_check]` in an impl block without `#[process]` is an error, not silently ignored.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

impl Database {
    #[health_check]
    pub async fn alive(&self) -> Health {
        Health::healthy()
    }
}

fn main() {}
