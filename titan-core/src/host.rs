//! The host loop: serves a set of processes over any byte stream.
//!
//! [`serve`] speaks the [`wire`] protocol on one connection: it
//! answers the handshake with the services it offers, runs each request as its
//! own task (so one slow call never holds up another, and replies go out in
//! whatever order calls finish), stops a call's work when the caller cancels
//! it or its deadline passes, and answers pings. Every isolation and transport
//! that crosses a byte stream (a child's pipes, a unix socket, TCP) uses it.
//!
//! Bad input never takes the host down: a frame that does not decode, a length
//! prefix over the limit, or a peer that never says hello gets a
//! [`Frame::Goaway`] with the reason and the connection closes; a call to an
//! unknown service or method, or with arguments of the wrong type, gets an
//! error reply and the connection keeps serving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{AbortHandle, Abortable};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use crate::caller::{Client, Payload, Request};
use crate::definition::{MethodId, ServiceDefinition};
use crate::error::Error;
use crate::process::{Process, Proxy};
use crate::streaming::Streams;
use crate::wire::{
    self, CallId, Frame, Hello, Offered, PROTOCOL_VERSION, RequestFrame, ResponseFrame, WireConfig,
    WireError,
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
    services: HashMap<String, Served>,
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
        self.services
            .insert(definition.name.to_string(), Served { definition, client });
    }

    /// Every service in the set, with the client that reaches it.
    pub fn iter(&self) -> impl Iterator<Item = (&'static ServiceDefinition, &Client)> {
        self.services
            .values()
            .map(|served| (served.definition, &served.client))
    }

    /// What the handshake advertises.
    pub fn offered(&self) -> Vec<Offered> {
        let mut offered: Vec<Offered> = self
            .services
            .values()
            .map(|served| Offered {
                name: served.definition.name.to_string(),
                version: served.definition.version.to_string(),
            })
            .collect();
        offered.sort_by(|a, b| a.name.cmp(&b.name));
        offered
    }

    /// Resolves a request to a client and its static method, or the reason it cannot be served.
    fn route(&self, request: &RequestFrame) -> Result<(Client, Request), Error> {
        let served = self
            .services
            .get(&request.service)
            .ok_or_else(|| Error::ServiceNotFound {
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
        let method = definition
            .method_by_id(MethodId(request.method))
            .ok_or_else(|| Error::MethodNotFound {
                service: definition.to_string(),
                method: MethodId(request.method).to_string(),
            })?;
        let deadline = request
            .timeout_micros
            .map(|micros| tokio::time::Instant::now() + std::time::Duration::from_micros(micros));
        let call = Request {
            service: definition,
            method,
            payload: Payload::Encoded(request.payload.clone()),
            deadline,
            stream: None,
            key: None,
        };
        Ok((served.client.clone(), call))
    }
}

impl std::fmt::Debug for ServiceSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.offered()).finish()
    }
}

/// Calls in flight on one connection, by id, so a cancel can stop them.
type InFlight = Arc<Mutex<HashMap<CallId, AbortHandle>>>;

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
    let (read_half, write_half) = tokio::io::split(io);
    let mut frames = FramedRead::new(read_half, wire::length_codec(config.max_frame_size));
    let (out, outgoing) = mpsc::channel::<Bytes>(256);
    let finish = CancellationToken::new();
    let writer = tokio::spawn(write_frames(
        FramedWrite::new(write_half, wire::length_codec(config.max_frame_size)),
        outgoing,
        finish.clone(),
    ));

    // Whatever ends this function (a return, or the task being dropped), the
    // connection's calls and writer end with it.
    let connection = Connection {
        out: out.clone(),
        in_flight: Arc::default(),
        streams: Streams::new(config.stream_window, config.max_frame_size, out.clone()),
        finished: Arc::default(),
        shutdown,
    };
    let _guard = ConnectionGuard {
        in_flight: connection.in_flight.clone(),
        streams: connection.streams.clone(),
        writer: writer.abort_handle(),
    };
    let outcome = match handshake(&mut frames, &services, &out, &config).await {
        Ok(true) => serve_calls(&mut frames, &services, &connection, &config).await,
        Ok(false) => Ok(()),
        Err(error) => Err(error),
    };
    if let Err(error) = &outcome {
        tracing::debug!(%error, "closing the connection");
        if let Ok(goaway) = wire::encode(
            &Frame::Goaway(WireError::from(error)),
            config.max_frame_size,
        ) {
            let _ = out.send(goaway).await;
        }
    }
    drop(out);
    // Let the goodbye (and replies already queued) reach the peer, but never hang on it.
    finish.cancel();
    let _ = tokio::time::timeout(config.handshake_timeout, writer).await;
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
    let (read_half, write_half) = tokio::io::split(io);
    let mut frames = FramedRead::new(read_half, wire::length_codec(config.max_frame_size));
    let mut sink = FramedWrite::new(write_half, wire::length_codec(config.max_frame_size));
    // Whatever the peer says first, the answer is the same.
    let _ = tokio::time::timeout(config.handshake_timeout, frames.next()).await;
    if let Ok(goaway) = wire::encode(
        &Frame::Goaway(WireError::from(&error)),
        config.max_frame_size,
    ) {
        let _ = sink.send(goaway).await;
    }
    let _ = SinkExt::<Bytes>::close(&mut sink).await;
    Err(error)
}

/// Waits for the peer's hello and answers it. `Ok(false)`: the peer left first.
async fn handshake<R>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    services: &ServiceSet,
    out: &mpsc::Sender<Bytes>,
    config: &WireConfig,
) -> Result<bool, Error>
where
    R: AsyncRead + Unpin,
{
    let first = tokio::time::timeout(config.handshake_timeout, frames.next())
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
            let reply = Frame::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                services: services.offered(),
                token: None,
            });
            send(out, &reply, config).await;
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

async fn serve_calls<R>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    services: &Arc<ServiceSet>,
    connection: &Connection,
    config: &WireConfig,
) -> Result<(), Error>
where
    R: AsyncRead + Unpin,
{
    let (out, in_flight) = (&connection.out, &connection.in_flight);
    let mut draining = false;
    let outcome = loop {
        let next = tokio::select! {
            biased;
            () = connection.shutdown.cancelled(), if !draining => {
                draining = true;
                if lock(in_flight).is_empty() {
                    shutting_down(out, config).await;
                    break Ok(());
                }
                continue;
            }
            () = connection.finished.notified(), if draining => {
                if lock(in_flight).is_empty() {
                    shutting_down(out, config).await;
                    break Ok(());
                }
                continue;
            }
            next = tokio::time::timeout(config.heartbeat_timeout, frames.next()) => match next {
                Ok(next) => next,
                Err(_) => break Err(Error::Timeout),
            },
        };
        let bytes = match next {
            None => break Ok(()),
            Some(Ok(bytes)) => bytes,
            Some(Err(error)) => break Err(read_error(error, config)),
        };
        let frame = match wire::decode(&bytes) {
            Ok(frame) => frame,
            Err(error) => break Err(error),
        };
        match frame {
            Frame::Request(request) if draining => {
                let refusal = Frame::Response(ResponseFrame {
                    call: request.call,
                    result: Err(WireError::from(Error::Unavailable {
                        reason: "the host is shutting down".into(),
                    })),
                });
                send(out, &refusal, config).await;
            }
            Frame::Request(request) => start_call(request, services, connection, config).await,
            Frame::Cancel(call) => {
                let handle = lock(in_flight).remove(&call);
                if let Some(handle) = handle {
                    handle.abort();
                    connection.finished.notify_one();
                }
                connection.streams.forget(call);
            }
            Frame::StreamItem { call, payload } => {
                if let Err(error) = connection.streams.deliver(call, payload) {
                    break Err(error);
                }
            }
            Frame::StreamEnd { call, result } => connection.streams.finish(call, result),
            Frame::StreamCredit { call, n } => connection.streams.grant(call, n),
            Frame::Ping(n) => send(out, &Frame::Pong(n), config).await,
            Frame::Pong(_) => {}
            Frame::Goaway(_) => break Ok(()),
            other @ (Frame::Hello(_) | Frame::Response(_)) => {
                break Err(Error::Decode {
                    what: "a frame".into(),
                    reason: format!("a host does not expect {} here", frame_name(&other)),
                });
            }
        }
    };
    // The peer is gone or misbehaved: nobody waits for the calls still running.
    abort_all(in_flight);
    outcome
}

fn abort_all(in_flight: &InFlight) {
    for (_, handle) in lock(in_flight).drain() {
        handle.abort();
    }
}

/// Ends a connection's calls and its writer when the connection's task ends,
/// however it ends.
struct ConnectionGuard {
    in_flight: InFlight,
    streams: Arc<Streams>,
    writer: tokio::task::AbortHandle,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        abort_all(&self.in_flight);
        self.streams.fail_all(&Error::Unavailable {
            reason: "the caller's connection closed".into(),
        });
        self.writer.abort();
    }
}

/// What the calls of one connection share.
struct Connection {
    out: mpsc::Sender<Bytes>,
    in_flight: InFlight,
    streams: Arc<Streams>,
    /// Signalled each time a call finishes (its reply queued), for draining.
    finished: Arc<tokio::sync::Notify>,
    /// Asks for a graceful stop.
    shutdown: CancellationToken,
}

/// Tells the peer the host is going away, after the last call of a graceful stop.
async fn shutting_down(out: &mpsc::Sender<Bytes>, config: &WireConfig) {
    let goaway = Frame::Goaway(WireError::from(Error::Unavailable {
        reason: "the host is shutting down".into(),
    }));
    send(out, &goaway, config).await;
}

/// Starts one call as its own task, or answers at once why it cannot run.
async fn start_call(
    request: RequestFrame,
    services: &Arc<ServiceSet>,
    connection: &Connection,
    config: &WireConfig,
) {
    let (out, in_flight, streams) = (&connection.out, &connection.in_flight, &connection.streams);
    let call = request.call;
    let routed = services.route(&request).and_then(|routed| {
        let calls = lock(in_flight);
        if calls.contains_key(&call) {
            return Err(Error::Unavailable {
                reason: format!("call id {call} is already in flight on this connection"),
            });
        }
        if calls.len() >= config.max_concurrent_calls {
            return Err(Error::Unavailable {
                reason: format!(
                    "this connection already has {} calls in flight, the most it takes",
                    config.max_concurrent_calls
                ),
            });
        }
        Ok(routed)
    });
    let (client, mut request) = match routed {
        Ok(routed) => routed,
        Err(error) => {
            let reply = Frame::Response(ResponseFrame {
                call,
                result: Err(WireError::from(error)),
            });
            send(out, &reply, config).await;
            return;
        }
    };

    // Registered before the next frame is read, so no item or credit of
    // this call can arrive before its place does.
    if request.method.client_streaming {
        request.stream = Some(streams.open_inbox(call, false));
    }
    let credits = request
        .method
        .server_streaming
        .then(|| streams.open_credits(call));

    let (abort, registration) = AbortHandle::new_pair();
    lock(in_flight).insert(call, abort);
    let out = out.clone();
    let in_flight = in_flight.clone();
    let streams = streams.clone();
    let finished = connection.finished.clone();
    let max = config.max_frame_size;
    let work = async move {
        let (result, items) = match client.call(request).await {
            Ok(response) => (response.payload.into_bytes(), response.stream),
            Err(error) => (Err(error), None),
        };
        let failed = result.is_err();
        let reply = match response_frame(call, result, max) {
            Ok(bytes) => bytes,
            // The reply does not fit in a frame: say so instead.
            Err(error) => match response_frame(call, Err(error), max) {
                Ok(bytes) => bytes,
                Err(_) => return,
            },
        };
        let sent = out.send(reply).await.is_ok();
        // A returned stream follows its reply, item by item, as credits allow;
        // the call stays in flight (and cancellable) until the stream ends.
        if let (Some(items), Some(credits), true, false) = (items, credits, sent, failed) {
            streams.pump(call, items, credits).await;
        }
        lock(&in_flight).remove(&call);
        streams.forget(call);
        // A permit, not a wake-up: a drain that checks a moment later still sees it.
        finished.notify_one();
    };
    tokio::spawn(Abortable::new(work, registration));
}

fn response_frame(call: CallId, result: Result<Bytes, Error>, max: usize) -> Result<Bytes, Error> {
    let frame = Frame::Response(ResponseFrame {
        call,
        result: result.map_err(WireError::from),
    });
    wire::encode(&frame, max)
}

/// Queues a frame for the writer; a frame that cannot be encoded is dropped
/// with a log line (only control frames go through here, and they are tiny).
async fn send(out: &mpsc::Sender<Bytes>, frame: &Frame, config: &WireConfig) {
    match wire::encode(frame, config.max_frame_size) {
        Ok(bytes) => {
            let _ = out.send(bytes).await;
        }
        Err(error) => tracing::warn!(%error, "dropping a frame that does not encode"),
    }
}

/// Writes queued frames, flushing only when the queue runs dry, so that
/// replies of concurrent calls share system calls. When `finish` fires, writes
/// what is queued already, then closes.
pub(crate) async fn write_frames<W>(
    mut sink: FramedWrite<W, LengthDelimitedCodec>,
    mut queue: mpsc::Receiver<Bytes>,
    finish: CancellationToken,
) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    loop {
        let first = tokio::select! {
            first = queue.recv() => first,
            () = finish.cancelled() => queue.try_recv().ok(),
        };
        let Some(first) = first else { break };
        sink.feed(first).await?;
        while let Ok(next) = queue.try_recv() {
            sink.feed(next).await?;
        }
        SinkExt::<Bytes>::flush(&mut sink).await?;
    }
    SinkExt::<Bytes>::close(&mut sink).await
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
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
