// `#[titan_core::main]` on a `main` with arguments says where to get them instead.
#[allow(unused_imports)]
use titan_core::prelude::*;

#[titan_core::main]
async fn main(args: Vec<String>) {
    println!("{args:?}");
}
