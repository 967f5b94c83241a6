//! The `child_process` example runs to the end and says what the README says:
//! a child with its own pid, a typed error across the boundary, a clear error
//! after the kill, a second child and a clean shutdown.
//!
//! It runs the example's built binary (`cargo test` builds the examples).

use std::time::Duration;

mod support;

/// How long the example may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn the_child_process_example_runs_and_says_what_happened() {
    let stdout = support::run_example("child_process", LIMIT);

    let parent_pid = field(&stdout, "parent pid");
    let child_pid = field(&stdout, "child pid");
    let second_pid = field(&stdout, "second child pid");
    assert_ne!(parent_pid, child_pid, "{stdout}");
    assert_ne!(second_pid, child_pid, "{stdout}");
    assert_ne!(second_pid, parent_pid, "{stdout}");

    for expected in [
        "add(5, 3)            = 8",
        "mul(6, 7)            = 42",
        "sum(1..=100)         = 5050",
        "count(), count()     = 1, 2",
        "div(1, 0)            = the child said: division by zero",
        "after kill: add(1, 1) failed: process `calculator#",
        "has stopped (killed) and takes no more calls",
        &format!("child {child_pid} has exited"),
        "count()              = 1 (a fresh process)",
        "div(84, 2)           = 42",
        &format!("shut down cleanly; child {second_pid} has exited"),
    ] {
        assert!(
            stdout.contains(expected),
            "stdout lacks {expected:?}:\n{stdout}"
        );
    }
}

/// The number printed on the line `name = N …`.
fn field(stdout: &str, name: &str) -> u32 {
    stdout
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(" = ")?;
            (key.trim() == name).then_some(value)
        })
        .and_then(|value| value.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("stdout has no `{name} = N` line:\n{stdout}"))
}
