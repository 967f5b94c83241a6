// Durations are a number and a unit; anything else is reported at the string.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check(interval = "10sec", timeout = "1")]
    async fn alive(&self) -> Health {
        Health::healthy()
    }

    #[health_check(kind = "readiness", interval = "1m30s", timeout = "soon")]
    async fn ready(&self) -> Health {
        Health::healthy()
    }
}

fn main() {}
