//! The host loop: serves a set of processes over any byte stream.
//!
//! [`serve`] speaks the [`wire`] protocol on one connection: it
//! answers the handshake with the services it offers, runs the calls of the
//! connection side by side on the connection's own task (no task per call:
//! the call futures are polled alongside the frame reader, and a call that
//! waits never holds up another), writes replies in whatever order calls
//! finish, batching those that finish together into one write, stops a call's
//! work when the caller cancels it or its deadline passes, and answers pings.
//! Every isolation and transport that crosses a byte stream (a child's pipes,
//! a unix socket, TCP) uses it.
//!
//! Since a connection's calls share its task, a method that blocks its thread
//! (a sync method doing CPU work) holds up the other calls of its connection
//! until it returns (never those of other connections, which have tasks of
//! their own). Give such work a thread of its own (`spawn_blocking`, or
//! `Isolation::Worker`) when that matters.
//!
//! Bad input never takes the host down: a frame that does not decode, a length
//! prefix over the limit, or a peer that never says hello gets a
//! [`Frame::Goaway`] with the reason and the connection closes; a call to an
//! unknown service or method, or with arguments of the wrong type, gets an
//! error reply and the connection keeps serving.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::caller::{Client, Payload, Request, Response};
use crate::definition::{MethodId, ServiceDefinition};
use crate::error::Error;
use crate::process::{Process, Proxy};
use crate::streaming::{Outlet, Streams};
use crate::wire::ids::CallSet;
use crate::wire::{
    self, CallFrame, CallId, Frame, Hello, Offered, PROTOCOL_VERSION, RequestFrame, ResponseFrame,
    WireConfig, WireError,
};

/// The processes a host serves, by service name.
///
/// ```
/// use titan_core::prelude::*;
/// use titan_core::host::ServiceSet;
///
/// #[derive(Default)]
/// struct Echo;
///
/// #[process]
/// impl Echo {
///     #[public]
///     fn echo(&self, text: String) -> String { text }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let pm = ProcessManager::new();
/// let echo = pm.spawn::<Echo>().await?;
/// let services = ServiceSet::new().with::<Echo>(&echo);
/// assert_eq!(services.offered()[0].name, "echo");
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ServiceSet {
    /// Sorted by name: a service's position is its index in the hello.
    services: Vec<Served>,
}

#[derive(Clone)]
struct Served {
    definition: &'static ServiceDefinition,
    client: Client,
}

impl ServiceSet {
    /// An empty set.
    pub fn new() -> ServiceSet {
        ServiceSet::default()
    }

    /// Adds process `T`, reached through `proxy`.
    pub fn with<T: Process>(mut self, proxy: &T::Proxy) -> ServiceSet {
        self.insert(T::DEFINITION, proxy.client().clone());
        self
    }

    /// Adds the service `definition`, reached through `client`; replaces one of the same name.
    pub fn insert(&mut self, definition: &'static ServiceDefinition, client: Client) {
        let served = Served { definition, client };
        match self.position(definition.name) {
            Ok(at) => self.services[at] = served,
            Err(at) => self.services.insert(at, served),
        }
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.services
            .binary_search_by(|served| served.definition.name.cmp(name))
    }

    /// Every service in the set, with the client that reaches it.
    pub fn iter(&self) -> impl Iterator<Item = (&'static ServiceDefinition, &Client)> {
        self.services
            .iter()
            .map(|served| (served.definition, &served.client))
    }

    /// What the handshake advertises, sorted by name: a [`CallFrame`] names a
    /// service by its position in this list.
    pub fn offered(&self) -> Vec<Offered> {
        self.services
            .iter()
            .map(|served| Offered {
                name: served.definition.name.to_string(),
                version: served.definition.version.to_string(),
            })
            .collect()
    }

    /// Resolves a request to a client and its static method, or the reason it cannot be served.
    fn route(&self, request: RequestFrame) -> Result<(Client, Request), Error> {
        let served = self
            .position(&request.service)
            .map(|at| &self.services[at])
            .map_err(|_| Error::ServiceNotFound {
                service: request.service.clone(),
            })?;
        let definition = served.definition;
        if !definition.accepts(&request.version) {
            return Err(Error::VersionMismatch {
                service: definition.name.to_string(),
                expected: request.version.clone(),
                found: definition.version.to_string(),
            });
        }
        served.request(request.method, request.timeout_micros, request.payload)
    }

    /// [`route`](Self::route) for the compact form: the service by its index
    /// in the hello, its version checked by the caller against that hello.
    fn route_call(&self, frame: CallFrame) -> Result<(Client, Request), Error> {
        let index = frame.service;
        let served = usize::try_from(index)
            .ok()
            .and_then(|at| self.services.get(at))
            .ok_or_else(|| Error::ServiceNotFound {
                service: format!(
                    "service #{index} (this host offers {} services)",
                    self.services.len()
                ),
            })?;
        served.request(frame.method, frame.timeout_micros, frame.payload)
    }
}

impl Served {
    fn request(
        &self,
        method: u32,
        timeout_micros: Option<u64>,
        payload: Bytes,
    ) -> Result<(Client, Request), Error> {
        let definition = self.definition;
        let method =
            definition
                .method_by_id(MethodId(method))
                .ok_or_else(|| Error::MethodNotFound {
                    service: definition.to_string(),
                    method: MethodId(method).to_string(),
                })?;
        let deadline = timeout_micros
            .map(|micros| tokio::time::Instant::now() + std::time::Duration::from_micros(micros));
        let call = Request {
            service: definition,
            method,
            payload: Payload::Encoded(payload),
            deadline,
            stream: None,
            key: None,
        };
        Ok((self.client.clone(), call))
    }
}

impl std::fmt::Debug for ServiceSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.offered()).finish()
    }
}

/// Serves `services` on one connection until the peer goes away or breaks the
/// protocol. Returns `Ok` when the peer closed the connection cleanly, and the
/// reason otherwise (after telling the peer with a [`Frame::Goaway`]).
pub async fn serve<IO>(io: IO, services: Arc<ServiceSet>, config: WireConfig) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    serve_until(io, services, config, CancellationToken::new()).await
}

/// [`serve`], with a graceful stop: once `shutdown` fires, new requests are
/// answered with [`Error::Unavailable`] while the calls in flight (and the
/// streams they return) finish; then the peer gets a [`Frame::Goaway`] saying
/// the host is shutting down, and the connection closes. Bound the wait
/// yourself (drop the future, or abort its task) if calls may run forever.
pub async fn serve_until<IO>(
    io: IO,
    services: Arc<ServiceSet>,
    config: WireConfig,
    shutdown: CancellationToken,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    serve_counted(io, services, config, shutdown, None).await
}

/// [`serve_until`], counting the connection's calls in `gauge`: a gauge
/// shared by many connections knows how many calls run over all of them, and
/// once it [drains](CallGauge::drain) they all answer new calls with
/// [`Error::Unavailable`]. A call that returns a stream stays counted until
/// the stream ends.
pub async fn serve_counted<IO>(
    io: IO,
    services: Arc<ServiceSet>,
    config: WireConfig,
    shutdown: CancellationToken,
    gauge: Option<Arc<CallGauge>>,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let frames = FramedRead::new(Box::pin(io), wire::length_codec(config.max_frame_size));
    // Frames the streams send (items, ends, credits); the connection's loop
    // moves them to the socket along with the replies.
    let (control, queued) = mpsc::channel::<Bytes>(256);
    let streams = Streams::new(
        config.stream_window,
        config.max_frame_size,
        Outlet::Queue(control),
    );
    // However this function ends (a return, or its future being dropped), the
    // connection's streams end with it; its calls are owned by `host`.
    let _guard = StreamsGuard(streams.clone());
    let mut host = Host {
        frames,
        out: BytesMut::with_capacity(OUT_CAPACITY),
        queued,
        calls: FuturesUnordered::new(),
        in_flight: CallSet::default(),
        streams,
        services: &services,
        config: &config,
        draining: false,
        last_heard: Instant::now(),
        gauge,
        early: EarlyWrites::default(),
    };
    let outcome = match host.handshake().await {
        Ok(true) => host.run(shutdown).await,
        Ok(false) => Ok(()),
        Err(error) => Err(error),
    };
    // The peer is gone, misbehaved or was told goodbye: nobody waits for the
    // calls still running.
    host.calls = FuturesUnordered::new();
    host.in_flight.clear();
    while let Ok(frame) = host.queued.try_recv() {
        put_frame(&mut host.out, &frame);
    }
    if let Err(error) = &outcome {
        tracing::debug!(%error, "closing the connection");
        host.send(&Frame::Goaway(WireError::from(error)));
    }
    // Let the goodbye (and replies already queued) reach the peer, but never hang on it.
    let _ = tokio::time::timeout(config.handshake_timeout, host.finish()).await;
    outcome
}

/// A byte stream of any kind, for hosts that serve several.
pub type BoxedStream = Box<dyn AsyncStream>;

/// Something to read and write: a socket of any kind.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncStream for T {}

/// [`serve`] on a boxed stream, as a `'static` future.
pub(crate) async fn serve_boxed(
    io: BoxedStream,
    services: Arc<ServiceSet>,
    config: WireConfig,
) -> Result<(), Error> {
    serve(io, services, config).await
}

/// Answers the peer's hello with a [`Frame::Goaway`] carrying `error`, then
/// closes: how a host that could not start (its `#[init]` failed) says why.
/// Returns `Err(error)`.
pub async fn refuse<IO>(io: IO, error: Error, config: WireConfig) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut frames = FramedRead::new(Box::pin(io), wire::length_codec(config.max_frame_size));
    // Whatever the peer says first, the answer is the same.
    let _ = tokio::time::timeout(config.handshake_timeout, frames.next()).await;
    let mut out = BytesMut::new();
    if wire::encode_into(
        &Frame::Goaway(WireError::from(&error)),
        config.max_frame_size,
        &mut out,
    )
    .is_ok()
    {
        let io = frames.get_mut();
        if io.write_all(&out).await.is_ok() {
            let _ = io.shutdown().await;
        }
    }
    Err(error)
}

/// Bytes of replies waiting for the socket past which a connection stops
/// taking new frames and finishing calls, until the peer reads.
const HIGH_WATER: usize = 256 * 1024;

/// The write buffer's first size: room for many small replies.
const OUT_CAPACITY: usize = 16 * 1024;

/// How many frames the host handles before it writes what they produced,
/// when more are waiting to be read. A peer on another core starts on those
/// replies while the host serves the rest: across cores that pipelining more
/// than doubles the calls a connection carries at concurrency 64 (the
/// benchmark's split rows). A peer on the same core gains nothing from it, and
/// [`EarlyWrites`] notices and stops it.
const FLUSH_EVERY: usize = 16;

/// A write that took longer than this handed the core to someone else.
const PREEMPTED: std::time::Duration = std::time::Duration::from_micros(20);

/// How many early writes make one verdict.
const EARLY_WINDOW: u32 = 256;

/// How many chances to write early a connection lets pass, once its early
/// writes cost it its core, before it tries again.
const EARLY_PAUSE: u32 = 1024;

/// Decides whether the host writes replies early (every [`FLUSH_EVERY`]
/// frames) or once a batch is served.
///
/// Writing early lets a peer on another core work in parallel. A peer on the
/// same core cannot: the write wakes it, it takes the core at once, and the
/// batch is served in pieces with a context switch each. Such a write takes
/// far longer than a write takes. When more than one in five early writes of
/// a window do (across cores it is a few in a hundred, on one core one in
/// three), the connection stops writing early for a while, then tries again
/// (placements change).
#[derive(Debug, Default)]
struct EarlyWrites {
    /// Chances to let pass before writing early again.
    paused: u32,
    /// Early writes in the current window, and how many of them were slow.
    written: u32,
    slow: u32,
}

impl EarlyWrites {
    fn wanted(&mut self) -> bool {
        if self.paused == 0 {
            return true;
        }
        self.paused -= 1;
        false
    }

    fn wrote(&mut self, took: std::time::Duration) {
        self.written += 1;
        self.slow += u32::from(took > PREEMPTED);
        if self.written == EARLY_WINDOW {
            if self.slow * 5 > self.written {
                self.paused = EARLY_PAUSE;
            }
            self.written = 0;
            self.slow = 0;
        }
    }
}

/// How many times one wake-up goes round the loop before it lets other tasks run.
const ROUNDS: usize = 16;

/// Ends a connection's streams when the connection's future ends, however it ends.
struct StreamsGuard(Arc<Streams>);

impl Drop for StreamsGuard {
    fn drop(&mut self) {
        self.0.fail_all(&Error::Unavailable {
            reason: "the caller's connection closed".into(),
        });
    }
}

/// One connection of a host: its socket, its calls, the replies on their way.
///
/// Everything happens on the connection's own task: the loop reads frames,
/// starts calls (their futures run here too, polled alongside the reader, so
/// no call needs a task of its own), and appends replies to one buffer that
/// goes to the socket in one write when nothing else is ready.
struct Host<'a, IO> {
    frames: FramedRead<Pin<Box<IO>>, LengthDelimitedCodec>,
    /// Frames on their way to the socket, length prefixes included.
    out: BytesMut,
    /// Frames the streams queued.
    queued: mpsc::Receiver<Bytes>,
    calls: FuturesUnordered<CallTask>,
    /// Calls in flight, a returned stream's included, by id.
    in_flight: CallSet,
    streams: Arc<Streams>,
    services: &'a ServiceSet,
    config: &'a WireConfig,
    draining: bool,
    /// When the last frame came in (or, while the peer does not read, when
    /// it last took bytes).
    last_heard: Instant,
    /// Where the connection's calls are counted, if anywhere.
    gauge: Option<Arc<CallGauge>>,
    /// Whether replies go out every [`FLUSH_EVERY`] frames.
    early: EarlyWrites,
}

/// Counts the calls in flight over any number of connections
/// ([`serve_counted`]), and refuses new ones once it drains: how a server
/// shuts down gracefully.
#[derive(Debug, Default)]
pub struct CallGauge {
    in_flight: AtomicUsize,
    draining: AtomicBool,
    idle: Notify,
}

impl CallGauge {
    /// A gauge with no calls counted.
    pub fn new() -> CallGauge {
        CallGauge::default()
    }

    /// How many calls run now (a returned stream's included, until it ends).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Refuses new calls from now on and resolves once none are in flight.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Counts a call in, or refuses it when draining.
    fn enter(self: &Arc<Self>) -> Result<Counted, Error> {
        // Count first, then look: `drain` sets the flag, then looks at the
        // count, so a call is either refused or waited for, never missed.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let counted = Counted(self.clone());
        if self.draining.load(Ordering::SeqCst) {
            return Err(Error::Unavailable {
                reason: "the server is shutting down".into(),
            });
        }
        Ok(counted)
    }
}

/// One call counted in a gauge; counted out when dropped (it finished, was
/// cancelled, or its connection went away).
struct Counted(Arc<CallGauge>);

impl Drop for Counted {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A call's work: its reply, then the stream it returned, if any.
enum Work {
    Reply(BoxFuture<'static, Result<Response, Error>>),
    Pump(BoxFuture<'static, ()>),
}

enum Done {
    /// The work was dropped: the caller cancelled.
    Cancelled,
    Replied(Result<Response, Error>),
    Pumped,
}

/// One call's future in the connection's set; cancelled by id from outside.
struct CallTask {
    call: CallId,
    work: Option<Work>,
    /// The credits of the stream the method returns, for methods that return one.
    credits: Option<Arc<Semaphore>>,
    /// Wakes this task once its work is dropped, so that the set lets go of it.
    waker: Option<Waker>,
    /// Whether the call has streams (to forget when it ends).
    streaming: bool,
    /// The call's place in the connection's gauge, if it has one.
    counted: Option<Counted>,
}

/// What a finished [`CallTask`] hands back to its connection.
struct Finished {
    call: CallId,
    done: Done,
    credits: Option<Arc<Semaphore>>,
    streaming: bool,
    counted: Option<Counted>,
}

impl CallTask {
    fn cancel(&mut self) {
        self.work = None;
        self.credits = None;
        self.counted = None;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl Future for CallTask {
    type Output = Finished;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let done = match &mut this.work {
            None => Done::Cancelled,
            Some(Work::Reply(reply)) => match reply.as_mut().poll(cx) {
                Poll::Ready(result) => Done::Replied(result),
                Poll::Pending => return this.pending(cx),
            },
            Some(Work::Pump(pump)) => match pump.as_mut().poll(cx) {
                Poll::Ready(()) => Done::Pumped,
                Poll::Pending => return this.pending(cx),
            },
        };
        this.work = None;
        Poll::Ready(Finished {
            call: this.call,
            done,
            credits: this.credits.take(),
            streaming: this.streaming,
            counted: this.counted.take(),
        })
    }
}

impl CallTask {
    fn pending<T>(&mut self, cx: &Context<'_>) -> Poll<T> {
        if !matches!(&self.waker, Some(waker) if waker.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<IO: AsyncRead + AsyncWrite> Host<'_, IO> {
    /// Waits for the peer's hello and answers it. `Ok(false)`: the peer left first.
    async fn handshake(&mut self) -> Result<bool, Error> {
        let config = self.config;
        let first = tokio::time::timeout(config.handshake_timeout, self.frames.next())
            .await
            .map_err(|_| Error::Unavailable {
                reason: format!(
                    "the peer sent no hello within {:?}",
                    config.handshake_timeout
                ),
            })?;
        let bytes = match first {
            None => return Ok(false),
            Some(read) => read.map_err(|e| read_error(e, config))?,
        };
        match wire::decode(&bytes)? {
            Frame::Hello(hello) if hello.protocol == PROTOCOL_VERSION => {
                self.send(&Frame::Hello(Hello {
                    protocol: PROTOCOL_VERSION,
                    services: self.services.offered(),
                    token: None,
                }));
                self.last_heard = Instant::now();
                Ok(true)
            }
            Frame::Hello(hello) => Err(Error::VersionMismatch {
                service: "the titan wire protocol".into(),
                expected: hello.protocol.to_string(),
                found: PROTOCOL_VERSION.to_string(),
            }),
            other => Err(Error::Decode {
                what: "the handshake".into(),
                reason: format!("expected a hello frame first, got {}", frame_name(&other)),
            }),
        }
    }

    /// Serves calls until the peer leaves or breaks the protocol, or a
    /// graceful stop has let every call finish.
    async fn run(&mut self, shutdown: CancellationToken) -> Result<(), Error> {
        let mut shutdown = std::pin::pin!(shutdown.cancelled_owned());
        let mut silence = std::pin::pin!(tokio::time::sleep_until(
            self.last_heard + self.config.heartbeat_timeout
        ));
        std::future::poll_fn(|cx| self.poll_serve(cx, shutdown.as_mut(), silence.as_mut())).await
    }

    fn poll_serve(
        &mut self,
        cx: &mut Context<'_>,
        mut shutdown: Pin<&mut WaitForCancellationFutureOwned>,
        mut silence: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Result<(), Error>> {
        if !self.draining && shutdown.as_mut().poll(cx).is_ready() {
            self.draining = true;
        }
        let mut rounds = 0;
        loop {
            let mut busy = false;
            // New frames, unless the peer is not reading what it asked for.
            let mut heard = false;
            // Frames handled since the last write.
            let mut unwritten = 0;
            while self.out.len() < HIGH_WATER {
                match Pin::new(&mut self.frames).poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Ready(Some(Err(error))) => {
                        return Poll::Ready(Err(read_error(error, self.config)));
                    }
                    Poll::Ready(Some(Ok(bytes))) => {
                        heard = true;
                        if let Some(end) = self.on_frame(cx, &bytes.freeze()) {
                            return Poll::Ready(end);
                        }
                        unwritten += 1;
                        if unwritten == FLUSH_EVERY {
                            unwritten = 0;
                            if self.early.wanted() {
                                let began = std::time::Instant::now();
                                match self.poll_write(cx) {
                                    Ok(wrote) => busy |= wrote,
                                    Err(error) => return Poll::Ready(Err(error)),
                                }
                                self.early.wrote(began.elapsed());
                            }
                        }
                    }
                }
            }
            if heard {
                self.last_heard = Instant::now();
                busy = true;
            }
            // Calls that finished (every call started above has been polled once here).
            while self.out.len() < HIGH_WATER {
                match self.calls.poll_next_unpin(cx) {
                    Poll::Ready(Some(done)) => {
                        self.on_done(done);
                        busy = true;
                    }
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }
            while let Poll::Ready(Some(frame)) = self.queued.poll_recv(cx) {
                put_frame(&mut self.out, &frame);
                busy = true;
            }
            if self.draining && self.in_flight.is_empty() {
                self.send(&Frame::Goaway(WireError::from(Error::Unavailable {
                    reason: "the host is shutting down".into(),
                })));
                return Poll::Ready(Ok(()));
            }
            match self.poll_write(cx) {
                Ok(wrote) => busy |= wrote,
                Err(error) => return Poll::Ready(Err(error)),
            }
            rounds += 1;
            if !busy {
                break;
            }
            if rounds == ROUNDS {
                // More is ready: let other tasks run first, then go on.
                cx.waker().wake_by_ref();
                break;
            }
        }
        // Silence: checked lazily, the timer moved only when it fires.
        while silence.as_mut().poll(cx).is_ready() {
            let due = self.last_heard + self.config.heartbeat_timeout;
            if due <= Instant::now() {
                return Poll::Ready(Err(Error::Timeout));
            }
            silence.as_mut().reset(due);
        }
        Poll::Pending
    }

    /// Writes what the buffer holds, as far as the socket takes it.
    /// `Ok(true)` if anything was written.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let backed_up = self.out.len() >= HIGH_WATER;
        let mut wrote = false;
        while !self.out.is_empty() {
            let io = self.frames.get_mut().as_mut();
            match io.poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Err(write_error(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.out.advance(n);
                    wrote = true;
                }
                Poll::Ready(Err(error)) => return Err(write_error(error)),
                Poll::Pending => break,
            }
        }
        if wrote {
            if self.out.is_empty() {
                self.out.clear();
                if let Poll::Ready(Err(error)) = self.frames.get_mut().as_mut().poll_flush(cx) {
                    return Err(write_error(error));
                }
            }
            if backed_up {
                // The peer reads: it is alive, though it is not heard while it is behind.
                self.last_heard = Instant::now();
            }
        }
        Ok(wrote)
    }

    /// Writes what is left and closes the sending direction.
    async fn finish(&mut self) -> std::io::Result<()> {
        let io = self.frames.get_mut();
        io.write_all(&self.out).await?;
        self.out.clear();
        io.shutdown().await
    }

    /// Handles one frame; `Some` ends the connection with that outcome.
    fn on_frame(&mut self, cx: &mut Context<'_>, bytes: &Bytes) -> Option<Result<(), Error>> {
        // Payloads are slices of the frame, not copies.
        let frame = match wire::decode_shared(bytes) {
            Ok(frame) => frame,
            Err(error) => return Some(Err(error)),
        };
        match frame {
            Frame::Request(request) if self.draining => self.refuse(request.call),
            Frame::Call(frame) if self.draining => self.refuse(frame.call),
            Frame::Request(request) => {
                let call = request.call;
                let routed = self.services.route(request);
                self.start(cx, call, routed);
            }
            Frame::Call(frame) => {
                let call = frame.call;
                let routed = self.services.route_call(frame);
                self.start(cx, call, routed);
            }
            Frame::Cancel(call) => {
                if self.in_flight.remove(&call) {
                    for task in self.calls.iter_mut() {
                        if task.call == call && task.work.is_some() {
                            task.cancel();
                        }
                    }
                }
                self.streams.forget(call);
            }
            Frame::StreamItem { call, payload } => {
                if let Err(error) = self.streams.deliver(call, payload) {
                    return Some(Err(error));
                }
            }
            Frame::StreamEnd { call, result } => self.streams.finish(call, result),
            Frame::StreamCredit { call, n } => self.streams.grant(call, n),
            Frame::Ping(n) => self.send(&Frame::Pong(n)),
            Frame::Pong(_) => {}
            Frame::Goaway(_) => return Some(Ok(())),
            other @ (Frame::Hello(_) | Frame::Response(_)) => {
                return Some(Err(Error::Decode {
                    what: "a frame".into(),
                    reason: format!("a host does not expect {} here", frame_name(&other)),
                }));
            }
        }
        None
    }

    /// Answers a request that comes during a graceful stop.
    fn refuse(&mut self, call: CallId) {
        self.reply(
            call,
            Err(Error::Unavailable {
                reason: "the host is shutting down".into(),
            }),
        );
    }

    /// Starts one call on this connection, or answers at once why it cannot run.
    ///
    /// The call is polled once here: one that finishes at once (most do) is
    /// answered without ever entering the set of calls in flight, which saves
    /// the set's bookkeeping for it. One that waits joins the set, which polls
    /// it again with a waker of its own.
    fn start(
        &mut self,
        cx: &mut Context<'_>,
        call: CallId,
        routed: Result<(Client, Request), Error>,
    ) {
        let checked = routed.and_then(|routed| {
            if self.in_flight.contains(&call) {
                return Err(Error::Unavailable {
                    reason: format!("call id {call} is already in flight on this connection"),
                });
            }
            if self.in_flight.len() >= self.config.max_concurrent_calls {
                return Err(Error::Unavailable {
                    reason: format!(
                        "this connection already has {} calls in flight, the most it takes",
                        self.config.max_concurrent_calls
                    ),
                });
            }
            Ok(routed)
        });
        let counted = checked.and_then(|routed| match &self.gauge {
            Some(gauge) => gauge.enter().map(|counted| (routed, Some(counted))),
            None => Ok((routed, None)),
        });
        let ((client, mut request), counted) = match counted {
            Ok(counted) => counted,
            Err(error) => {
                self.reply(call, Err(error));
                return;
            }
        };
        // Registered before the next frame is read, so no item or credit of
        // this call can arrive before its place does.
        if request.method.client_streaming {
            request.stream = Some(self.streams.open_inbox(call, false));
        }
        let credits = request
            .method
            .server_streaming
            .then(|| self.streams.open_credits(call));
        let streaming = request.method.client_streaming || request.method.server_streaming;
        self.in_flight.insert(call);
        let mut task = CallTask {
            call,
            work: Some(Work::Reply(client.call(request))),
            credits,
            waker: None,
            streaming,
            counted,
        };
        match Pin::new(&mut task).poll(cx) {
            Poll::Ready(finished) => self.on_done(finished),
            Poll::Pending => self.calls.push(task),
        }
    }

    /// A call's work is done: its reply goes out, then its stream, if any.
    fn on_done(&mut self, finished: Finished) {
        let Finished {
            call,
            done,
            credits,
            streaming,
            counted,
        } = finished;
        match done {
            // Forgotten when the cancel came.
            Done::Cancelled => return,
            Done::Pumped => {}
            Done::Replied(result) => {
                let (result, items) = match result {
                    Ok(response) => (Ok(response.payload), response.stream),
                    Err(error) => (Err(error), None),
                };
                let replied = self.reply(call, result);
                // A returned stream follows its reply, item by item, as credits
                // allow; the call stays in flight (and cancellable) until it ends.
                if let (Some(items), Some(credits), true) = (items, credits, replied) {
                    let streams = self.streams.clone();
                    let pump = async move { streams.pump(call, items, credits).await };
                    self.calls.push(CallTask {
                        call,
                        work: Some(Work::Pump(Box::pin(pump))),
                        credits: None,
                        waker: None,
                        streaming,
                        counted,
                    });
                    return;
                }
            }
        }
        self.in_flight.remove(&call);
        if streaming {
            self.streams.forget(call);
        }
    }

    /// Queues call `call`'s reply (a moved value is encoded straight into the
    /// write buffer). `true` if it went out as it was (not an error, and small
    /// enough for a frame).
    fn reply(&mut self, call: CallId, result: Result<Payload, Error>) -> bool {
        let max = self.config.max_frame_size;
        let error = match result {
            Ok(payload) => match wire::encode_reply_into(call, &payload, max, &mut self.out) {
                Ok(()) => return true,
                // The reply does not encode, or does not fit in a frame: say so instead.
                Err(error) => error,
            },
            Err(error) => error,
        };
        let frame = Frame::Response(ResponseFrame {
            call,
            result: Err(WireError::from(error)),
        });
        if let Err(error) = wire::encode_into(&frame, max, &mut self.out) {
            // Not even the reason fits in a frame: say that instead.
            self.send(&Frame::Response(ResponseFrame {
                call,
                result: Err(WireError::from(error)),
            }));
        }
        false
    }

    /// Queues a frame; one that cannot be encoded is dropped with a log line
    /// (only control frames go through here, and they are tiny).
    fn send(&mut self, frame: &Frame) {
        if let Err(error) = wire::encode_into(frame, self.config.max_frame_size, &mut self.out) {
            tracing::warn!(%error, "dropping a frame that does not encode");
        }
    }
}

/// Appends an encoded frame body with its length prefix.
fn put_frame(out: &mut BytesMut, body: &[u8]) {
    // Bodies were checked against the maximum frame size when encoded.
    out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(body);
}

fn write_error(error: std::io::Error) -> Error {
    Error::Unavailable {
        reason: format!("the connection failed: {error}"),
    }
}

/// What a read failure means for the peer.
pub(crate) fn read_error(error: std::io::Error, config: &WireConfig) -> Error {
    if error.kind() == std::io::ErrorKind::InvalidData {
        // The only data error of the length codec: a prefix over the limit.
        Error::Decode {
            what: "a frame".into(),
            reason: format!(
                "its length prefix exceeds the maximum frame size of {} bytes",
                config.max_frame_size
            ),
        }
    } else {
        Error::Unavailable {
            reason: format!("the connection failed: {error}"),
        }
    }
}

pub(crate) fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello(_) => "a hello",
        Frame::Request(_) => "a request",
        Frame::Response(_) => "a response",
        Frame::Cancel(_) => "a cancel",
        Frame::Ping(_) => "a ping",
        Frame::Pong(_) => "a pong",
        Frame::Goaway(_) => "a goaway",
        Frame::StreamItem { .. } => "a stream item",
        Frame::StreamEnd { .. } => "a stream end",
        Frame::StreamCredit { .. } => "a stream credit",
        Frame::Call(_) => "a request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn window(early: &mut EarlyWrites, slow_every: u32) {
        for i in 0..EARLY_WINDOW {
            assert!(early.wanted(), "writes early through the window");
            let slow = slow_every > 0 && i % slow_every == 0;
            early.wrote(if slow {
                Duration::from_micros(30)
            } else {
                Duration::from_micros(3)
            });
        }
    }

    #[test]
    fn early_writes_go_on_while_few_of_them_lose_the_core() {
        let mut early = EarlyWrites::default();
        // One in sixteen slow: a peer on another core, now and then descheduled.
        window(&mut early, 16);
        window(&mut early, 16);
        assert!(early.wanted());
    }

    #[test]
    fn early_writes_pause_when_they_keep_losing_the_core_and_try_again_later() {
        let mut early = EarlyWrites::default();
        // One in three slow: the peer shares the core.
        window(&mut early, 3);
        for _ in 0..EARLY_PAUSE {
            assert!(!early.wanted(), "paused");
        }
        assert!(early.wanted(), "tries again after the pause");
    }
}
