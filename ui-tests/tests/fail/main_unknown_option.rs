// An unknown `#[titan_core::main]` option is reported with the options there are.
#[allow(unused_imports)]
use titan_core::prelude::*;

#[titan_core::main(flavour = "current_thread")]
async fn main() {}
