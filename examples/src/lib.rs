//! Shared code of the examples (none yet); the programs live in `examples/`.
