//! The framed caller: calls processes served by a [`host`](crate::host) on the
//! other end of any byte stream.
//!
//! One connection carries many calls at once. Each call registers a one-shot
//! slot under a fresh call id and queues its request for a single writer task,
//! which batches the frames of concurrent calls into few system calls; a
//! reader task hands each reply to its slot. Dropping a call's future sends a
//! cancel, a deadline travels with the request, and pings detect a peer that
//! went silent. When the connection ends, every call in flight fails at once
//! with the error that describes the loss (a crashed child process, or an
//! unreachable peer): no caller hangs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, Payload, Request, Response};
use crate::error::Error;
use crate::host::{frame_name, read_error, write_frames};
use crate::streaming::Streams;
use crate::wire::{
    self, CallId, Frame, Hello, Offered, PROTOCOL_VERSION, RequestFrame, WireConfig,
};

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

struct State {
    pending: HashMap<CallId, oneshot::Sender<Result<Bytes, Error>>>,
    /// Set once the connection is gone; every later call fails with it.
    closed: Option<Error>,
}

struct Connection {
    out: mpsc::Sender<Bytes>,
    state: Mutex<State>,
    next_call: AtomicU64,
    offered: Vec<Offered>,
    config: WireConfig,
    peer: Peer,
    /// Stops the reader, writer and heartbeat tasks.
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
        let pending = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(error.clone());
            std::mem::take(&mut state.pending)
        };
        tracing::debug!(peer = ?self.peer, %error, calls = pending.len(), "connection closed");
        self.streams.fail_all(&error);
        for (_, slot) in pending {
            let _ = slot.send(Err(error.clone()));
        }
        self.stop.cancel();
    }

    fn closed_error(&self) -> Error {
        self.lock()
            .closed
            .clone()
            .unwrap_or_else(|| self.peer.lost("the connection closed"))
    }

    fn check_service(&self, request: &Request) -> Result<(), Error> {
        let wanted = request.service;
        let offered = self
            .offered
            .iter()
            .find(|offered| offered.name == wanted.name)
            .ok_or_else(|| Error::ServiceNotFound {
                service: format!("{wanted} (the peer offers {})", names(&self.offered)),
            })?;
        if !crate::definition::compatible(&offered.version, wanted.version) {
            return Err(Error::VersionMismatch {
                service: wanted.name.to_string(),
                expected: wanted.version.to_string(),
                found: offered.version.clone(),
            });
        }
        Ok(())
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
    /// Performs the handshake on `io` and starts the connection's tasks.
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
        let (read_half, write_half) = tokio::io::split(io);
        let mut frames = FramedRead::new(read_half, wire::length_codec(config.max_frame_size));
        let (out, outgoing) = mpsc::channel::<Bytes>(1024);
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            let sink = FramedWrite::new(write_half, wire::length_codec(config.max_frame_size));
            async move {
                // On stop, what is queued (a cancel, say) still goes out, but a
                // peer that does not read gets a second, not forever.
                let give_up = async {
                    stop.cancelled().await;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                };
                tokio::select! {
                    _ = write_frames(sink, outgoing, stop.clone()) => {}
                    () = give_up => {}
                }
            }
        });

        let hello = wire::encode(
            &Frame::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                services: Vec::new(),
                token,
            }),
            config.max_frame_size,
        )?;
        let handshake = async {
            out.send(hello)
                .await
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
            Ok(Err(error)) => {
                stop.cancel();
                return Err(error);
            }
            Err(_) => {
                stop.cancel();
                return Err(peer.lost(&format!(
                    "no handshake within {:?}",
                    config.handshake_timeout
                )));
            }
        };

        let streams = Streams::new(config.stream_window, config.max_frame_size, out.clone());
        let connection = Arc::new(Connection {
            streams,
            out,
            state: Mutex::new(State {
                pending: HashMap::new(),
                closed: None,
            }),
            next_call: AtomicU64::new(1),
            offered,
            config,
            peer,
            stop,
        });
        tokio::spawn(read_replies(frames, connection.clone()));
        tokio::spawn(heartbeat(connection.clone()));
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
        self.owner.0.lock().closed.is_none()
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

/// Hands each reply to the call waiting for it; ends the connection when the stream does.
async fn read_replies<R>(
    mut frames: FramedRead<R, LengthDelimitedCodec>,
    connection: Arc<Connection>,
) where
    R: AsyncRead + Unpin,
{
    let config = connection.config.clone();
    let why = loop {
        let next = tokio::select! {
            () = connection.stop.cancelled() => return,
            next = tokio::time::timeout(config.heartbeat_timeout, frames.next()) => next,
        };
        let bytes = match next {
            Err(_) => {
                break connection.peer.lost(&format!(
                    "no sign of life for {:?}",
                    config.heartbeat_timeout
                ));
            }
            Ok(None) => break connection.peer.lost("the peer closed the connection"),
            Ok(Some(Err(error))) => break read_error(error, &config),
            Ok(Some(Ok(bytes))) => bytes,
        };
        match wire::decode(&bytes) {
            Ok(Frame::Response(response)) => {
                let slot = connection.lock().pending.remove(&response.call);
                // No slot: the call was cancelled or timed out; its reply is moot.
                if let Some(slot) = slot {
                    let _ = slot.send(response.result.map_err(Error::from));
                }
            }
            Ok(Frame::Ping(n)) => {
                if let Ok(pong) = wire::encode(&Frame::Pong(n), config.max_frame_size) {
                    let _ = connection.out.try_send(pong);
                }
            }
            Ok(Frame::Pong(_)) => {}
            Ok(Frame::Goaway(reason)) => break Error::from(reason),
            Ok(Frame::StreamItem { call, payload }) => {
                if let Err(error) = connection.streams.deliver(call, payload) {
                    break error;
                }
            }
            Ok(Frame::StreamEnd { call, result }) => connection.streams.finish(call, result),
            Ok(Frame::StreamCredit { call, n }) => connection.streams.grant(call, n),
            Ok(other) => {
                break Error::Decode {
                    what: "a frame".into(),
                    reason: format!("a caller does not expect {} here", frame_name(&other)),
                };
            }
            Err(error) => break error,
        }
    };
    connection.close(why);
}

/// Pings the peer every heartbeat interval, so a silent peer is noticed.
async fn heartbeat(connection: Arc<Connection>) {
    let mut ticks = tokio::time::interval(connection.config.heartbeat_interval);
    ticks.tick().await; // the first tick is immediate
    let mut n = 0_u64;
    loop {
        tokio::select! {
            () = connection.stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        n += 1;
        if let Ok(ping) = wire::encode(&Frame::Ping(n), connection.config.max_frame_size) {
            // A full queue means traffic is flowing anyway.
            let _ = connection.out.try_send(ping);
        }
    }
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
        let was_pending = self.connection.lock().pending.remove(&self.call).is_some();
        if was_pending
            && let Ok(cancel) = wire::encode(
                &Frame::Cancel(self.call),
                self.connection.config.max_frame_size,
            )
        {
            let _ = self.connection.out.try_send(cancel);
        }
    }
}

impl Caller for FramedCaller {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let connection = self.owner.0.clone();
        Box::pin(async move {
            connection.check_service(&request)?;
            let payload = request.payload.into_bytes()?;
            let call = connection.next_call.fetch_add(1, Ordering::Relaxed);
            let timeout_micros = request.deadline.map(|deadline| {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                u64::try_from(left.as_micros()).unwrap_or(u64::MAX)
            });
            let frame = wire::encode(
                &Frame::Request(RequestFrame {
                    call,
                    service: request.service.name.to_string(),
                    version: request.service.version.to_string(),
                    method: request.method.id.0,
                    timeout_micros,
                    trace: None,
                    payload,
                }),
                connection.config.max_frame_size,
            )?;

            let (slot, reply) = oneshot::channel();
            {
                let mut state = connection.lock();
                if let Some(error) = &state.closed {
                    return Err(error.clone());
                }
                state.pending.insert(call, slot);
            }
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
            if connection.out.send(frame).await.is_err() {
                return Err(connection.closed_error());
            }
            let waiting = async {
                match request.deadline {
                    None => Ok(reply.await),
                    Some(deadline) => tokio::time::timeout_at(deadline, reply)
                        .await
                        .map_err(|_| Error::Timeout),
                }
            };
            // A stream argument is sent while the reply is awaited; the reply
            // may come before the stream's end (the method stopped reading).
            let reply = match outgoing {
                None => waiting.await?,
                Some((items, credits)) => {
                    let sending = async {
                        connection.streams.pump(call, items, credits).await;
                        std::future::pending::<std::convert::Infallible>().await
                    };
                    tokio::select! {
                        reply = waiting => reply?,
                        never = sending => match never {},
                    }
                }
            };
            outstanding.answered = true;
            connection.streams.stop_sending(call);
            match reply {
                Ok(Ok(bytes)) => Ok(Response {
                    payload: Payload::Encoded(bytes),
                    stream: inbox,
                }),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(connection.closed_error()),
            }
        })
    }
}
