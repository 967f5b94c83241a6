//! Titan's network layer.
//!
//! This crate will serve processes over unix sockets, TCP (optionally with TLS)
//! and HTTP, and connect to them so that `titan_transport::connect::<Calculator>(url)`
//! returns the same `CalculatorProxy` a local spawn does. Discovery (a registry of
//! providers with TTL leases) and multi-provider failover live here too.
//!
//! Nothing is implemented yet: the wire format and the framed caller it builds on
//! arrive with the wire issue (see the README's "planned" list). Until then the
//! crate only re-exports [`titan_core`], so that depending on it already works.

#![warn(missing_docs, unreachable_pub)]

pub use titan_core;
