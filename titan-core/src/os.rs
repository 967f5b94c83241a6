//! Resource usage of child processes, read from the OS.
