// `#[titan_core::main]` on a non-async `fn main` is rejected at `fn`.
#[allow(unused_imports)]
use titan_core::prelude::*;

#[titan_core::main]
fn main() {}
