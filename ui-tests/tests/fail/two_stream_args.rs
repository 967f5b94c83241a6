// A method takes at most one stream argument: the error is at the second one.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Mixer;

#[process]
impl Mixer {
    #[public]
    pub async fn mix(&self, left: Stream<i16>, right: Stream<i16>) -> u64 {
        let _ = (left, right);
        0
    }
}

fn main() {}
