//! The frames of the protocol.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::WireError;

/// The protocol version this build speaks; peers with another version are refused.
pub const PROTOCOL_VERSION: u16 = 2;

/// Identifies one call on one connection; chosen by the caller.
pub type CallId = u64;

/// One message on a connection.
///
/// Variants are encoded by position: new ones are only ever appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame each way: protocol version, services, credentials.
    Hello(Hello),
    /// A call.
    Request(RequestFrame),
    /// The outcome of a call.
    Response(ResponseFrame),
    /// The caller no longer wants call `0`'s result: the server stops its work.
    Cancel(CallId),
    /// Are you there? Answered by [`Frame::Pong`] with the same number.
    Ping(u64),
    /// I am here.
    Pong(u64),
    /// The sender is closing the connection, for this reason.
    Goaway(WireError),
    /// An item of call `call`'s stream: from the caller, of its stream
    /// argument; from the host, of the stream the method returned.
    StreamItem {
        /// The call.
        call: CallId,
        /// The item, postcard-encoded.
        payload: Bytes,
    },
    /// Call `call`'s stream (in the sender's direction) ended, or broke off.
    StreamEnd {
        /// The call.
        call: CallId,
        /// `Ok` at the end of the items; the reason if the stream broke off.
        result: Result<(), WireError>,
    },
    /// The receiver of call `call`'s stream takes `n` more items.
    StreamCredit {
        /// The call.
        call: CallId,
        /// How many more items may be sent.
        n: u32,
    },
    /// A call that names its service by position in the host's hello: the
    /// compact form of [`Frame::Request`] a caller sends once it has the
    /// host's hello (and has checked the service's version against it).
    Call(CallFrame),
}

/// A service a host offers: its name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offered {
    /// The service name.
    pub name: String,
    /// Its semver version.
    pub version: String,
}

/// The handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u16,
    /// The services the sender serves (empty from a pure caller).
    pub services: Vec<Offered>,
    /// Credentials, for hosts that ask for them.
    pub token: Option<String>,
}

/// Where a call belongs in a distributed trace (W3C trace-context ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// The trace the call is part of.
    pub trace_id: [u8; 16],
    /// The caller's span.
    pub span_id: [u8; 8],
}

/// A call on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// Chosen by the caller, unique among its calls in flight on this connection.
    pub call: CallId,
    /// The service's name.
    pub service: String,
    /// The service version the caller was built against.
    pub version: String,
    /// The method's id.
    pub method: u32,
    /// Microseconds the caller will still wait; the host drops the work after that.
    pub timeout_micros: Option<u64>,
    /// The caller's trace context, if it has one.
    pub trace: Option<TraceContext>,
    /// The arguments, postcard-encoded as a tuple.
    pub payload: Bytes,
}

/// A call on the wire, its service named by its index in the services of the
/// host's [`Hello`] (the version check happened on the caller's side, against
/// that hello). Apart from that, the same as a [`RequestFrame`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallFrame {
    /// Chosen by the caller, unique among its calls in flight on this connection.
    pub call: CallId,
    /// The service's position in the host's hello.
    pub service: u32,
    /// The method's id.
    pub method: u32,
    /// Microseconds the caller will still wait; the host drops the work after that.
    pub timeout_micros: Option<u64>,
    /// The caller's trace context, if it has one.
    pub trace: Option<TraceContext>,
    /// The arguments, postcard-encoded as a tuple.
    pub payload: Bytes,
}

/// The outcome of a call on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFrame {
    /// The call this answers.
    pub call: CallId,
    /// The postcard-encoded return value, or why there is none.
    pub result: Result<Bytes, WireError>,
}
