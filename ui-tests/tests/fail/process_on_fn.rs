// `#[process]` on a free function is rejected.
use titan_core::prelude::*;

#[process]
pub async fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {}
