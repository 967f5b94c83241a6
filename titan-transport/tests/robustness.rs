//! Bad peers on raw TCP sockets against a real server: each one gets a clear
//! goodbye (a `Goaway` with the reason) or a clean close, and a well-behaved
//! client on another connection keeps getting answers all along.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use support::*;
use titan_core::ErrorCode;
use titan_core::prelude::*;
use titan_core::wire::{self, Frame, Hello, PROTOCOL_VERSION, WireConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Short enough that the silent peer test is quick, long enough for any
/// real client's hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// A hand-driven peer speaking raw bytes and frames over TCP.
struct RawPeer {
    read: FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    write: FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
}

/// What a bad peer hears back before the connection ends.
#[derive(Debug)]
enum Ending {
    /// A goodbye with the reason, then the close.
    Goaway(Error),
    /// The connection closed without another frame.
    Closed,
}

impl RawPeer {
    async fn connect(url: &str) -> RawPeer {
        let address = url.strip_prefix("tcp://").expect("a tcp url");
        let stream = TcpStream::connect(address).await.expect("connects");
        let (read, write) = stream.into_split();
        RawPeer {
            read: FramedRead::new(read, wire::length_codec(1 << 20)),
            write: FramedWrite::new(write, wire::length_codec(1 << 20)),
        }
    }

    async fn send(&mut self, frame: &Frame) {
        let bytes = wire::encode(frame, 1 << 20).expect("encodes");
        self.write.send(bytes).await.expect("writes a frame");
    }

    /// Writes bytes below the framing layer.
    async fn write_bytes(&mut self, bytes: &[u8]) {
        let io = self.write.get_mut();
        io.write_all(bytes).await.expect("writes");
        io.flush().await.expect("flushes");
    }

    /// Closes our sending side (the server reads end of stream).
    async fn finish_sending(&mut self) {
        self.write.get_mut().shutdown().await.expect("shuts down");
    }

    async fn next(&mut self) -> Option<Frame> {
        match guarded("a frame from the server", self.read.next()).await {
            Some(Ok(bytes)) => Some(wire::decode(&bytes).expect("the server sends valid frames")),
            // A reset after the goodbye counts as the close.
            Some(Err(_)) | None => None,
        }
    }

    async fn handshake(&mut self) {
        self.send(&hello(PROTOCOL_VERSION)).await;
        match self.next().await {
            Some(Frame::Hello(hello)) => assert_eq!(hello.services[0].name, "bank"),
            other => panic!("expected the server's hello, got {other:?}"),
        }
    }

    /// Reads to the end: an optional goaway, then the close.
    async fn ending(mut self) -> Ending {
        let ending = match self.next().await {
            Some(Frame::Goaway(error)) => Ending::Goaway(Error::from(error)),
            None => Ending::Closed,
            Some(other) => panic!("expected a goaway or the close, got {other:?}"),
        };
        assert!(
            self.next().await.is_none(),
            "nothing follows: the server closed the connection"
        );
        ending
    }
}

fn hello(protocol: u16) -> Frame {
    Frame::Hello(Hello {
        protocol,
        services: Vec::new(),
        token: None,
    })
}

fn goaway_code(ending: Ending) -> (ErrorCode, String) {
    match ending {
        Ending::Goaway(error) => (error.code(), error.to_string()),
        Ending::Closed => panic!("expected a goaway with the reason, got a bare close"),
    }
}

async fn bank_server() -> (Served, BankProxy) {
    let served = serve_bank_with(Transport::Tcp.endpoint("raw"), |builder| {
        builder.wire(WireConfig {
            handshake_timeout: HANDSHAKE_TIMEOUT,
            ..WireConfig::default()
        })
    })
    .await;
    let good = titan_transport::connect::<Bank>(served.server.local_addr())
        .await
        .expect("the good client connects");
    assert_eq!(good.add(1, 1).await, Ok(2));
    (served, good)
}

/// After a bad peer is gone: the good client still gets answers and only its
/// connection is left on the server.
async fn the_good_client_is_unaffected(served: &Served, good: &BankProxy) {
    assert_eq!(good.add(20, 22).await, Ok(42));
    eventually("only the good connection is left", || {
        served.server.connections() == 1
    })
    .await;
    assert_eq!(good.add(1, 2).await, Ok(3));
}

#[tokio::test]
async fn a_truncated_frame_ends_only_that_connection() {
    let (served, good) = bank_server().await;
    let mut bad = RawPeer::connect(&served.url()).await;
    bad.handshake().await;
    // A length prefix of 100 bytes followed by only 3, then end of stream.
    bad.write_bytes(&[0, 0, 0, 100, 1, 2, 3]).await;
    bad.finish_sending().await;
    match bad.ending().await {
        Ending::Goaway(error) => assert_eq!(error.code(), ErrorCode::Unavailable, "{error}"),
        Ending::Closed => {}
    }
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn a_four_gib_length_prefix_gets_a_goaway() {
    let (served, good) = bank_server().await;
    let mut bad = RawPeer::connect(&served.url()).await;
    bad.handshake().await;
    bad.write_bytes(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).await;
    let (code, message) = goaway_code(bad.ending().await);
    assert_eq!(code, ErrorCode::Decode);
    assert!(message.contains("maximum frame size"), "{message}");
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn garbage_in_a_frame_gets_a_goaway() {
    let (served, good) = bank_server().await;
    let mut bad = RawPeer::connect(&served.url()).await;
    bad.handshake().await;
    bad.write
        .send(Bytes::from_static(&[
            0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff,
        ]))
        .await
        .expect("writes");
    let (code, message) = goaway_code(bad.ending().await);
    assert_eq!(code, ErrorCode::Decode, "{message}");
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn random_garbage_instead_of_a_hello_gets_a_goaway_or_a_close() {
    let (served, good) = bank_server().await;
    // A fixed pseudo-random sequence (xorshift), so a failure can be replayed.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut garbage = Vec::with_capacity(4096);
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        garbage.push(state as u8);
    }
    for chunk in [&garbage[..7], &garbage[100..612], &garbage[..]] {
        let mut bad = RawPeer::connect(&served.url()).await;
        bad.write_bytes(chunk).await;
        // The length prefix the garbage starts with may be over the limit
        // (a goaway at once), a frame that does not decode (a goaway), or
        // longer than what follows (the handshake timeout's goaway).
        match bad.ending().await {
            Ending::Goaway(error) => assert!(
                matches!(error.code(), ErrorCode::Decode | ErrorCode::Unavailable),
                "{error}"
            ),
            Ending::Closed => {}
        }
    }
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn an_http_request_gets_a_goaway() {
    let (served, good) = bank_server().await;
    let mut bad = RawPeer::connect(&served.url()).await;
    // "GET " read as a length prefix is over a gigabyte.
    bad.write_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let (code, message) = goaway_code(bad.ending().await);
    assert_eq!(code, ErrorCode::Decode);
    assert!(message.contains("maximum frame size"), "{message}");
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn another_protocol_version_gets_a_goaway() {
    let (served, good) = bank_server().await;
    let mut bad = RawPeer::connect(&served.url()).await;
    bad.send(&hello(PROTOCOL_VERSION + 1)).await;
    let (code, message) = goaway_code(bad.ending().await);
    assert_eq!(code, ErrorCode::VersionMismatch);
    assert!(message.contains("titan wire protocol"), "{message}");
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn a_peer_that_says_nothing_is_dropped_after_the_handshake_timeout() {
    let (served, good) = bank_server().await;
    let bad = RawPeer::connect(&served.url()).await;
    assert_eq!(
        good.add(2, 2).await,
        Ok(4),
        "answers while the peer is silent"
    );
    let (code, message) = goaway_code(bad.ending().await);
    assert_eq!(code, ErrorCode::Unavailable);
    assert!(message.contains("no hello"), "{message}");
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test]
async fn a_peer_that_hangs_up_mid_handshake_is_forgotten() {
    let (served, good) = bank_server().await;
    let mut bad = RawPeer::connect(&served.url()).await;
    bad.write_bytes(&[0, 0]).await;
    drop(bad);
    the_good_client_is_unaffected(&served, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_bad_peers_at_once_while_a_good_client_keeps_calling() {
    let (served, good) = bank_server().await;
    let url = served.url();

    // The good client calls in a loop for as long as the bad peers run.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let caller = tokio::spawn({
        let (good, stop, answered) = (good.clone(), stop.clone(), answered.clone());
        async move {
            let mut i = 0_i64;
            while !stop.load(Ordering::SeqCst) {
                assert_eq!(good.add(i, 1).await, Ok(i + 1), "call {i}");
                answered.fetch_add(1, Ordering::SeqCst);
                i += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });

    let mut bad_peers = tokio::task::JoinSet::new();
    for round in 0..5 {
        let url = url.clone();
        bad_peers.spawn(async move {
            let mut bad = RawPeer::connect(&url).await;
            match round {
                0 => {
                    bad.handshake().await;
                    bad.write_bytes(&[0xff, 0xff, 0xff, 0xff]).await;
                }
                1 => bad.write_bytes(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).await,
                2 => bad.send(&hello(PROTOCOL_VERSION + 7)).await,
                3 => {} // silent
                _ => {
                    bad.handshake().await;
                    bad.write_bytes(&[0, 0, 0, 50, 1]).await;
                    bad.finish_sending().await;
                }
            }
            bad.ending().await
        });
    }
    while let Some(joined) = guarded("the bad peers", bad_peers.join_next()).await {
        joined.expect("a bad peer's task");
    }
    let before = answered.load(Ordering::SeqCst);
    eventually("the good client keeps getting answers", || {
        answered.load(Ordering::SeqCst) > before
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    guarded("the good client", caller)
        .await
        .expect("every good call was answered");
    the_good_client_is_unaffected(&served, &good).await;
}
