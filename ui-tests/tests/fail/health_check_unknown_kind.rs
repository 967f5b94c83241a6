// `kind` is one of "liveness", "readiness" and "startup".
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check(kind = "alive")]
    async fn alive(&self) -> Health {
        Health::healthy()
    }
}

fn main() {}
