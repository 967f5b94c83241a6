// `#[key]` marks an argument, not the method.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Sessions;

#[process]
impl Sessions {
    #[public]
    #[key]
    async fn visit(&self, user: String) -> u64 {
        user.len() as u64
    }
}

fn main() {}
