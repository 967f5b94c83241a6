// The shutdown hook is not part of the interface, nor the constructor, nor a health check.
use titan_core::prelude::*;

pub struct Journal;

#[process]
impl Journal {
    #[init]
    #[on_shutdown]
    fn new() -> Self {
        Journal
    }

    #[public]
    #[on_shutdown]
    async fn flush(&self) {}

    #[health_check]
    #[on_shutdown]
    async fn alive(&self) -> bool {
        true
    }
}

fn main() {}
