// A health check takes nothing besides `self`: the manager probes it with no arguments.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check]
    async fn alive(&self, deep: bool) -> Health {
        let _ = deep;
        Health::healthy()
    }
}

fn main() {}
