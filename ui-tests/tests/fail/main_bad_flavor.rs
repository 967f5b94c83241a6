// An unknown `flavor` of `#[titan_core::main]` is rejected at the string, listing the valid ones.
#[allow(unused_imports)]
use titan_core::prelude::*;

#[titan_core::main(flavor = "bogus")]
async fn main() {}
