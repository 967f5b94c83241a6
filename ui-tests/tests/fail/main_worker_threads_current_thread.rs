// `worker_threads` with `flavor = "current_thread"` is contradictory and rejected.
#[allow(unused_imports)]
use titan_core::prelude::*;

#[titan_core::main(flavor = "current_thread", worker_threads = 4)]
async fn main() {}
