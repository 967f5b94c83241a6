// `#[process]` on a struct is rejected and points the user to the impl block.
use titan_core::prelude::*;

#[process]
pub struct Calculator {
    calls: u64,
}

fn main() {}
