// A health check must say how the process is.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check]
    async fn alive(&self) {}
}

fn main() {}
