//! Framing and limits: length-prefixed postcard frames.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::LengthDelimitedCodec;

use super::error::WireError;
use super::frame::{CallFrame, CallId, Frame, RequestFrame, ResponseFrame, TraceContext};
use crate::caller::Payload;
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

/// Appends a frame to `out` as it goes on the wire: its 4-byte big-endian
/// length, then its body, encoded in place (no buffer of its own, no copy).
/// A frame larger than `max` is refused and `out` is left as it was.
pub fn encode_into(frame: &Frame, max: usize, out: &mut BytesMut) -> Result<(), Error> {
    let start = out.len();
    out.put_u32(0);
    let encoded = postcard::serialize_with_flavor(frame, Appender(out));
    let len = out.len() - start - 4;
    let refused = match encoded {
        Err(e) => Some(Error::Encode {
            what: "a frame".into(),
            reason: e.to_string(),
        }),
        Ok(()) if len > max || u32::try_from(len).is_err() => Some(Error::Encode {
            what: "a frame".into(),
            reason: format!("{len} bytes is more than the maximum frame size of {max} bytes"),
        }),
        Ok(()) => None,
    };
    if let Some(error) = refused {
        out.truncate(start);
        return Err(error);
    }
    let prefix = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    out[start..start + 4].copy_from_slice(&prefix);
    Ok(())
}

/// The fields of a [`CallFrame`] before its payload.
pub(crate) struct CallHead {
    pub(crate) call: CallId,
    pub(crate) service: u32,
    pub(crate) method: u32,
    pub(crate) timeout_micros: Option<u64>,
    pub(crate) trace: Option<TraceContext>,
}

/// [`encode_into`] for a [`Frame::Call`] made of `head` and `payload`: a moved
/// value is encoded straight into `out`, in its place in the frame (no buffer
/// of its own, no copy). On an error `out` is left as it was.
pub(crate) fn encode_call_into(
    head: &CallHead,
    payload: &Payload,
    max: usize,
    out: &mut BytesMut,
) -> Result<(), Error> {
    // The fields before the payload, as postcard writes them: varints, an
    // option as a 0 or 1 byte, the trace ids as raw bytes.
    let mut fields = Fields::default();
    fields.varint(u64::from(TAG_CALL));
    fields.varint(head.call);
    fields.varint(u64::from(head.service));
    fields.varint(u64::from(head.method));
    match head.timeout_micros {
        None => fields.byte(0),
        Some(micros) => {
            fields.byte(1);
            fields.varint(micros);
        }
    }
    match &head.trace {
        None => fields.byte(0),
        Some(trace) => {
            fields.byte(1);
            fields.bytes(&trace.trace_id);
            fields.bytes(&trace.span_id);
        }
    }
    encode_with_payload(fields.as_slice(), payload, max, out)
}

/// [`encode_into`] for a [`Frame::Response`] to call `call` carrying
/// `payload`, a moved value encoded in place. On an error `out` is left as it was.
pub(crate) fn encode_reply_into(
    call: CallId,
    payload: &Payload,
    max: usize,
    out: &mut BytesMut,
) -> Result<(), Error> {
    let mut fields = Fields::default();
    fields.varint(u64::from(TAG_RESPONSE));
    fields.varint(call);
    // `Ok`.
    fields.byte(0);
    encode_with_payload(fields.as_slice(), payload, max, out)
}

/// The encoded fields of a frame before its payload (at most 4 varints, two
/// option tags and a trace context).
struct Fields {
    bytes: [u8; 72],
    len: usize,
}

impl Default for Fields {
    fn default() -> Fields {
        Fields {
            bytes: [0; 72],
            len: 0,
        }
    }
}

impl Fields {
    // Written byte by byte: the fields are a handful of bytes, for which a
    // `memcpy` call costs more than the copy.
    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.byte(byte);
                return;
            }
            self.byte(byte | 0x80);
        }
    }

    fn byte(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Appends a frame made of `fields` then `payload` (as postcard bytes: a
/// varint length, then the bytes), with its length prefix.
fn encode_with_payload(
    fields: &[u8],
    payload: &Payload,
    max: usize,
    out: &mut BytesMut,
) -> Result<(), Error> {
    let start = out.len();
    out.reserve(4 + fields.len() + 16);
    out.put_u32(0);
    out.extend_from_slice(fields);
    let written = match payload {
        // Bytes already encoded: their length is known, so it goes first.
        Payload::Encoded(bytes) => {
            let mut prefix = [0_u8; 10];
            let size = varint(bytes.len() as u64, &mut prefix);
            out.extend_from_slice(&prefix[..size]);
            out.extend_from_slice(bytes);
            Ok(())
        }
        // A moved value is encoded in place after a one-byte guess at its
        // length prefix (a varint); a longer encoding slides over to make room.
        Payload::Value(_) => {
            out.put_u8(0);
            let at = out.len();
            payload.encode_to(out).map(|()| {
                let len = out.len() - at;
                let mut prefix = [0_u8; 10];
                let size = varint(len as u64, &mut prefix);
                if size > 1 {
                    out.resize(out.len() + size - 1, 0);
                    out.copy_within(at..at + len, at + size - 1);
                }
                out[at - 1..at - 1 + size].copy_from_slice(&prefix[..size]);
            })
        }
    };
    let written = written.and_then(|()| {
        let body = out.len() - start - 4;
        match u32::try_from(body) {
            Ok(prefix) if body <= max => Ok(prefix),
            _ => Err(Error::Encode {
                what: "a frame".into(),
                reason: format!("{body} bytes is more than the maximum frame size of {max} bytes"),
            }),
        }
    });
    match written {
        Ok(prefix) => {
            out[start..start + 4].copy_from_slice(&prefix.to_be_bytes());
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}

/// Writes `value` as a postcard varint into `out`; returns how many bytes it took.
fn varint(mut value: u64, out: &mut [u8; 10]) -> usize {
    let mut size = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[size] = byte;
            return size + 1;
        }
        out[size] = byte | 0x80;
        size += 1;
    }
}

/// A postcard output that appends to a `BytesMut`.
pub(crate) struct Appender<'a>(pub(crate) &'a mut BytesMut);

impl postcard::ser_flavors::Flavor for Appender<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.put_u8(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decodes a frame's body.
pub fn decode(bytes: &[u8]) -> Result<Frame, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        what: "a frame".into(),
        reason: e.to_string(),
    })
}

/// [`decode`], for a frame body that is already [`Bytes`]: the payload of a
/// call, a request, a reply or a stream item is a slice of `bytes` (sharing
/// its memory) rather than a copy. Accepts and refuses exactly what
/// [`decode`] does.
pub fn decode_shared(bytes: &Bytes) -> Result<Frame, Error> {
    let Ok((tag, rest)) = postcard::take_from_bytes::<u32>(bytes) else {
        return decode(bytes);
    };
    let frame = match tag {
        TAG_REQUEST => {
            let r: RequestRef<'_> = decode_part(rest)?;
            Frame::Request(RequestFrame {
                call: r.call,
                service: r.service,
                version: r.version,
                method: r.method,
                timeout_micros: r.timeout_micros,
                trace: r.trace,
                payload: share(bytes, r.payload),
            })
        }
        TAG_RESPONSE => {
            let r: ResponseRef<'_> = decode_part(rest)?;
            Frame::Response(ResponseFrame {
                call: r.call,
                result: r.result.map(|payload| share(bytes, payload)),
            })
        }
        TAG_STREAM_ITEM => {
            let r: StreamItemRef<'_> = decode_part(rest)?;
            Frame::StreamItem {
                call: r.call,
                payload: share(bytes, r.payload),
            }
        }
        TAG_CALL => {
            let r: CallRef<'_> = decode_part(rest)?;
            Frame::Call(CallFrame {
                call: r.call,
                service: r.service,
                method: r.method,
                timeout_micros: r.timeout_micros,
                trace: r.trace,
                payload: share(bytes, r.payload),
            })
        }
        _ => return decode(bytes),
    };
    Ok(frame)
}

// The positions of the variants of `Frame` that carry a payload (checked by
// the tests against `decode`).
const TAG_REQUEST: u32 = 1;
const TAG_RESPONSE: u32 = 2;
const TAG_STREAM_ITEM: u32 = 7;
const TAG_CALL: u32 = 10;

fn decode_part<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        what: "a frame".into(),
        reason: e.to_string(),
    })
}

/// `part` (a slice borrowed from `whole`) as a `Bytes` sharing `whole`'s memory.
fn share(whole: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if start <= whole.len() && end <= whole.len() => whole.slice(start..end),
        // Never the case (postcard borrows from its input), but a copy is never wrong.
        _ => Bytes::copy_from_slice(part),
    }
}

/// [`RequestFrame`], its payload borrowed.
#[derive(serde::Deserialize)]
struct RequestRef<'a> {
    call: CallId,
    service: String,
    version: String,
    method: u32,
    timeout_micros: Option<u64>,
    trace: Option<TraceContext>,
    payload: &'a [u8],
}

/// [`ResponseFrame`], its payload borrowed.
#[derive(serde::Deserialize)]
struct ResponseRef<'a> {
    call: CallId,
    #[serde(borrow)]
    result: Result<&'a [u8], WireError>,
}

/// [`Frame::StreamItem`], its payload borrowed.
#[derive(serde::Deserialize)]
struct StreamItemRef<'a> {
    call: CallId,
    payload: &'a [u8],
}

/// [`CallFrame`], its payload borrowed.
#[derive(serde::Deserialize)]
struct CallRef<'a> {
    call: CallId,
    service: u32,
    method: u32,
    timeout_micros: Option<u64>,
    trace: Option<TraceContext>,
    payload: &'a [u8],
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
    fn encode_into_matches_the_length_codec_and_refuses_in_place() {
        let frame = Frame::Ping(300);
        let mut out = BytesMut::from(&b"xy"[..]);
        encode_into(&frame, 1024, &mut out).expect("encodes");
        let mut framed = BytesMut::new();
        length_codec(1024)
            .encode(encode(&frame, 1024).expect("encodes"), &mut framed)
            .expect("frames");
        assert_eq!(&out[2..], &framed[..]);
        let big = Frame::StreamItem {
            call: 1,
            payload: Bytes::from(vec![0; 100]),
        };
        assert!(encode_into(&big, 64, &mut out).is_err());
        assert_eq!(
            &out[2..],
            &framed[..],
            "a refused frame leaves nothing behind"
        );
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
    fn decode_shared_agrees_with_decode_and_shares_payloads() {
        use crate::wire::{CallFrame, ResponseFrame, TraceContext, WireError};
        let trace = Some(TraceContext {
            trace_id: [7; 16],
            span_id: [9; 8],
        });
        let frames = [
            Frame::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                services: Vec::new(),
                token: None,
            }),
            Frame::Request(RequestFrame {
                call: 7,
                service: "calculator".into(),
                version: "1.0.0".into(),
                method: 0xdead_beef,
                timeout_micros: Some(1_500),
                trace,
                payload: Bytes::from_static(&[1, 2, 3]),
            }),
            Frame::Response(ResponseFrame {
                call: u64::MAX,
                result: Ok(Bytes::from_static(&[4, 5])),
            }),
            Frame::Response(ResponseFrame {
                call: 3,
                result: Err(WireError::from(Error::Timeout)),
            }),
            Frame::Cancel(7),
            Frame::Ping(1),
            Frame::Pong(2),
            Frame::StreamItem {
                call: 300,
                payload: Bytes::from_static(b"item"),
            },
            Frame::StreamEnd {
                call: 300,
                result: Ok(()),
            },
            Frame::StreamCredit { call: 300, n: 32 },
            Frame::Call(CallFrame {
                call: 1 << 40,
                service: 3,
                method: 0xfeed,
                timeout_micros: None,
                trace,
                payload: Bytes::from_static(&[0; 40]),
            }),
            Frame::Call(CallFrame {
                call: 0,
                service: 0,
                method: 0,
                timeout_micros: Some(0),
                trace: None,
                payload: Bytes::new(),
            }),
        ];
        for frame in frames {
            let bytes = encode(&frame, 1024).expect("encodes");
            let shared = decode_shared(&bytes).expect("decodes");
            assert_eq!(shared, frame);
            let payload = match &shared {
                Frame::Call(call) => Some(&call.payload),
                Frame::Request(request) => Some(&request.payload),
                Frame::Response(ResponseFrame {
                    result: Ok(payload),
                    ..
                }) => Some(payload),
                Frame::StreamItem { payload, .. } => Some(payload),
                _ => None,
            };
            if let Some(payload) = payload.filter(|payload| !payload.is_empty()) {
                let at = payload.as_ptr() as usize - bytes.as_ptr() as usize;
                assert!(at + payload.len() <= bytes.len(), "shared, not copied");
            }
            // Every truncation fails the same way in both.
            for end in 0..bytes.len() {
                let cut = bytes.slice(..end);
                assert_eq!(
                    decode_shared(&cut).ok(),
                    decode(&cut).ok(),
                    "{frame:?} cut at {end}"
                );
            }
        }
    }

    #[test]
    fn a_call_encoded_in_place_is_the_call_frame() {
        use crate::wire::CallFrame;
        for size in [0, 1, 16, 126, 127, 128, 300, 20_000] {
            let value = vec![7_u8; size];
            let bytes = Bytes::from(postcard::to_stdvec(&value).expect("encodes"));
            let head = CallHead {
                call: u64::MAX - size as u64,
                service: 2,
                method: 0xbeef,
                timeout_micros: (size % 2 == 0).then_some(u64::MAX),
                trace: (size % 3 == 0).then_some(crate::wire::TraceContext {
                    trace_id: [0xff; 16],
                    span_id: [0x80; 8],
                }),
            };
            let frame = Frame::Call(CallFrame {
                call: head.call,
                service: head.service,
                method: head.method,
                timeout_micros: head.timeout_micros,
                trace: head.trace,
                payload: bytes.clone(),
            });
            let mut expected = BytesMut::from(&b"xy"[..]);
            encode_into(&frame, 1 << 20, &mut expected).expect("encodes");
            for payload in [
                Payload::value(value.clone()),
                Payload::Encoded(bytes.clone()),
            ] {
                let mut out = BytesMut::from(&b"xy"[..]);
                encode_call_into(&head, &payload, 1 << 20, &mut out).expect("encodes");
                assert_eq!(out, expected, "{size} bytes");
                assert!(encode_call_into(&head, &payload, size, &mut out).is_err());
                assert_eq!(out, expected, "a refused call leaves nothing behind");
            }
            let reply = Frame::Response(crate::wire::ResponseFrame {
                call: head.call,
                result: Ok(bytes.clone()),
            });
            let mut expected = BytesMut::new();
            encode_into(&reply, 1 << 20, &mut expected).expect("encodes");
            for payload in [
                Payload::value(value.clone()),
                Payload::Encoded(bytes.clone()),
            ] {
                let mut out = BytesMut::new();
                encode_reply_into(head.call, &payload, 1 << 20, &mut out).expect("encodes");
                assert_eq!(out, expected, "{size} bytes");
                assert!(encode_reply_into(head.call, &payload, size, &mut out).is_err());
                assert_eq!(out, expected, "a refused reply leaves nothing behind");
            }
        }
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
