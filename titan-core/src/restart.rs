//! Restart policy.
