//! Why a server could not start.
//!
//! Calls and connections fail with [`titan_core::Error`], the one error type
//! every caller already handles (an unreachable server is
//! [`Error::Unavailable`](titan_core::Error::Unavailable)). Starting a server
//! can fail in ways only its operator cares about (a bad URL, a port in use, a
//! path that is not a socket); those are a [`TransportError`], which keeps the
//! operating system's error as its source.

use std::io;

use crate::endpoint::EndpointError;

/// Why [`ServerBuilder::bind`](crate::ServerBuilder::bind) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL is not a titan endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The operating system refused to listen there.
    #[error("could not listen on {endpoint}: {source}")]
    Bind {
        /// The endpoint, as a URL.
        endpoint: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another server already listens on this unix socket.
    #[error("could not listen on {endpoint}: another server is listening on it")]
    InUse {
        /// The endpoint, as a URL.
        endpoint: String,
    },
    /// Something other than a socket exists at the unix socket's path; it is
    /// left alone rather than replaced.
    #[error(
        "could not listen on {endpoint}: the path exists and is not a socket (it was left alone; remove it or pick another path)"
    )]
    NotASocket {
        /// The endpoint, as a URL.
        endpoint: String,
    },
}

/// Lets `?` turn a server's start-up failure into the runtime's error type, as
/// [`Error::Unavailable`](titan_core::Error::Unavailable) with the full reason.
impl From<TransportError> for titan_core::Error {
    fn from(error: TransportError) -> titan_core::Error {
        titan_core::Error::Unavailable {
            reason: error.to_string(),
        }
    }
}
