// A method takes at most twelve arguments besides a stream: the error is at the thirteenth.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Wide;

#[process]
impl Wide {
    #[public]
    #[allow(clippy::too_many_arguments)]
    pub fn sum(
        &self,
        a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8, m: u8,
    ) -> u32 {
        [a, b, c, d, e, f, g, h, i, j, k, l, m].iter().map(|&x| u32::from(x)).sum()
    }
}

fn main() {}
