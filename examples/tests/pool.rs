//! The `pool` example runs to the end and says what the README says: four
//! healthy child workers, sticky users, metrics that count every call, a
//! SIGKILLed worker brought back, scaling, and a reload that fails no call.
//!
//! It runs the example's built binary (`cargo test` builds the examples).

use std::time::Duration;

mod support;

/// How long the example may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn the_pool_example_runs_and_says_what_happened() {
    let stdout = support::run_example("pool", LIMIT);
    for expected in [
        "pool of 4: 4 healthy, 4 available",
        "calls 60 (errors 0)",
        "was killed (SIGKILL)",
        "restarted as pid",
        "back to 4 healthy workers",
        "scaled up to 6",
        "scaled down to 3",
        "none failed",
        "shut down: 0 processes left",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
