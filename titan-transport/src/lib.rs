//! Titan's network layer: serve processes on unix sockets and TCP, and call
//! them from other programs through the same proxy types a local spawn returns.
//!
//! ```
//! use titan_core::prelude::*;
//! use titan_transport::Server;
//!
//! #[derive(Default)]
//! pub struct Calculator;
//!
//! #[process(name = "calculator", version = "1.0.0")]
//! impl Calculator {
//!     #[public]
//!     pub async fn add(&self, a: i64, b: i64) -> i64 { a + b }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! // The server side: spawn a process, serve it.
//! let pm = ProcessManager::new();
//! let calc = pm.spawn::<Calculator>().await?;
//! let server = Server::builder()
//!     .serve::<Calculator>(&calc)
//!     .bind("tcp://127.0.0.1:0")          // port 0: any free port
//!     .await?;
//! let url = server.local_addr().to_string(); // tcp://127.0.0.1:40123
//!
//! // The client side, usually another program: a `CalculatorProxy` again.
//! let remote = titan_transport::connect::<Calculator>(&url).await?;
//! assert_eq!(remote.add(5, 3).await?, 8);
//!
//! server.shutdown().await;
//! pm.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! What exists now:
//!
//! - [`Endpoint`]: `unix:///path/to.sock` and `tcp://host:port` URLs, parsed
//!   with errors that say what is wrong.
//! - [`Server`]: serves any set of processes on one endpoint (unary calls,
//!   typed errors, `&mut self` exclusivity and streams behave as they do
//!   locally), each connection in a task of its own running
//!   [`titan_core::host::serve`]; a connection limit, the wire limits of
//!   [`WireConfig`](titan_core::wire::WireConfig), TCP_NODELAY, graceful
//!   [`shutdown`](Server::shutdown) and an abort on drop that leaves no task
//!   behind. See [`server`] for the details.
//! - [`connect`] / [`connect_with`]: a typed proxy over a
//!   [`ReconnectingCaller`], which keeps one connection up and replaces it with
//!   exponential [`Backoff`] when it is lost; calls in flight on a lost
//!   connection fail with [`Error::Unavailable`](titan_core::Error::Unavailable)
//!   and are never retried behind the caller's back.
//!
//! Calls and connections fail with [`titan_core::Error`], the same error type
//! as local calls; only starting a server has an error of its own,
//! [`TransportError`].
//!
//! Planned: HTTP (JSON and postcard, JWT auth, CORS), TLS with rustls,
//! discovery (a registry of providers with TTL leases) and multi-provider
//! failover.

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod endpoint;
pub mod error;
pub mod server;

pub use client::{Backoff, ConnectOptions, ReconnectingCaller, connect, connect_with};
pub use endpoint::{Endpoint, EndpointError, ToEndpoint};
pub use error::TransportError;
pub use server::{Server, ServerBuilder};
pub use titan_core;
