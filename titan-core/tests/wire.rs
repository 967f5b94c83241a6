//! Calls across a byte stream: a framed caller on one end of an in-memory pipe,
//! the host loop on the other. The same proxies, now through the wire format:
//! multiplexing with out-of-order replies, cancellation, deadlines, heartbeats,
//! loss of the peer, and the host's answers to every kind of bad input.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use titan_core::framed::{FramedCaller, Peer};
use titan_core::host::{self, ServiceSet};
use titan_core::prelude::*;
use titan_core::wire::{
    self, Frame, Hello, PROTOCOL_VERSION, RequestFrame, ResponseFrame, WireConfig,
};
use titan_core::{ErrorCode, MethodId};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::Notify;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

const HANG_GUARD: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum BankError {
    Insufficient { balance: u64 },
}

/// A process with something to show for every wire behaviour.
#[derive(Default)]
struct Bank {
    balance: u64,
    gates: std::sync::Mutex<HashMap<String, Arc<Notify>>>,
    /// Items produced by `ticks`, to watch backpressure and cancellation.
    produced: Arc<AtomicU64>,
}

impl Bank {
    fn gate(&self, name: &str) -> Arc<Notify> {
        self.gates
            .lock()
            .expect("gates")
            .entry(name.to_string())
            .or_default()
            .clone()
    }
}

#[process(name = "bank", version = "1.2.0")]
impl Bank {
    #[public]
    async fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    #[public]
    async fn withdraw(&mut self, amount: u64) -> Result<u64, BankError> {
        if amount > self.balance {
            return Err(BankError::Insufficient {
                balance: self.balance,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    /// Waits until `open(name)` is called.
    #[public]
    async fn wait_for(&self, name: String) -> String {
        let gate = self.gate(&name);
        gate.notified().await;
        name
    }

    #[public]
    async fn open(&self, name: String) {
        self.gate(&name).notify_one();
    }

    /// Never returns (until its work is dropped).
    #[public]
    async fn hang(&self) {
        std::future::pending::<()>().await;
    }

    #[public]
    async fn sleep(&self, secs: u64) -> u64 {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        secs
    }

    #[public]
    fn bytes(&self, len: usize) -> Vec<u8> {
        vec![7; len]
    }

    /// 1, 2, …, `n`.
    #[public]
    fn count(&self, n: u64) -> Stream<u64> {
        Stream::iter(1..=n)
    }

    /// `n` squares, as an `impl Stream` that borrows nothing of the process.
    #[public]
    fn squares(&self, n: u64) -> impl futures::Stream<Item = u64> + Send + use<> {
        futures::stream::iter((1..=n).map(|i| i * i))
    }

    /// Counts forever, as fast as it is allowed to.
    #[public]
    fn ticks(&self) -> Stream<u64> {
        let produced = self.produced.clone();
        Stream::iter((1..).inspect(move |_| {
            produced.fetch_add(1, Ordering::SeqCst);
        }))
    }

    /// Adds up what it is sent.
    #[public]
    async fn sum(&self, mut values: Stream<u64>) -> u64 {
        let mut total = 0;
        while let Some(value) = values.next().await {
            total += value;
        }
        total
    }

    /// Doubles every item it is sent, as a stream.
    #[public]
    fn double(&self, values: Stream<u64>) -> Stream<u64> {
        Stream::new(values.map(|v| v * 2))
    }

    #[public]
    fn produced(&self) -> u64 {
        self.produced.load(Ordering::SeqCst)
    }
}

struct Setup {
    pm: ProcessManager,
    bank: BankProxy,
    /// The process itself, behind the host, to look at its side effects.
    local: BankProxy,
    host: tokio::task::JoinHandle<Result<(), Error>>,
    caller: FramedCaller,
}

async fn setup(config: WireConfig) -> Setup {
    let pm = ProcessManager::new();
    let local = pm.spawn::<Bank>().await.expect("spawns");
    let services = Arc::new(ServiceSet::new().with::<Bank>(&local));
    let (near, far) = tokio::io::duplex(64 * 1024);
    let host = tokio::spawn(host::serve(far, services, config.clone()));
    let caller = FramedCaller::connect(
        near,
        Peer::Remote {
            address: "memory".into(),
        },
        config,
        None,
    )
    .await
    .expect("handshake");
    let bank = BankProxy::from_client(Client::new(caller.clone()));
    Setup {
        pm,
        bank,
        local,
        host,
        caller,
    }
}

async fn guarded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

#[tokio::test]
async fn unary_calls_and_typed_errors_cross_the_wire() {
    let s = setup(WireConfig::default()).await;
    assert_eq!(s.bank.deposit(10).await, Ok(10));
    assert_eq!(s.bank.withdraw(4).await, Ok(6));
    assert_eq!(
        s.bank.withdraw(100).await,
        Err(CallError::Application(BankError::Insufficient {
            balance: 6
        }))
    );
    assert_eq!(s.caller.offered()[0].name, "bank");
    drop(s.pm);
}

#[tokio::test]
async fn one_connection_carries_concurrent_calls_and_replies_out_of_order() {
    let s = setup(WireConfig::default()).await;
    // `first` is sent first but can only finish after `second` has been served
    // on the same connection.
    let first = tokio::spawn({
        let bank = s.bank.clone();
        async move { bank.wait_for("a".into()).await }
    });
    tokio::task::yield_now().await;
    let opener = s.bank.clone();
    guarded("second call", async {
        // Retry: the first call may not have reached its gate yet.
        loop {
            opener.open("a".into()).await.expect("open");
            if first.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(first.await.expect("joins"), Ok("a".to_string()));

    let deposits = futures::future::join_all((0..200).map(|_| s.bank.deposit(1))).await;
    let mut balances: Vec<u64> = deposits.into_iter().map(|r| r.expect("deposit")).collect();
    balances.sort_unstable();
    assert_eq!(
        balances,
        (1..=200).collect::<Vec<_>>(),
        "exclusive across the wire too"
    );
}

#[tokio::test]
async fn dropping_a_call_cancels_its_work_on_the_host() {
    let s = setup(WireConfig::default()).await;
    // The process's in-flight count shows the work: it drops to 0 only when
    // the host stops the call.
    let call = tokio::spawn({
        let bank = s.bank.clone();
        async move { bank.hang().await }
    });
    // Give the request time to reach the host and start.
    guarded("the call starts", async {
        while s
            .pm
            .get(s.local.process_id().expect("id"))
            .map(|i| i.in_flight)
            != Some(1)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    call.abort();
    guarded("the host drops the work", async {
        while s
            .pm
            .get(s.local.process_id().expect("id"))
            .map(|i| i.in_flight)
            != Some(0)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(s.caller.is_open(), "a cancel does not close the connection");
    assert_eq!(s.bank.deposit(1).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_travels_with_the_request_and_the_host_drops_the_work() {
    let s = setup(WireConfig::default()).await;
    let result = s.bank.with_timeout(Duration::from_secs(5)).sleep(60).await;
    assert_eq!(result, Err(Error::Timeout));
    let id = s.local.process_id().expect("id");
    guarded("the host drops the work", async {
        while s.pm.get(id).map(|i| i.in_flight) != Some(0) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(
        s.bank.with_timeout(Duration::from_secs(5)).sleep(1).await,
        Ok(1),
        "a call within its deadline completes"
    );
}

#[tokio::test]
async fn losing_the_host_fails_every_call_in_flight_at_once() {
    let s = setup(WireConfig::default()).await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let bank = s.bank.clone();
            tokio::spawn(async move { bank.hang().await })
        })
        .collect();
    let id = s.local.process_id().expect("id");
    guarded("the calls start", async {
        while s.pm.get(id).map(|i| i.in_flight) != Some(10) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    s.host.abort();
    for call in calls {
        let result = guarded("a call fails", call).await.expect("joins");
        match result {
            Err(Error::Unavailable { reason }) => assert!(reason.contains("memory"), "{reason}"),
            other => panic!("expected the connection's loss, got {other:?}"),
        }
    }
    assert!(!s.caller.is_open());
    assert!(matches!(
        s.bank.deposit(1).await,
        Err(Error::Unavailable { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_detected_by_the_heartbeat() {
    let config = WireConfig {
        heartbeat_interval: Duration::from_secs(1),
        heartbeat_timeout: Duration::from_secs(3),
        ..WireConfig::default()
    };
    let (near, far) = tokio::io::duplex(64 * 1024);
    // A peer that shakes hands and then never says another word.
    let mut peer = RawPeer::new(far);
    let silent = tokio::spawn(async move {
        let hello = peer.next().await;
        assert!(matches!(hello, Some(Frame::Hello(_))));
        peer.send(&host_hello()).await;
        std::future::pending::<()>().await;
        drop(peer);
    });
    let caller = FramedCaller::connect(
        near,
        Peer::Process {
            label: "bank#1".into(),
        },
        config,
        None,
    )
    .await
    .expect("handshake");
    let bank = BankProxy::from_client(Client::new(caller.clone()));
    let result = bank.hang().await;
    match result {
        Err(Error::ProcessCrashed { process, reason }) => {
            assert_eq!(process, "bank#1");
            assert!(reason.contains("no sign of life"), "{reason}");
        }
        other => panic!("expected the heartbeat to give up, got {other:?}"),
    }
    silent.abort();
}

#[tokio::test]
async fn the_host_limits_calls_in_flight_per_connection() {
    let s = setup(WireConfig {
        max_concurrent_calls: 2,
        ..WireConfig::default()
    })
    .await;
    let hanging: Vec<_> = (0..2)
        .map(|_| {
            let bank = s.bank.clone();
            tokio::spawn(async move { bank.hang().await })
        })
        .collect();
    let id = s.local.process_id().expect("id");
    guarded("two calls start", async {
        while s.pm.get(id).map(|i| i.in_flight) != Some(2) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    match s.bank.deposit(1).await {
        Err(Error::Unavailable { reason }) => assert!(reason.contains("most"), "{reason}"),
        other => panic!("expected the limit, got {other:?}"),
    }
    for call in hanging {
        call.abort();
    }
}

#[tokio::test]
async fn a_reply_too_large_for_a_frame_becomes_an_error_and_the_connection_goes_on() {
    let s = setup(WireConfig {
        max_frame_size: 4096,
        ..WireConfig::default()
    })
    .await;
    match s.bank.bytes(100_000).await {
        Err(Error::Encode { reason, .. }) => {
            assert!(reason.contains("maximum frame size"), "{reason}")
        }
        other => panic!("expected an encode error, got {other:?}"),
    }
    assert_eq!(s.bank.bytes(10).await.map(|b| b.len()), Ok(10));
}

#[tokio::test]
async fn arguments_too_large_for_a_frame_fail_before_sending() {
    let s = setup(WireConfig {
        max_frame_size: 64,
        ..WireConfig::default()
    })
    .await;
    match s.bank.wait_for("x".repeat(1000)).await {
        Err(Error::Encode { .. }) => {}
        other => panic!("expected an encode error, got {other:?}"),
    }
    assert!(s.caller.is_open());
}

// --- Bad input, sent by hand ------------------------------------------------

/// A hand-driven peer speaking raw frames.
struct RawPeer {
    read: FramedRead<tokio::io::ReadHalf<DuplexStream>, LengthDelimitedCodec>,
    write: FramedWrite<tokio::io::WriteHalf<DuplexStream>, LengthDelimitedCodec>,
}

impl RawPeer {
    fn new(io: DuplexStream) -> RawPeer {
        let (r, w) = tokio::io::split(io);
        RawPeer {
            read: FramedRead::new(r, wire::length_codec(1 << 20)),
            write: FramedWrite::new(w, wire::length_codec(1 << 20)),
        }
    }

    async fn send(&mut self, frame: &Frame) {
        let bytes = wire::encode(frame, 1 << 20).expect("encodes");
        self.send_raw(bytes).await;
    }

    async fn send_raw(&mut self, bytes: Bytes) {
        self.write.send(bytes).await.expect("writes");
    }

    async fn next(&mut self) -> Option<Frame> {
        let bytes = guarded("a frame", self.read.next()).await?.ok()?;
        Some(wire::decode(&bytes).expect("the host sends valid frames"))
    }

    /// Writes bytes below the framing layer.
    async fn write_bytes(&mut self, bytes: &[u8]) {
        let io = self.write.get_mut();
        io.write_all(bytes).await.expect("writes");
        io.flush().await.expect("flushes");
    }
}

fn client_hello() -> Frame {
    Frame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        services: Vec::new(),
        token: None,
    })
}

fn host_hello() -> Frame {
    Frame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        services: vec![wire::Offered {
            name: "bank".into(),
            version: "1.2.0".into(),
        }],
        token: None,
    })
}

fn request(call: u64, service: &str, version: &str, method: &str, payload: Bytes) -> Frame {
    Frame::Request(RequestFrame {
        call,
        service: service.into(),
        version: version.into(),
        method: MethodId::of(method).0,
        timeout_micros: None,
        trace: None,
        payload,
    })
}

fn encoded<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(postcard::to_stdvec(value).expect("encodes"))
}

struct RawSetup {
    peer: RawPeer,
    host: tokio::task::JoinHandle<Result<(), Error>>,
    _pm: ProcessManager,
}

async fn raw_host(config: WireConfig) -> RawSetup {
    let pm = ProcessManager::new();
    let bank = pm.spawn::<Bank>().await.expect("spawns");
    let services = Arc::new(ServiceSet::new().with::<Bank>(&bank));
    let (near, far) = tokio::io::duplex(64 * 1024);
    let host = tokio::spawn(host::serve(far, services, config));
    RawSetup {
        peer: RawPeer::new(near),
        host,
        _pm: pm,
    }
}

async fn raw_connected() -> RawSetup {
    let mut s = raw_host(WireConfig::default()).await;
    s.peer.send(&client_hello()).await;
    assert_eq!(s.peer.next().await, Some(host_hello()));
    s
}

fn response_error(frame: Option<Frame>, call: u64) -> Error {
    match frame {
        Some(Frame::Response(ResponseFrame {
            call: got,
            result: Err(error),
        })) if got == call => Error::from(error),
        other => panic!("expected an error reply to call {call}, got {other:?}"),
    }
}

fn goaway(frame: Option<Frame>) -> Error {
    match frame {
        Some(Frame::Goaway(error)) => Error::from(error),
        other => panic!("expected a goaway, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_services_methods_and_bad_arguments_get_error_replies_and_the_connection_goes_on() {
    let mut s = raw_connected().await;

    s.peer
        .send(&request(1, "vault", "1.0.0", "deposit", encoded(&(1_u64,))))
        .await;
    assert_eq!(
        response_error(s.peer.next().await, 1).code(),
        ErrorCode::ServiceNotFound
    );

    s.peer
        .send(&request(2, "bank", "1.0.0", "embezzle", encoded(&(1_u64,))))
        .await;
    assert_eq!(
        response_error(s.peer.next().await, 2).code(),
        ErrorCode::MethodNotFound
    );

    // A string where a u64 is expected: postcard reads garbage and says so.
    s.peer
        .send(&request(
            3,
            "bank",
            "1.0.0",
            "deposit",
            Bytes::from_static(&[0xff; 12]),
        ))
        .await;
    assert_eq!(
        response_error(s.peer.next().await, 3).code(),
        ErrorCode::Decode
    );

    // A caller built for another major version of the service.
    s.peer
        .send(&request(4, "bank", "2.0.0", "deposit", encoded(&(1_u64,))))
        .await;
    assert_eq!(
        response_error(s.peer.next().await, 4).code(),
        ErrorCode::VersionMismatch
    );

    // And the connection still serves.
    s.peer
        .send(&request(5, "bank", "1.0.0", "deposit", encoded(&(5_u64,))))
        .await;
    match s.peer.next().await {
        Some(Frame::Response(ResponseFrame {
            call: 5,
            result: Ok(bytes),
        })) => {
            assert_eq!(postcard::from_bytes::<u64>(&bytes).expect("a u64"), 5);
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    s.peer.send(&Frame::Ping(9)).await;
    assert_eq!(s.peer.next().await, Some(Frame::Pong(9)));
}

#[tokio::test]
async fn a_four_gib_length_prefix_gets_a_goaway_without_allocating() {
    let mut s = raw_connected().await;
    s.peer.write_bytes(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).await;
    let error = goaway(s.peer.next().await);
    assert_eq!(error.code(), ErrorCode::Decode);
    assert!(error.to_string().contains("maximum frame size"), "{error}");
    assert!(
        guarded("the host closes", s.host)
            .await
            .expect("joins")
            .is_err()
    );
}

#[tokio::test]
async fn garbage_gets_a_goaway_and_a_clean_close() {
    let mut s = raw_connected().await;
    s.peer
        .send_raw(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff]))
        .await;
    assert_eq!(goaway(s.peer.next().await).code(), ErrorCode::Decode);
    assert!(
        s.peer.next().await.is_none(),
        "the host closed the connection"
    );
    assert!(
        guarded("the host ends", s.host)
            .await
            .expect("joins")
            .is_err()
    );
}

#[tokio::test]
async fn a_truncated_frame_then_eof_ends_the_connection_without_a_panic() {
    let mut s = raw_connected().await;
    // A length prefix of 100 bytes followed by only 3, then the peer hangs up.
    s.peer.write_bytes(&[0, 0, 0, 100, 1, 2, 3]).await;
    drop(s.peer);
    let outcome = guarded("the host ends", s.host)
        .await
        .expect("joins: no panic");
    assert!(
        outcome.is_err(),
        "a truncated frame is an error: {outcome:?}"
    );
}

#[tokio::test]
async fn another_protocol_version_is_refused_in_the_handshake() {
    let mut s = raw_host(WireConfig::default()).await;
    s.peer
        .send(&Frame::Hello(Hello {
            protocol: PROTOCOL_VERSION + 1,
            services: Vec::new(),
            token: None,
        }))
        .await;
    assert_eq!(
        goaway(s.peer.next().await).code(),
        ErrorCode::VersionMismatch
    );
}

#[tokio::test]
async fn a_request_before_the_hello_is_refused() {
    let mut s = raw_host(WireConfig::default()).await;
    s.peer
        .send(&request(1, "bank", "1.0.0", "deposit", encoded(&(1_u64,))))
        .await;
    assert_eq!(goaway(s.peer.next().await).code(), ErrorCode::Decode);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_connects_and_says_nothing_is_dropped_after_the_handshake_timeout() {
    let mut s = raw_host(WireConfig {
        handshake_timeout: Duration::from_secs(2),
        ..WireConfig::default()
    })
    .await;
    let error = goaway(s.peer.next().await);
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(error.to_string().contains("no hello"), "{error}");
    assert!(s.host.await.expect("joins").is_err());
}

#[tokio::test]
async fn a_caller_refuses_a_service_the_host_does_not_offer_without_sending() {
    let s = setup(WireConfig::default()).await;
    #[derive(Default)]
    struct Stranger;
    #[process]
    impl Stranger {
        #[public]
        fn hi(&self) {}
    }
    let stranger = StrangerProxy::from_client(Client::new(s.caller.clone()));
    match stranger.hi().await {
        Err(Error::ServiceNotFound { service }) => {
            assert!(service.contains("bank@1.2.0"), "{service}")
        }
        other => panic!("expected ServiceNotFound, got {other:?}"),
    }
    assert!(s.caller.is_open());
}

// --- Streams across the wire --------------------------------------------------

#[tokio::test]
async fn a_returned_stream_arrives_item_by_item() {
    let s = setup(WireConfig::default()).await;
    let items: Vec<u64> = s
        .bank
        .count(100)
        .await
        .expect("starts")
        .map(|item| item.expect("an item"))
        .collect()
        .await;
    assert_eq!(items, (1..=100).collect::<Vec<_>>());
    let squares: Vec<u64> = s
        .bank
        .squares(4)
        .await
        .expect("starts")
        .map(|item| item.expect("an item"))
        .collect()
        .await;
    assert_eq!(
        squares,
        [1, 4, 9, 16],
        "an `impl Stream` return streams too"
    );
    assert_eq!(s.bank.deposit(1).await, Ok(1), "the connection goes on");
}

#[tokio::test]
async fn a_stream_argument_is_sent_item_by_item() {
    let s = setup(WireConfig {
        stream_window: 4,
        ..WireConfig::default()
    })
    .await;
    let total = s.bank.sum(Stream::iter(1..=1000)).await.expect("sums");
    assert_eq!(total, 500_500);
    let doubled: Vec<u64> = s
        .bank
        .double(Stream::iter(vec![1, 2, 3]))
        .await
        .expect("starts")
        .map(|item| item.expect("an item"))
        .collect()
        .await;
    assert_eq!(doubled, [2, 4, 6], "both ways at once");
}

#[tokio::test]
async fn a_slow_consumer_holds_the_producer_within_the_window() {
    let window = 8;
    let s = setup(WireConfig {
        stream_window: window,
        ..WireConfig::default()
    })
    .await;
    let mut ticks = s.bank.ticks().await.expect("starts");
    for expected in 1..=5 {
        assert_eq!(ticks.next().await.expect("an item").expect("ok"), expected);
    }
    // The producer stops once it has used its credits: poll the count until it
    // stays put, then check that it stays within the window.
    let stalled = guarded("the producer stalls", async {
        let mut last = s.local.produced().await.expect("count");
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = s.local.produced().await.expect("count");
            if now == last {
                return now;
            }
            last = now;
        }
    })
    .await;
    assert!(
        stalled <= 5 + 2 * u64::from(window),
        "{stalled} items produced for 5 consumed"
    );

    // Dropping the stream stops the producer and ends the call on the host.
    drop(ticks);
    let id = s.local.process_id().expect("id");
    guarded("the call ends", async {
        while s.pm.get(id).map(|i| i.in_flight) != Some(0) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let after = s.local.produced().await.expect("count");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        s.local.produced().await.expect("count"),
        after,
        "no item after the drop"
    );
}

#[tokio::test]
async fn losing_the_host_ends_a_stream_with_an_error() {
    let s = setup(WireConfig::default()).await;
    let mut ticks = s.bank.ticks().await.expect("starts");
    assert!(ticks.next().await.is_some());
    s.host.abort();
    let outcome = guarded("the stream ends", async {
        loop {
            match ticks.next().await {
                Some(Ok(_)) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(
        matches!(outcome, Some(Err(Error::Unavailable { .. }))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_graceful_host_stop_finishes_calls_refuses_new_ones_and_says_why() {
    let pm = ProcessManager::new();
    let local = pm.spawn::<Bank>().await.expect("spawns");
    let services = Arc::new(ServiceSet::new().with::<Bank>(&local));
    let (near, far) = tokio::io::duplex(64 * 1024);
    let stop = tokio_util::sync::CancellationToken::new();
    let host = tokio::spawn(host::serve_until(
        far,
        services,
        WireConfig::default(),
        stop.clone(),
    ));
    let caller = FramedCaller::connect(
        near,
        Peer::Remote {
            address: "memory".into(),
        },
        WireConfig::default(),
        None,
    )
    .await
    .expect("handshake");
    let bank = BankProxy::from_client(Client::new(caller.clone()));

    let waiting = tokio::spawn({
        let bank = bank.clone();
        async move { bank.wait_for("g".into()).await }
    });
    let id = local.process_id().expect("id");
    guarded("the call is in flight", async {
        while pm.get(id).map(|i| i.in_flight) != Some(1) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    stop.cancel();
    match bank.deposit(1).await {
        Err(Error::Unavailable { reason }) => assert!(reason.contains("shutting down"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!host.is_finished(), "the host waits for the call in flight");
    local.open("g".into()).await.expect("opens the gate");
    assert_eq!(
        guarded("the call", waiting).await.expect("joins"),
        Ok("g".into())
    );
    assert_eq!(guarded("the host ends", host).await.expect("joins"), Ok(()));
    match guarded("the caller hears why", caller.closed()).await {
        Error::Unavailable { reason } => assert!(reason.contains("shutting down"), "{reason}"),
        other => panic!("expected the goaway's reason, got {other:?}"),
    }
}
