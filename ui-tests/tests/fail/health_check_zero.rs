// A zero interval, timeout or failure threshold is an error at that option.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check(interval = "0s", timeout = "0ms", failure_threshold = 0)]
    async fn alive(&self) -> Health {
        Health::healthy()
    }
}

fn main() {}
