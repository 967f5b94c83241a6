//! Load-balancing strategies.
