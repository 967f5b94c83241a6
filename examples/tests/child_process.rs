//! The `child_process` example runs to the end and says what the README says:
//! a child with its own pid, a typed error across the boundary, a clear error
//! after the kill, a second child and a clean shutdown.
//!
//! It runs the example's built binary (`cargo test` builds the examples).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the example may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(120);

/// `target/<profile>/examples/child_process`, beside this test's `deps/`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let deps = exe.parent().expect("the test binary is in a directory");
    let binary = deps
        .join("../examples/child_process")
        .with_extension(std::env::consts::EXE_EXTENSION);
    assert!(
        binary.exists(),
        "{} does not exist; build it with `cargo build -p titan-examples --examples` \
         (a plain `cargo test` builds it)",
        binary.display()
    );
    binary
}

/// Reads all of `source` on a thread of its own, so neither pipe can fill up.
fn drain(mut source: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = source.read_to_string(&mut text);
        text
    })
}

#[test]
fn the_child_process_example_runs_and_says_what_happened() {
    let mut child = Command::new(example_binary())
        .env_remove("TITAN_CHILD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the example can be waited for") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the example did not finish within {LIMIT:?}; stderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout read");
    let stderr = stderr.join().expect("stderr read");
    assert!(
        status.success(),
        "the example failed ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"
    );

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
