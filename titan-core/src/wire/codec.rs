//! Framing and limits: length-prefixed postcard frames.

use std::time::Duration;

use bytes::Bytes;
use tokio_util::codec::LengthDelimitedCodec;

use super::frame::Frame;
use crate::error::Error;

/// The limits and timings of a connection; both ends have one.
///
/// ```
/// use std::time::Duration;
/// use titan_core::wire::WireConfig;
///
/// let config = WireConfig {
///     max_frame_size: 1 << 20,
///     heartbeat_interval: Duration::from_millis(500),
///     ..WireConfig::default()
/// };
/// assert_eq!(config.max_concurrent_calls, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct WireConfig {
    /// The largest frame accepted or sent, in bytes. A larger length prefix is
    /// refused without allocating; a larger reply becomes an error reply.
    /// Default 16 MiB.
    pub max_frame_size: usize,
    /// The most calls one connection may have in flight at a host; calls past
    /// it are answered with [`Error::Unavailable`]. Default 1024.
    pub max_concurrent_calls: usize,
    /// How often a caller pings an otherwise quiet connection. Default 5 s.
    pub heartbeat_interval: Duration,
    /// How long a peer may stay silent (no frame at all, pongs included) before
    /// it is taken for dead. Default 15 s.
    pub heartbeat_timeout: Duration,
    /// How long the handshake may take. Default 5 s.
    pub handshake_timeout: Duration,
    /// How many items of a stream may be in flight before the receiver takes
    /// them: the producer of a stream runs at most this far ahead of its
    /// consumer. Default 32.
    pub stream_window: u32,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            max_frame_size: 16 << 20,
            max_concurrent_calls: 1024,
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(15),
            handshake_timeout: Duration::from_secs(5),
            stream_window: 32,
        }
    }
}

/// The length-prefix codec both ends use: a 4-byte big-endian length, at most
/// `max_frame_size`.
pub fn length_codec(max_frame_size: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame_size)
        .new_codec()
}

/// Encodes a frame's body (without the length prefix), refusing one larger than `max`.
pub fn encode(frame: &Frame, max: usize) -> Result<Bytes, Error> {
    // Most frames are small; starting with room saves the reallocations of an
    // empty buffer growing a few bytes at a time.
    let bytes = postcard::to_extend(frame, Vec::with_capacity(256)).map_err(|e| Error::Encode {
        what: "a frame".into(),
        reason: e.to_string(),
    })?;
    if bytes.len() > max {
        return Err(Error::Encode {
            what: "a frame".into(),
            reason: format!(
                "{} bytes is more than the maximum frame size of {max} bytes",
                bytes.len()
            ),
        });
    }
    Ok(Bytes::from(bytes))
}

/// Decodes a frame's body.
pub fn decode(bytes: &[u8]) -> Result<Frame, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        what: "a frame".into(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Hello, PROTOCOL_VERSION, RequestFrame};
    use bytes::BytesMut;
    use tokio_util::codec::{Decoder, Encoder};

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                services: Vec::new(),
                token: Some("t".into()),
            }),
            Frame::Request(RequestFrame {
                call: 7,
                service: "calculator".into(),
                version: "1.0.0".into(),
                method: 0xdead_beef,
                timeout_micros: Some(1_500),
                trace: None,
                payload: Bytes::from_static(&[1, 2, 3]),
            }),
            Frame::Cancel(7),
            Frame::Ping(1),
        ];
        for frame in frames {
            let bytes = encode(&frame, 1024).expect("encodes");
            assert_eq!(decode(&bytes).expect("decodes"), frame);
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_when_encoding() {
        let frame = Frame::Request(RequestFrame {
            call: 1,
            service: "s".into(),
            version: "1.0.0".into(),
            method: 1,
            timeout_micros: None,
            trace: None,
            payload: Bytes::from(vec![0; 100]),
        });
        let error = encode(&frame, 64).expect_err("too large");
        assert!(error.to_string().contains("maximum frame size"), "{error}");
    }

    #[test]
    fn a_huge_length_prefix_is_an_error_not_an_allocation() {
        let mut codec = length_codec(1024);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0, 0][..]);
        assert!(codec.decode(&mut buf).is_err());
        assert!(
            buf.capacity() < 1024,
            "nothing was reserved for the claimed 4 GiB"
        );
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let error = decode(&[0xff, 0xff, 0xff]).expect_err("garbage");
        assert_eq!(error.code(), crate::ErrorCode::Decode);
    }

    #[test]
    fn the_length_prefix_is_four_bytes_big_endian() {
        let mut codec = length_codec(1024);
        let mut out = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"abc"), &mut out)
            .expect("encodes");
        assert_eq!(&out[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
