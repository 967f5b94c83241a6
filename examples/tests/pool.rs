//! The `pool` example runs to the end and says what the README says: four
//! healthy child workers, sticky users, metrics that count every call, a
//! SIGKILLed worker brought back, scaling, and a reload that fails no call.
//!
//! It runs the example's built binary (`cargo test` builds the examples).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the example may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(120);

/// `target/<profile>/examples/pool`, beside this test's `deps/`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let deps = exe.parent().expect("the test binary is in a directory");
    let binary = deps
        .join("../examples/pool")
        .with_extension(std::env::consts::EXE_EXTENSION);
    assert!(
        binary.exists(),
        "{} does not exist; build it with `cargo build -p titan-examples --examples` \
         (a plain `cargo test` builds it)",
        binary.display()
    );
    binary
}

#[test]
fn the_pool_example_runs_and_says_what_happened() {
    let started = Instant::now();
    let output = Command::new(example_binary())
        .env_remove("TITAN_CHILD")
        .output()
        .expect("the example runs");
    assert!(started.elapsed() < LIMIT, "took {:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
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
