// The shutdown hook runs on the instance being stopped: it takes `&self` or `&mut self`.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Journal;

#[process]
impl Journal {
    #[on_shutdown]
    async fn flush() {}
}

fn main() {}
