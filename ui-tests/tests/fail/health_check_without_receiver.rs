// A health check probes a running instance: it takes `&self` or `&mut self`.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Database;

#[process]
impl Database {
    #[health_check]
    fn alive() -> bool {
        true
    }
}

fn main() {}
