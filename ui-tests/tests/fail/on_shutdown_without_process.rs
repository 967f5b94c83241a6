// `#[on_shutdown]` in an impl block without `#[process]` is an error, not silently ignored.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Journal;

impl Journal {
    #[on_shutdown]
    pub async fn flush(&self) {}
}

fn main() {}
