//! The wire format: how calls cross a byte stream (a pipe, a unix socket, TCP).
//!
//! A connection carries length-prefixed frames (a 4-byte big-endian length,
//! then a postcard-encoded [`Frame`]). One connection multiplexes many calls:
//! each request carries a call id, replies come back in any order, a dropped
//! call sends [`Frame::Cancel`], and a deadline travels with its request as the
//! time that remains. Both ends keep explicit limits ([`WireConfig`]): the
//! largest frame, the most calls in flight, how long a silent peer is trusted.
//! Errors cross as a [`WireError`] whose code maps one-to-one onto
//! [`Error`](crate::Error).
//!
//! A call goes as a [`Frame::Call`]: it names its service by position in the
//! services of the host's hello (sorted by name), so no names or versions
//! travel with each call; the caller checks the version it wants against that
//! hello once (another major version fails with
//! [`Error::VersionMismatch`](crate::Error::VersionMismatch) before anything is
//! sent). A host still takes the longer [`Frame::Request`], which names the
//! service and version in full and is checked by the host.
//!
//! The two ends of a connection live beside this module: [`host`](crate::host)
//! serves processes over a stream, [`framed`](crate::framed) calls them.

mod codec;
mod error;
mod frame;
pub(crate) mod ids;

pub(crate) use codec::{Appender, CallHead, encode_call_into, encode_reply_into};
pub use codec::{WireConfig, decode, decode_shared, encode, encode_into, length_codec};
pub use error::WireError;
pub use frame::{
    CallFrame, CallId, Frame, Hello, Offered, PROTOCOL_VERSION, RequestFrame, ResponseFrame,
    TraceContext,
};
