//! Running an example's built binary from a test (`cargo test` builds the
//! examples), with a time limit.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/<name>`, beside this test's `deps/`.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let deps = exe.parent().expect("the test binary is in a directory");
    let binary = deps
        .join("../examples")
        .join(name)
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

/// Runs example `name` to the end (killing it past `limit`), asserts that it
/// succeeded, and returns what it printed on standard output.
pub fn run_example(name: &str, limit: Duration) -> String {
    let mut child = Command::new(example_binary(name))
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
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the example did not finish within {limit:?}; stderr:\n{}",
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
    stdout
}
