//! Patterns built on Titan's processes and proxies.
//!
//! This crate will hold one module per pattern, each a real, tested feature on
//! top of the runtime: CQRS, event sourcing, saga orchestration, actors,
//! multi-tenancy, mesh policies, chaos injection, time-travel recording and
//! replay, feature flags, adaptive scaling, geo routing, audit, change-data
//! streams, GraphQL, cost budgets and self-healing playbooks.
//!
//! None exists yet: each arrives with its own issue (see the README's "planned"
//! list). Until then the crate only re-exports [`titan_core`] and
//! [`titan_transport`].

#![warn(missing_docs, unreachable_pub)]

pub use titan_core;
pub use titan_transport;
