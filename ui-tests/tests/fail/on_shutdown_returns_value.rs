// The shutdown hook returns nothing: no one would receive it.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Journal;

#[process]
impl Journal {
    #[on_shutdown]
    async fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
