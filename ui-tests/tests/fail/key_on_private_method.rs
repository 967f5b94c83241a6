// `#[key]` only routes calls of `#[public]` methods; anywhere else in a process it is an error.
use titan_core::prelude::*;

pub struct Sessions;

#[process]
impl Sessions {
    #[init]
    fn new(#[key] config: u64) -> Self {
        let _ = config;
        Sessions
    }

    #[public]
    async fn visit(&self, user: String) -> u64 {
        self.count(user)
    }

    fn count(&self, #[key] user: String) -> u64 {
        user.len() as u64
    }
}

fn main() {}
