//! The harness of the tests that spawn child processes (`harness = false`):
//! each test runs on a runtime of its own, as `#[tokio::test]` would.

use std::future::Future;

use libtest_mimic::{Failed, Trial};

/// A libtest-mimic trial running `test` on a two-thread runtime.
pub fn trial<F, Fut>(name: &'static str, test: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    Trial::test(name, move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failed::from(format!("runtime: {e}")))?;
        runtime.block_on(test());
        Ok(())
    })
}
