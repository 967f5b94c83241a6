// `#[key]` goes on an argument, not on the receiver.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Sessions;

#[process]
impl Sessions {
    #[public]
    async fn visit(#[key] &self, user: String) -> u64 {
        user.len() as u64
    }
}

fn main() {}
