//! The processes the examples run, kept in a library so that the examples and
//! their tests share them. Each example under `examples/` is a README section
//! come true: `cargo run -p titan-examples --example calculator`.

#![warn(missing_docs)]

pub mod calculator;
pub mod render;
