// A method has at most one `#[key]` argument.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Sessions;

#[process]
impl Sessions {
    #[public]
    async fn visit(&self, #[key] user: String, #[key] tenant: String) -> u64 {
        (user.len() + tenant.len()) as u64
    }
}

fn main() {}
