//! The frame decoder: whatever bytes arrive, splitting them into frames and
//! decoding each one gives frames or errors, never a panic, a hang or a huge
//! allocation.
//!
//! `cargo fuzz run frame` (see the README's "Fuzzing" section).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use titan_core::Error;
use titan_core::wire::{self, Frame, WireError};
use tokio_util::codec::Decoder;

/// The largest frame the codec accepts here.
const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    // The input as one frame body.
    check(data);

    // The input as a byte stream: length-prefixed frames, one after another.
    let mut codec = wire::length_codec(MAX);
    let mut buffer = BytesMut::from(data);
    loop {
        match codec.decode(&mut buffer) {
            Ok(Some(body)) => {
                assert!(
                    body.len() <= MAX,
                    "the codec let a {} byte frame through",
                    body.len()
                );
                check(&body);
            }
            // Needs more bytes: the stream ends here.
            Ok(None) => break,
            // A length prefix over the limit: the connection would close.
            Err(_) => break,
        }
    }
    // What is left when the stream ends mid-frame.
    let _ = codec.decode_eof(&mut buffer);
});

/// Decodes one frame body; a frame that decodes survives a round trip, and
/// the errors it carries convert into an [`Error`].
fn check(body: &[u8]) {
    let Ok(frame) = wire::decode(body) else {
        return;
    };
    let encoded = wire::encode(&frame, usize::MAX).expect("a decoded frame encodes again");
    let again = wire::decode(&encoded).expect("a re-encoded frame decodes");
    assert_eq!(again, frame, "a frame changed in a round trip");
    if let Some(error) = carried_error(&frame) {
        let converted = Error::from(error.clone());
        let _ = (converted.code(), converted.to_string());
    }
}

fn carried_error(frame: &Frame) -> Option<&WireError> {
    match frame {
        Frame::Response(response) => response.result.as_ref().err(),
        Frame::Goaway(error) => Some(error),
        Frame::StreamEnd { result, .. } => result.as_ref().err(),
        _ => None,
    }
}
