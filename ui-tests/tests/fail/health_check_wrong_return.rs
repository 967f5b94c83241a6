// A health check returns `Health`, `HealthStatus` or `bool`; anything else is reported at the type.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check]
    async fn alive(&self) -> String {
        "fine".into()
    }

    #[health_check(kind = "readiness")]
    fn ready(&self) -> Result<Health, String> {
        Ok(Health::healthy())
    }
}

fn main() {}
