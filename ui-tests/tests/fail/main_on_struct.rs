// `#[titan_core::main]` on something other than a function is rejected.
#[allow(unused_imports)]
use titan_core::prelude::*;

#[titan_core::main]
struct App;

fn main() {}
