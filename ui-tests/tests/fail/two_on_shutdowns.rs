// A process has at most one `#[on_shutdown]` hook.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Journal;

#[process]
impl Journal {
    #[on_shutdown]
    async fn flush(&self) {}

    #[on_shutdown]
    async fn close(&self) {}
}

fn main() {}
