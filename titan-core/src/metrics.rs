//! Per-process metrics.
