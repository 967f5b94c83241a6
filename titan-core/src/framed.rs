//! The framed caller: calls processes served by a [`host`](crate::host) on the
//! other end of any byte stream.
//!
//! One connection carries many calls at once. A call encodes its request
//! straight into the connection's write buffer and registers a slot under a
//! fresh call id; the connection's one task writes whatever the buffer holds
//! in one system call (the requests of concurrent calls go out together),
//! reads replies and puts each in its slot, and pings the peer. Dropping a
//! call's future sends a cancel, a deadline travels with the request, and a
//! peer that goes silent is noticed. When the connection ends, every call in
//! flight fails at once with the error that describes the loss (a crashed
//! child process, or an unreachable peer): no caller hangs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, Payload, Request, Response};
use crate::definition::ServiceDefinition;
use crate::error::Error;
use crate::host::{frame_name, read_error};
use crate::streaming::{Outbox, Outlet, Streams};
use crate::wire::ids::CallMap;
use crate::wire::{self, CallHead, CallId, Frame, Hello, Offered, PROTOCOL_VERSION, WireConfig};

/// Who is on the other end, to describe its loss.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A process of ours (a child OS process): losing it is a crash.
    Process {
        /// The process label, `name#id`.
        label: String,
    },
    /// A server across a socket: losing it makes it unavailable.
    Remote {
        /// Where it is, for messages.
        address: String,
    },
}

impl Peer {
    fn lost(&self, why: &str) -> Error {
        match self {
            Peer::Process { label } => Error::ProcessCrashed {
                process: label.clone(),
                reason: format!("its connection ended: {why}"),
            },
            Peer::Remote { address } => Error::Unavailable {
                reason: format!("the connection to {address} was lost: {why}"),
            },
        }
    }
}

/// A call waiting for its reply.
struct Slot {
    reply: Option<Result<Bytes, Error>>,
    waker: Option<Waker>,
}

struct State {
    /// Frames on their way to the socket, length prefixes included.
    out: BytesMut,
    /// The connection task's waker, left here while it has nothing to write.
    writer: Option<Waker>,
    pending: CallMap<Slot>,
    /// Services checked against the hello, by the address of their definition:
    /// the index each one has there.
    checked: Vec<(usize, u32)>,
    /// Set once the connection is gone; every later call fails with it.
    closed: Option<Error>,
}

impl State {
    /// Queues a frame and wakes the connection task if it sleeps.
    fn send(&mut self, frame: &Frame, max: usize) -> Result<Option<Waker>, Error> {
        wire::encode_into(frame, max, &mut self.out)?;
        Ok(self.writer.take())
    }

    /// Queues a call, its payload encoded in place, and wakes the connection task if it sleeps.
    fn send_call(&mut self, request: &Outgoing, max: usize) -> Result<Option<Waker>, Error> {
        wire::encode_call_into(&request.head, &request.payload, max, &mut self.out)?;
        Ok(self.writer.take())
    }
}

/// A call on its way out: its frame's fields, and its arguments as they came.
struct Outgoing {
    head: CallHead,
    payload: Payload,
}

/// The most service definitions a connection remembers having checked.
const CHECKED: usize = 16;

struct Connection {
    state: Mutex<State>,
    /// Signalled when a full write buffer has gone to the socket, for streams.
    room: Notify,
    open: AtomicBool,
    next_call: AtomicU64,
    offered: Vec<Offered>,
    config: WireConfig,
    peer: Peer,
    /// Stops the connection's task.
    stop: CancellationToken,
    streams: Arc<Streams>,
}

impl Connection {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks the connection gone and fails every call in flight with `error`.
    fn close(&self, error: Error) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(error.clone());
            self.open.store(false, Ordering::Release);
            tracing::debug!(peer = ?self.peer, %error, calls = state.pending.len(), "connection closed");
            state
                .pending
                .values_mut()
                // A reply that came before the end stands.
                .filter(|slot| slot.reply.is_none())
                .filter_map(|slot| {
                    slot.reply = Some(Err(error.clone()));
                    slot.waker.take()
                })
                .collect()
        };
        self.streams.fail_all(&error);
        for waker in wakers {
            waker.wake();
        }
        self.stop.cancel();
    }

    fn closed_error(&self) -> Error {
        self.lock()
            .closed
            .clone()
            .unwrap_or_else(|| self.peer.lost("the connection closed"))
    }

    /// Queues a frame from outside a call (a cancel), dropping it if the
    /// connection is gone.
    fn send(&self, frame: &Frame) {
        let waker = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.send(frame, self.config.max_frame_size)
        };
        if let Ok(Some(waker)) = waker {
            waker.wake();
        }
    }

    /// The index of `wanted` in the peer's hello, or why it cannot be called there.
    fn service_index(&self, wanted: &'static ServiceDefinition) -> Result<u32, Error> {
        let at = self
            .offered
            .iter()
            .position(|offered| offered.name == wanted.name)
            .ok_or_else(|| Error::ServiceNotFound {
                service: format!("{wanted} (the peer offers {})", names(&self.offered)),
            })?;
        let offered = &self.offered[at];
        if !crate::definition::compatible(&offered.version, wanted.version) {
            return Err(Error::VersionMismatch {
                service: wanted.name.to_string(),
                expected: wanted.version.to_string(),
                found: offered.version.clone(),
            });
        }
        u32::try_from(at).map_err(|_| Error::Internal("a hello with 4 billion services".into()))
    }
}

/// The write buffer past which a stream's items wait for the socket.
const HIGH_WATER: usize = 256 * 1024;

impl Outbox for Connection {
    fn push(&self, body: &[u8]) -> bool {
        let writer = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return false;
            }
            put_frame(&mut state.out, body);
            state.writer.take()
        };
        if let Some(writer) = writer {
            writer.wake();
        }
        true
    }

    fn is_full(&self) -> bool {
        let state = self.lock();
        state.closed.is_none() && state.out.len() >= HIGH_WATER
    }

    fn room(&self) -> &Notify {
        &self.room
    }
}

fn names(offered: &[Offered]) -> String {
    if offered.is_empty() {
        return "nothing".into();
    }
    offered
        .iter()
        .map(|o| format!("{}@{}", o.name, o.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Closes the connection when the last [`FramedCaller`] clone goes.
struct Owner(Arc<Connection>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0
            .close(self.0.peer.lost("every caller let go of the connection"));
    }
}

/// A [`Caller`] over one framed connection. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct FramedCaller {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for FramedCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramedCaller")
            .field("peer", &self.owner.0.peer)
            .field("offered", &self.owner.0.offered)
            .finish_non_exhaustive()
    }
}

impl FramedCaller {
    /// Performs the handshake on `io` and starts the connection's task.
    ///
    /// `token` is sent in the hello for hosts that ask for credentials.
    pub async fn connect<IO>(
        io: IO,
        peer: Peer,
        config: WireConfig,
        token: Option<String>,
    ) -> Result<FramedCaller, Error>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let mut frames = FramedRead::new(Box::pin(io), wire::length_codec(config.max_frame_size));
        let mut hello = BytesMut::new();
        wire::encode_into(
            &Frame::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                services: Vec::new(),
                token,
            }),
            config.max_frame_size,
            &mut hello,
        )?;
        let handshake = async {
            let io = frames.get_mut();
            io.write_all(&hello)
                .await
                .and(io.flush().await)
                .map_err(|_| peer.lost("the connection closed during the handshake"))?;
            let reply = match frames.next().await {
                None => {
                    return Err(peer.lost("the peer closed the connection during the handshake"));
                }
                Some(read) => read.map_err(|e| read_error(e, &config))?,
            };
            match wire::decode(&reply)? {
                Frame::Hello(hello) if hello.protocol == PROTOCOL_VERSION => Ok(hello.services),
                Frame::Hello(hello) => Err(Error::VersionMismatch {
                    service: "the titan wire protocol".into(),
                    expected: PROTOCOL_VERSION.to_string(),
                    found: hello.protocol.to_string(),
                }),
                Frame::Goaway(reason) => Err(Error::from(reason)),
                other => Err(Error::Decode {
                    what: "the handshake".into(),
                    reason: format!("expected a hello frame, got {}", frame_name(&other)),
                }),
            }
        };
        let offered = match tokio::time::timeout(config.handshake_timeout, handshake).await {
            Ok(Ok(offered)) => offered,
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(peer.lost(&format!(
                    "no handshake within {:?}",
                    config.handshake_timeout
                )));
            }
        };

        let connection = Arc::new_cyclic(|me: &std::sync::Weak<Connection>| {
            let outbox: std::sync::Weak<dyn Outbox> = me.clone();
            Connection {
                streams: Streams::new(
                    config.stream_window,
                    config.max_frame_size,
                    Outlet::Buffer(outbox),
                ),
                state: Mutex::new(State {
                    out: BytesMut::with_capacity(OUT_CAPACITY),
                    writer: None,
                    pending: CallMap::default(),
                    checked: Vec::new(),
                    closed: None,
                }),
                room: Notify::new(),
                open: AtomicBool::new(true),
                next_call: AtomicU64::new(1),
                offered,
                config,
                peer,
                stop: CancellationToken::new(),
            }
        });
        tokio::spawn(run(frames, connection.clone()));
        Ok(FramedCaller {
            owner: Arc::new(Owner(connection)),
        })
    }

    /// The services the peer offered in its handshake.
    pub fn offered(&self) -> &[Offered] {
        &self.owner.0.offered
    }

    /// Whether the connection is still up.
    pub fn is_open(&self) -> bool {
        self.owner.0.open.load(Ordering::Acquire)
    }

    /// Hangs up: calls in flight and later calls fail with
    /// [`Error::ProcessStopped`] or [`Error::Unavailable`] (after the peer).
    pub fn close(&self) {
        let connection = &self.owner.0;
        let error = match &connection.peer {
            Peer::Process { label } => Error::ProcessStopped {
                process: label.clone(),
                reason: "shut down".into(),
            },
            Peer::Remote { address } => Error::Unavailable {
                reason: format!("the connection to {address} was closed"),
            },
        };
        connection.close(error);
    }

    /// Hangs up, failing calls in flight and later calls with `error`.
    pub fn close_with(&self, error: Error) {
        self.owner.0.close(error);
    }

    /// Resolves when the connection has ended, with the reason.
    pub async fn closed(&self) -> Error {
        self.owner.0.stop.cancelled().await;
        self.owner.0.closed_error()
    }
}

/// The write buffer's first size: room for many small requests.
const OUT_CAPACITY: usize = 16 * 1024;

/// How many times one wake-up goes round the loop before it lets other tasks run.
const ROUNDS: usize = 16;

/// How long, once the connection is stopped, what is queued (a cancel, say)
/// may take to go out: a peer that does not read gets a second, not forever.
const LAST_WORDS: std::time::Duration = std::time::Duration::from_secs(1);

type Frames<IO> = FramedRead<Pin<Box<IO>>, LengthDelimitedCodec>;

/// The connection's task: writes what calls queue, reads replies, pings the
/// peer; ends the connection when the stream does.
async fn run<IO>(mut frames: Frames<IO>, connection: Arc<Connection>)
where
    IO: AsyncRead + AsyncWrite,
{
    let config = &connection.config;
    let mut driver = Driver {
        connection: &connection,
        written: BytesMut::with_capacity(OUT_CAPACITY),
        last_heard: Instant::now(),
        pings: 0,
    };
    let stop = connection.stop.clone();
    let mut stopped = std::pin::pin!(stop.cancelled_owned());
    let mut silence = std::pin::pin!(tokio::time::sleep_until(
        driver.last_heard + config.heartbeat_timeout
    ));
    let mut ping = std::pin::pin!(tokio::time::sleep_until(
        driver.last_heard + config.heartbeat_interval
    ));
    let ended = std::future::poll_fn(|cx| {
        if stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        driver
            .poll_run(cx, &mut frames, silence.as_mut(), ping.as_mut())
            .map(Some)
    })
    .await;
    if let Some(why) = ended {
        connection.close(why);
    }
    // What is queued still goes out, for a moment.
    let _ = tokio::time::timeout(LAST_WORDS, async {
        let rest = std::mem::take(&mut connection.lock().out);
        driver.written.extend_from_slice(&rest);
        let io = frames.get_mut();
        if io.write_all(&driver.written).await.is_ok() {
            let _ = io.shutdown().await;
        }
    })
    .await;
}

/// What the connection's task keeps between wake-ups.
struct Driver<'a> {
    connection: &'a Connection,
    /// Bytes taken from the state's buffer, on their way to the socket.
    written: BytesMut,
    last_heard: Instant,
    pings: u64,
}

impl Driver<'_> {
    /// Runs until the connection ends; returns why.
    fn poll_run<IO: AsyncRead + AsyncWrite>(
        &mut self,
        cx: &mut Context<'_>,
        frames: &mut Frames<IO>,
        mut silence: Pin<&mut tokio::time::Sleep>,
        mut ping: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Error> {
        let connection = self.connection;
        let config = &connection.config;
        let mut rounds = 0;
        loop {
            let mut busy = false;
            let mut heard = false;
            loop {
                match Pin::new(&mut *frames).poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => {
                        return Poll::Ready(connection.peer.lost("the peer closed the connection"));
                    }
                    Poll::Ready(Some(Err(error))) => return Poll::Ready(read_error(error, config)),
                    Poll::Ready(Some(Ok(bytes))) => {
                        heard = true;
                        if let Err(why) = self.on_frame(&bytes.freeze()) {
                            return Poll::Ready(why);
                        }
                    }
                }
            }
            if heard {
                self.last_heard = Instant::now();
                busy = true;
            }
            // Take what the calls queued, or leave the waker for them.
            {
                let mut state = connection.lock();
                if state.out.len() >= HIGH_WATER {
                    connection.room.notify_waiters();
                }
                if state.out.is_empty() {
                    if self.written.is_empty() {
                        state.writer = Some(cx.waker().clone());
                    }
                } else if self.written.is_empty() {
                    std::mem::swap(&mut state.out, &mut self.written);
                } else {
                    self.written.extend_from_slice(&state.out);
                    state.out.clear();
                }
            }
            while !self.written.is_empty() {
                match frames.get_mut().as_mut().poll_write(cx, &self.written) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(
                            connection.peer.lost("the connection accepts no more bytes"),
                        );
                    }
                    Poll::Ready(Ok(n)) => {
                        self.written.advance(n);
                        busy = true;
                    }
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(
                            connection.peer.lost(&format!("writing failed: {error}")),
                        );
                    }
                    Poll::Pending => break,
                }
            }
            if self.written.is_empty() {
                self.written.clear();
            }
            rounds += 1;
            if !busy {
                break;
            }
            if rounds == ROUNDS {
                cx.waker().wake_by_ref();
                break;
            }
        }
        while silence.as_mut().poll(cx).is_ready() {
            let due = self.last_heard + config.heartbeat_timeout;
            if due <= Instant::now() {
                return Poll::Ready(connection.peer.lost(&format!(
                    "no sign of life for {:?}",
                    config.heartbeat_timeout
                )));
            }
            silence.as_mut().reset(due);
        }
        while ping.as_mut().poll(cx).is_ready() {
            self.pings += 1;
            connection.send(&Frame::Ping(self.pings));
            let next = ping.deadline() + config.heartbeat_interval;
            ping.as_mut().reset(next.max(Instant::now()));
        }
        Poll::Pending
    }

    /// Handles one frame from the host; `Err` ends the connection with that reason.
    fn on_frame(&mut self, bytes: &Bytes) -> Result<(), Error> {
        let connection = self.connection;
        // Payloads are slices of the frame, not copies.
        match wire::decode_shared(bytes)? {
            Frame::Response(response) => {
                let waker = {
                    let mut state = connection.lock();
                    // No slot: the call was cancelled or timed out; its reply is moot.
                    state.pending.get_mut(&response.call).and_then(|slot| {
                        slot.reply = Some(response.result.map_err(Error::from));
                        slot.waker.take()
                    })
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Frame::Ping(n) => connection.send(&Frame::Pong(n)),
            Frame::Pong(_) => {}
            Frame::Goaway(reason) => return Err(Error::from(reason)),
            Frame::StreamItem { call, payload } => connection.streams.deliver(call, payload)?,
            Frame::StreamEnd { call, result } => connection.streams.finish(call, result),
            Frame::StreamCredit { call, n } => connection.streams.grant(call, n),
            other => {
                return Err(Error::Decode {
                    what: "a frame".into(),
                    reason: format!("a caller does not expect {} here", frame_name(&other)),
                });
            }
        }
        Ok(())
    }
}

/// Appends an encoded frame body with its length prefix.
fn put_frame(out: &mut BytesMut, body: &[u8]) {
    // Bodies were checked against the maximum frame size when encoded.
    out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(body);
}

/// Removes a call's slot and tells the host to stop, unless the reply came.
struct Outstanding<'a> {
    connection: &'a Connection,
    call: CallId,
    answered: bool,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.connection.streams.forget(self.call);
        let was_pending = {
            let mut state = self.connection.lock();
            matches!(state.pending.remove(&self.call), Some(slot) if slot.reply.is_none())
                && state.closed.is_none()
        };
        if was_pending {
            self.connection.send(&Frame::Cancel(self.call));
        }
    }
}

/// Sends a call's request, then waits for its reply.
///
/// Held by a reference for a streaming call (whose [`Outstanding`] cleans
/// up), or by an `Arc` for a unary one, which cancels the call itself when
/// dropped before its reply.
struct Exchange<C: std::ops::Deref<Target = Connection>> {
    connection: C,
    call: CallId,
    /// The request, until it is queued.
    request: Option<Outgoing>,
    service: &'static ServiceDefinition,
    /// Whether dropping the exchange while its reply is awaited cancels the call.
    cancel_on_drop: bool,
    /// Queued and not yet answered.
    waiting: bool,
}

impl<C: std::ops::Deref<Target = Connection>> Drop for Exchange<C> {
    fn drop(&mut self) {
        if !(self.cancel_on_drop && self.waiting) {
            return;
        }
        let connection = &*self.connection;
        let cancel = {
            let mut state = connection.lock();
            matches!(state.pending.remove(&self.call), Some(slot) if slot.reply.is_none())
                && state.closed.is_none()
        };
        if cancel {
            connection.send(&Frame::Cancel(self.call));
        }
    }
}

impl<C: std::ops::Deref<Target = Connection> + Unpin> Future for Exchange<C> {
    type Output = Result<Bytes, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let connection = &*this.connection;
        let mut state = connection.lock();
        if let Some(mut request) = this.request.take() {
            if let Some(error) = &state.closed {
                return Poll::Ready(Err(error.clone()));
            }
            let key = std::ptr::from_ref(this.service) as usize;
            let index = match state.checked.iter().find(|(seen, _)| *seen == key) {
                Some(&(_, index)) => index,
                None => {
                    let index = connection.service_index(this.service)?;
                    if state.checked.len() < CHECKED {
                        state.checked.push((key, index));
                    }
                    index
                }
            };
            request.head.service = index;
            let writer = state.send_call(&request, connection.config.max_frame_size)?;
            drop(request);
            state.pending.insert(
                this.call,
                Slot {
                    reply: None,
                    waker: Some(cx.waker().clone()),
                },
            );
            drop(state);
            this.waiting = true;
            if let Some(writer) = writer {
                writer.wake();
            }
            return Poll::Pending;
        }
        let Some(slot) = state.pending.get_mut(&this.call) else {
            this.waiting = false;
            return Poll::Ready(Err(state
                .closed
                .clone()
                .unwrap_or_else(|| connection.peer.lost("the connection closed"))));
        };
        if slot.reply.is_some() {
            this.waiting = false;
            let slot = state.pending.remove(&this.call);
            return Poll::Ready(
                slot.and_then(|slot| slot.reply)
                    .unwrap_or_else(|| Err(connection.peer.lost("the connection closed"))),
            );
        }
        if !matches!(&slot.waker, Some(waker) if waker.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The time a deadline leaves, for the request.
fn timeout_micros(deadline: Option<Instant>) -> Option<u64> {
    deadline.map(|deadline| {
        let left = deadline.saturating_duration_since(Instant::now());
        u64::try_from(left.as_micros()).unwrap_or(u64::MAX)
    })
}

impl FramedCaller {
    /// A call without streams: one small future that queues the request and
    /// waits for its reply.
    fn unary(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let connection = self.owner.0.clone();
        let call = connection.next_call.fetch_add(1, Ordering::Relaxed);
        let exchange = Exchange {
            connection,
            call,
            request: Some(Outgoing {
                head: CallHead {
                    call,
                    service: 0,
                    method: request.method.id.0,
                    timeout_micros: timeout_micros(request.deadline),
                    trace: None,
                },
                payload: request.payload,
            }),
            service: request.service,
            cancel_on_drop: true,
            waiting: false,
        };
        let reply =
            |reply: Result<Bytes, Error>| reply.map(|bytes| Response::new(Payload::Encoded(bytes)));
        match request.deadline {
            None => Box::pin(futures::FutureExt::map(exchange, reply)),
            Some(deadline) => Box::pin(async move {
                match tokio::time::timeout_at(deadline, exchange).await {
                    Ok(outcome) => reply(outcome),
                    Err(_) => Err(Error::Timeout),
                }
            }),
        }
    }
}

impl Caller for FramedCaller {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        if request.stream.is_none() && !request.method.server_streaming {
            return self.unary(request);
        }
        let connection = self.owner.0.clone();
        Box::pin(async move {
            let call = connection.next_call.fetch_add(1, Ordering::Relaxed);
            let timeout_micros = timeout_micros(request.deadline);
            let mut outstanding = Outstanding {
                connection: &connection,
                call,
                answered: false,
            };
            // Both registered before the request leaves, so that no item or
            // credit of this call can arrive before its place does.
            let inbox = request
                .method
                .server_streaming
                .then(|| connection.streams.open_inbox(call, true));
            let outgoing = request
                .stream
                .map(|items| (items, connection.streams.open_credits(call)));
            let exchange = Exchange {
                connection: &*connection,
                call,
                request: Some(Outgoing {
                    head: CallHead {
                        call,
                        service: 0,
                        method: request.method.id.0,
                        timeout_micros,
                        trace: None,
                    },
                    payload: request.payload,
                }),
                service: request.service,
                cancel_on_drop: false,
                waiting: false,
            };
            let waiting = async {
                match request.deadline {
                    None => exchange.await,
                    Some(deadline) => tokio::time::timeout_at(deadline, exchange)
                        .await
                        .map_err(|_| Error::Timeout)?,
                }
            };
            // A stream argument is sent while the reply is awaited; the reply
            // may come before the stream's end (the method stopped reading).
            let reply = match outgoing {
                None => waiting.await,
                Some((items, credits)) => {
                    let sending = async {
                        connection.streams.pump(call, items, credits).await;
                        std::future::pending::<std::convert::Infallible>().await
                    };
                    // Biased: the first poll of `waiting` queues the request,
                    // which must go out before the stream's first item.
                    tokio::select! {
                        biased;
                        reply = waiting => reply,
                        never = sending => match never {},
                    }
                }
            };
            // On an error the guard cleans up: a call still pending (it timed
            // out) is cancelled at the host.
            let reply = reply?;
            outstanding.answered = true;
            connection.streams.stop_sending(call);
            Ok(Response {
                payload: Payload::Encoded(reply),
                stream: inbox,
            })
        })
    }
}
