// `#[key]` takes no arguments.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Sessions;

#[process]
impl Sessions {
    #[public]
    async fn visit(&self, #[key(hash = "fnv")] user: String) -> u64 {
        user.len() as u64
    }
}

fn main() {}
