// The items of a stream cross the boundary too: they must be owned.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Words;

#[process]
impl Words {
    #[public]
    pub fn words(&self) -> Stream<&'static str> {
        Stream::iter(vec!["a", "b"])
    }
}

fn main() {}
