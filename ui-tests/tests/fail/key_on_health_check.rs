// `#[key]` has no place on a health check.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Sessions;

#[process]
impl Sessions {
    #[health_check]
    async fn alive(&self, #[key] user: String) -> bool {
        user.is_empty()
    }
}

fn main() {}
