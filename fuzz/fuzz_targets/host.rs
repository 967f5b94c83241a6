//! The host loop: whatever a peer sends, `titan_core::host::serve` answers or
//! hangs up, and never panics or hangs.
//!
//! The input is written to one end of an in-memory pipe, `host::serve` serves
//! a small process on the other. The first byte picks how the rest is read:
//!
//! - `mode % 3 == 0`: raw bytes, exactly as they would arrive on a socket;
//! - `mode % 3 == 1`: a valid hello, then raw bytes (to get past the handshake);
//! - `mode % 3 == 2`: a valid hello, then frames built from the bytes: requests
//!   to the process's real methods with well-formed or garbled arguments,
//!   cancels, stream items, ends and credits, pings, goaways, and now and then
//!   a garbled frame or length prefix;
//!
//! and `mode / 3 % 3` when the peer hangs up once it has said everything: at
//! once, after a pause (so calls get to finish and streams to flow), or never
//! (so the host must time the silent peer out by itself).
//!
//! `TITAN_FUZZ_DEBUG=1` prints what the host sent, for reading a crash.
//!
//! Everything runs on a current-thread runtime with a paused clock, so the
//! short handshake and heartbeat timeouts cost no real time, and the host
//! must be done within a bounded (virtual) time after the input ends.
//!
//! `cargo fuzz run host` (see the README's "Fuzzing" section).

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result as ArbitraryResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use titan_core::host::{self, ServiceSet};
use titan_core::prelude::*;
use titan_core::wire::{
    self, Frame, Hello, Offered, PROTOCOL_VERSION, RequestFrame, ResponseFrame, TraceContext,
    WireConfig, WireError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// A process with a method for each path through the host: plain, exclusive,
/// typed error, slow, streaming out, streaming in, and a reply too large for a
/// frame.
#[derive(Default)]
struct Echo {
    total: u64,
}

#[process(name = "echo", version = "1.0.0")]
impl Echo {
    #[public]
    fn echo(&self, text: String) -> String {
        text
    }

    #[public]
    async fn add(&mut self, n: u64) -> u64 {
        self.total = self.total.wrapping_add(n);
        self.total
    }

    #[public]
    fn even(&self, n: u32) -> Result<u32, String> {
        if n.is_multiple_of(2) {
            Ok(n)
        } else {
            Err(format!("{n} is odd"))
        }
    }

    #[public]
    async fn nap(&self, millis: u16) -> u16 {
        tokio::time::sleep(Duration::from_millis(u64::from(millis))).await;
        millis
    }

    #[public]
    fn count(&self, n: u8) -> Stream<u8> {
        Stream::iter(0..n)
    }

    #[public]
    async fn total(&self, mut values: Stream<u32>) -> u64 {
        let mut total = 0u64;
        while let Some(value) = values.next().await {
            total = total.wrapping_add(u64::from(value));
        }
        total
    }

    #[public]
    fn big(&self, len: u32) -> Vec<u8> {
        vec![7; (len as usize).min(1 << 17)]
    }
}

const MAX_FRAME: usize = 1 << 12;

fn config() -> WireConfig {
    WireConfig {
        max_frame_size: MAX_FRAME,
        max_concurrent_calls: 8,
        heartbeat_interval: Duration::from_millis(50),
        heartbeat_timeout: Duration::from_millis(200),
        handshake_timeout: Duration::from_millis(100),
        stream_window: 4,
    }
}

/// How long (virtual time) the host may take once the input has ended.
const BOUND: Duration = Duration::from_secs(30);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            let mut input = hello();
            input.extend_from_slice(rest);
            input
        }
        _ => {
            let mut input = hello();
            // Running out of bytes just ends the frames.
            let _ = frames(&mut Unstructured::new(rest), &mut input);
            input
        }
    };
    // How the peer leaves once it has said everything.
    let leave = match (mode / 3) % 3 {
        0 => Leave::AtOnce,
        1 => Leave::After(Duration::from_millis(150)),
        _ => Leave::Never,
    };
    run(input, leave);
});

/// When the peer hangs up its sending side, once the input is written.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// At once: the host stops the calls still running.
    AtOnce,
    /// After a while, within the heartbeat timeout: calls get to finish.
    After(Duration),
    /// Never: the host must give up on the silent peer by itself.
    Never,
}

/// Serves `Echo` on one end of a pipe, with `input` written to the other.
fn run(input: Vec<u8>, leave: Leave) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let pm = ProcessManager::new();
        let echo = pm.spawn::<Echo>().await.expect("spawns");
        let services = Arc::new(ServiceSet::new().with::<Echo>(&echo));

        let (ours, theirs) = tokio::io::duplex(1 << 14);
        let (mut from_host, mut to_host) = tokio::io::split(ours);
        // The peer: writes the input, then hangs up its sending side; reads
        // whatever the host says until it closes.
        tokio::spawn(async move {
            let _ = to_host.write_all(&input).await;
            match leave {
                Leave::AtOnce => {}
                Leave::After(pause) => tokio::time::sleep(pause).await,
                Leave::Never => std::future::pending().await,
            }
            let _ = to_host.shutdown().await;
        });
        let replies = tokio::spawn(async move {
            let mut replies = Vec::new();
            let _ = from_host.read_to_end(&mut replies).await;
            replies
        });

        let served = tokio::time::timeout(BOUND, host::serve(theirs, services, config())).await;
        let Ok(outcome) = served else {
            panic!("the host did not finish within {BOUND:?} of the input's end");
        };
        // The host has hung up: what it said must be well-formed frames.
        let replies = tokio::time::timeout(BOUND, replies)
            .await
            .expect("the host's end of the pipe closed")
            .expect("the reader did not panic");
        check_replies(&replies, &outcome);
        // The process the host served is still fine.
        assert_eq!(
            echo.echo("still here".into()).await.as_deref(),
            Ok("still here")
        );
        pm.shutdown().await.expect("shuts down");
    });
}

/// Everything the host sent is a well-formed frame of a host: a hello first
/// (unless it refused the handshake), never a request; and when it ended with
/// an error, its last frame is the goaway that says so.
fn check_replies(replies: &[u8], outcome: &Result<(), Error>) {
    let debug = std::env::var_os("TITAN_FUZZ_DEBUG").is_some();
    if debug {
        eprintln!("serve returned {outcome:?}");
    }
    let mut codec = wire::length_codec(MAX_FRAME);
    let mut buffer = bytes::BytesMut::from(replies);
    let mut frames = Vec::new();
    while let Some(body) = codec
        .decode(&mut buffer)
        .expect("the host's frames fit its limit")
    {
        let frame = wire::decode(&body).expect("the host's frames decode");
        if debug {
            eprintln!("host sent {frame:?}");
        }
        frames.push(frame);
    }
    assert!(buffer.is_empty(), "the host's output ends mid-frame");
    if let Some(first) = frames.first() {
        assert!(
            matches!(first, Frame::Hello(_) | Frame::Goaway(_)),
            "the host's first frame is {first:?}"
        );
    }
    assert!(
        !frames
            .iter()
            .any(|frame| matches!(frame, Frame::Request(_))),
        "a host sent a request"
    );
    if outcome.is_err() {
        assert!(
            matches!(frames.last(), Some(Frame::Goaway(_))),
            "the host failed ({outcome:?}) without a goaway"
        );
    }
}

/// A valid hello, length-prefixed.
fn hello() -> Vec<u8> {
    let mut out = Vec::new();
    push(
        &mut out,
        &Frame::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            services: Vec::new(),
            token: None,
        }),
    );
    out
}

/// Appends `frame`, length-prefixed.
fn push(out: &mut Vec<u8>, frame: &Frame) {
    let body = wire::encode(frame, usize::MAX).expect("a frame encodes");
    push_body(out, &body);
}

fn push_body(out: &mut Vec<u8>, body: &[u8]) {
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(body);
}

/// Appends frames built from `u` until it runs dry (or 64 of them).
fn frames(u: &mut Unstructured<'_>, out: &mut Vec<u8>) -> ArbitraryResult<()> {
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        let call = u64::from(u.int_in_range(0..=9u8)?);
        let frame = match u.int_in_range(0..=13u8)? {
            0..=4 => Frame::Request(request(u, call)?),
            5 => Frame::Cancel(call),
            6 => Frame::StreamItem {
                call,
                payload: if u.arbitrary()? {
                    Bytes::from(wire_encode(&u.arbitrary::<u32>()?))
                } else {
                    Bytes::from(u.arbitrary::<Vec<u8>>()?)
                },
            },
            7 => Frame::StreamEnd {
                call,
                result: if u.arbitrary()? {
                    Ok(())
                } else {
                    Err(wire_error(u)?)
                },
            },
            8 => Frame::StreamCredit {
                call,
                n: u.arbitrary()?,
            },
            9 => Frame::Ping(u.arbitrary()?),
            10 => {
                // Frames a host does not expect, or a goodbye.
                match u.int_in_range(0..=3u8)? {
                    0 => Frame::Pong(u.arbitrary()?),
                    1 => Frame::Goaway(wire_error(u)?),
                    2 => Frame::Response(ResponseFrame {
                        call,
                        result: Err(wire_error(u)?),
                    }),
                    _ => Frame::Hello(Hello {
                        protocol: u.arbitrary()?,
                        services: vec![Offered {
                            name: u.arbitrary()?,
                            version: u.arbitrary()?,
                        }],
                        token: u.arbitrary()?,
                    }),
                }
            }
            11 => {
                // A garbled body with an honest length.
                let body: Vec<u8> = u.arbitrary()?;
                push_body(out, &body);
                continue;
            }
            12 => {
                // A length prefix that lies (too long, or over the limit).
                let length: u32 = u.arbitrary()?;
                out.extend_from_slice(&length.to_be_bytes());
                let body: Vec<u8> = u.arbitrary()?;
                out.extend_from_slice(&body);
                continue;
            }
            _ => {
                // Raw bytes where a frame belongs.
                let bytes: Vec<u8> = u.arbitrary()?;
                out.extend_from_slice(&bytes);
                continue;
            }
        };
        push(out, &frame);
    }
    Ok(())
}

/// A request: mostly to a real method of `echo`, with arguments well formed
/// or not, sometimes to a wrong service, version or method.
fn request(u: &mut Unstructured<'_>, call: u64) -> ArbitraryResult<RequestFrame> {
    let methods = Echo::DEFINITION.methods;
    let index = u.choose_index(methods.len() + 1)?;
    let (method, payload) = match methods.get(index) {
        Some(method) => {
            let payload = if u.ratio(4, 5)? {
                arguments(u, method.name)?
            } else {
                u.arbitrary()?
            };
            (method.id.0, payload)
        }
        None => (u.arbitrary()?, u.arbitrary()?),
    };
    let (service, version) = match u.int_in_range(0..=7u8)? {
        0 => (u.arbitrary()?, "1.0.0".to_string()),
        1 => ("echo".to_string(), u.arbitrary()?),
        2 => ("echo".to_string(), "2.0.0".to_string()),
        _ => ("echo".to_string(), "1.0.0".to_string()),
    };
    Ok(RequestFrame {
        call,
        service,
        version,
        method,
        timeout_micros: u.arbitrary()?,
        trace: if u.arbitrary()? {
            Some(TraceContext {
                trace_id: u.arbitrary()?,
                span_id: u.arbitrary()?,
            })
        } else {
            None
        },
        payload: Bytes::from(payload),
    })
}

/// Well-formed arguments for the method called `name`.
fn arguments(u: &mut Unstructured<'_>, name: &str) -> ArbitraryResult<Vec<u8>> {
    Ok(match name {
        "echo" => wire_encode(&(u.arbitrary::<String>()?,)),
        "add" => wire_encode(&(u.arbitrary::<u64>()?,)),
        "even" => wire_encode(&(u.arbitrary::<u32>()?,)),
        "nap" => wire_encode(&(u.arbitrary::<u16>()?,)),
        "count" => wire_encode(&(u.arbitrary::<u8>()?,)),
        "big" => wire_encode(&(u.int_in_range(0..=2 * MAX_FRAME as u32)?,)),
        // `total` takes only its stream, which travels in frames of its own.
        _ => wire_encode(&()),
    })
}

fn wire_encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("arguments encode")
}

fn wire_error(u: &mut Unstructured<'_>) -> ArbitraryResult<WireError> {
    Ok(WireError {
        code: u.arbitrary()?,
        message: u.arbitrary()?,
        details: u.arbitrary()?,
    })
}
