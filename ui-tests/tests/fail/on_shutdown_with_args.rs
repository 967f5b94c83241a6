// The shutdown hook takes nothing besides `self`.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Journal;

#[process]
impl Journal {
    #[on_shutdown]
    async fn flush(&mut self, reason: String) {
        let _ = reason;
    }
}

fn main() {}
