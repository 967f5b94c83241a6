//! The raw baseline: a length-prefixed echo with nothing else on top.
//!
//! Frames are a 4-byte big-endian length and the payload, as in Titan's wire
//! format, but with no envelope, no call ids, no tasks and no channels: the
//! server writes back every complete frame it has read, all of them in one
//! write; the client keeps `concurrency` requests in flight on its one
//! connection and, since the echo answers in order, knows which request each
//! reply answers. That is the floor a framework on the same socket can be
//! measured against.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use futures::future::LocalBoxFuture;

use crate::measure::{Contender, Measurement, Recorder, Settings};

/// The length prefix of a frame: 4 bytes, big-endian.
const PREFIX: usize = 4;

/// How many bytes at the front of `input` are complete frames.
fn complete_frames(input: &[u8]) -> usize {
    let mut at = 0;
    while let Some(prefix) = input.get(at..at + PREFIX) {
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if input.len() < at + PREFIX + length {
            break;
        }
        at += PREFIX + length;
    }
    at
}

/// Echoes every frame back until the peer hangs up.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(64 * 1024);
    loop {
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        let complete = complete_frames(&input);
        if complete > 0 {
            stream.write_all(&input[..complete]).await?;
            input.advance(complete);
        }
    }
}

/// Measures the raw echo at `stream`'s other end: `concurrency` requests of
/// `payload` bytes kept in flight on the one connection, closed-loop.
///
/// Every request sent is answered before it returns, so the stream can be
/// measured again.
pub async fn measure<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    payload: usize,
    concurrency: usize,
    settings: &Settings,
) -> anyhow::Result<Measurement> {
    let length = u32::try_from(payload)?;
    let mut frame = length.to_be_bytes().to_vec();
    frame.resize(PREFIX + payload, 0xa5);
    let frame_size = frame.len();

    let mut recorder = Recorder::new(settings.window());
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(concurrency);
    let mut output = Vec::with_capacity(frame_size * concurrency);
    let mut input = BytesMut::with_capacity(64 * 1024);

    let now = Instant::now();
    for _ in 0..concurrency {
        output.extend_from_slice(&frame);
        sent.push_back(now);
    }
    stream.write_all(&output).await?;
    output.clear();
    let mut going = true;
    while !sent.is_empty() {
        if stream.read_buf(&mut input).await? == 0 {
            anyhow::bail!("the raw echo server hung up");
        }
        let now = Instant::now();
        while input.len() >= frame_size {
            anyhow::ensure!(
                input[..PREFIX] == frame[..PREFIX],
                "the raw echo answered with another length"
            );
            input.advance(frame_size);
            let Some(start) = sent.pop_front() else {
                anyhow::bail!("the raw echo answered a request never sent");
            };
            going &= recorder.record(start, now);
            if going {
                output.extend_from_slice(&frame);
                sent.push_back(now);
            }
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
    }
    Ok(recorder.finish())
}

/// The raw echo on one connection, as a [`Contender`].
pub struct RawEcho<S> {
    stream: S,
    payload: usize,
    concurrency: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> RawEcho<S> {
    /// `concurrency` requests of `payload` bytes in flight on `stream`, boxed
    /// for [`crate::measure::interleaved`].
    pub fn boxed(stream: S, payload: usize, concurrency: usize) -> Box<dyn Contender> {
        Box::new(RawEcho {
            stream,
            payload,
            concurrency,
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Contender for RawEcho<S> {
    fn slice(&mut self, settings: Settings) -> LocalBoxFuture<'_, anyhow::Result<Measurement>> {
        Box::pin(async move {
            measure(&mut self.stream, self.payload, self.concurrency, &settings).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_frames_count() {
        let mut input = vec![0, 0, 0, 2, 7, 7, 0, 0, 0, 3, 1];
        assert_eq!(complete_frames(&input), 6);
        input.extend([2, 3]);
        assert_eq!(complete_frames(&input), 13);
        assert_eq!(complete_frames(&[0, 0]), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_echo_round_trips() -> anyhow::Result<()> {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(serve(server));
        let settings = Settings {
            warmup: std::time::Duration::from_millis(5),
            duration: std::time::Duration::from_millis(20),
        };
        let measured = measure(&mut client, 16, 8, &settings).await?;
        assert!(measured.calls > 0);
        let again = measure(&mut client, 16, 8, &settings).await?;
        assert!(
            again.calls > 0,
            "the connection serves a second measurement"
        );
        Ok(())
    }
}
