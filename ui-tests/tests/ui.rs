//! Compile tests for Titan's macros: every misuse fails to compile with an error
//! that says what is wrong and how to fix it, at the offending token; every
//! supported shape compiles cleanly.
//!
//! Regenerate the expected output after an intended message change with
//! `TRYBUILD=overwrite cargo test -p titan-ui-tests`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/fail/*.rs");
    t.pass("tests/pass/*.rs");
}
