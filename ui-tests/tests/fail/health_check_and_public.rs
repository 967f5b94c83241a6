// A `#[health_check]` method is already part of the interface: `#[public]` on it is an error.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[public]
    #[health_check]
    pub async fn alive(&self) -> Health {
        Health::healthy()
    }
}

fn main() {}
