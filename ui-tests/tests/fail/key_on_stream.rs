// The stream argument cannot be the key: the worker is chosen before any item is sent.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Sessions;

#[process]
impl Sessions {
    #[public]
    async fn upload(&self, #[key] chunks: Stream<Vec<u8>>) -> u64 {
        chunks.count().await as u64
    }
}

fn main() {}
