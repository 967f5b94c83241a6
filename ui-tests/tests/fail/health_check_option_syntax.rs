// Options are `key = "string"` (durations with a unit); unknown ones get "did you mean".
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check(interval = 10, kind = readiness)]
    async fn alive(&self) -> Health {
        Health::healthy()
    }

    #[health_check(failure_treshold = 2)]
    async fn ready(&self) -> Health {
        Health::healthy()
    }

    #[health_check("readiness")]
    async fn started(&self) -> Health {
        Health::healthy()
    }
}

fn main() {}
