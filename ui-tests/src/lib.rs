//! Compile tests for Titan's macros live in `tests/`; this crate has no code of its own.
