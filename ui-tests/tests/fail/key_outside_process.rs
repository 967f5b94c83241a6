// `#[key]` outside `#[process]` is an error: on an item, and on a `#[public]` method's argument.
use titan_core::prelude::*;

#[titan_core::key]
pub fn lookup(user: String) -> usize {
    user.len()
}

#[derive(Default)]
pub struct Sessions;

impl Sessions {
    #[public]
    pub async fn visit(&self, #[key] user: String) -> u64 {
        user.len() as u64
    }
}

fn main() {}
