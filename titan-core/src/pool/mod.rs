//! Pools: several instances of one process type behind one proxy.

mod balance;

pub use balance::*;
