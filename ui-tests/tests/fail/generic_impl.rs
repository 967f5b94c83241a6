// A generic impl block is rejected: the proxy and wire format are fixed at compile time.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Store<T> {
    items: Vec<T>,
}

#[process]
impl<T: Send + Sync + 'static> Store<T> {
    #[public]
    pub async fn len(&self) -> usize {
        self.items.len()
    }
}

fn main() {}
