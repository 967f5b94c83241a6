//! Streams over one connection, shared by the host and the framed caller.
//!
//! Each streaming call has, on the receiving side, an inbox (a channel of at
//! most `window` items plus room for the end), and on the sending side a pump
//! that sends an item only when it holds a credit. The sender starts with
//! `window` credits; the receiver grants more as its consumer takes items
//! (half a window at a time). A slow consumer therefore stops the producer
//! within one window, and neither side ever buffers more than that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};

use crate::caller::{ItemStream, Payload};
use crate::error::Error;
use crate::wire::{self, CallId, Frame, WireError};

type Inbox = mpsc::Sender<Result<Bytes, Error>>;

/// Where a connection's stream frames go: a queue the connection's task
/// drains (the host), or straight into the buffer the caller's requests go
/// to (the framed caller), so that a stream's items never overtake the
/// request they belong to.
pub(crate) enum Outlet {
    Queue(mpsc::Sender<Bytes>),
    Buffer(Weak<dyn Outbox>),
}

/// A connection's write buffer, seen from its streams.
pub(crate) trait Outbox: Send + Sync {
    /// Appends a frame body (the length prefix is the outbox's to add);
    /// `false` once the connection is gone.
    fn push(&self, body: &[u8]) -> bool;
    /// Whether the buffer is too full to take more items for now.
    fn is_full(&self) -> bool;
    /// Signalled when a full buffer has gone out.
    fn room(&self) -> &tokio::sync::Notify;
}

impl Outlet {
    /// Sends a frame, waiting for room; `Err` once the connection is gone.
    async fn send(&self, body: Bytes) -> Result<(), ()> {
        match self {
            Outlet::Queue(queue) => queue.send(body).await.map_err(drop),
            Outlet::Buffer(outbox) => {
                let outbox = outbox.upgrade().ok_or(())?;
                loop {
                    let room = outbox.room().notified();
                    let mut room = std::pin::pin!(room);
                    room.as_mut().enable();
                    if !outbox.is_full() {
                        return if outbox.push(&body) { Ok(()) } else { Err(()) };
                    }
                    room.await;
                }
            }
        }
    }

    /// Sends a frame if there is room now; drops it otherwise.
    fn try_send(&self, body: Bytes) {
        match self {
            Outlet::Queue(queue) => {
                let _ = queue.try_send(body);
            }
            Outlet::Buffer(outbox) => {
                if let Some(outbox) = outbox.upgrade() {
                    outbox.push(&body);
                }
            }
        }
    }
}

/// The streams of one connection.
pub(crate) struct Streams {
    inboxes: Mutex<HashMap<CallId, Inbox>>,
    credits: Mutex<HashMap<CallId, Arc<Semaphore>>>,
    window: u32,
    max_frame_size: usize,
    out: Outlet,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Streams {
    pub(crate) fn new(window: u32, max_frame_size: usize, out: Outlet) -> Arc<Streams> {
        Arc::new(Streams {
            inboxes: Mutex::default(),
            credits: Mutex::default(),
            window: window.max(2),
            max_frame_size,
            out,
        })
    }

    fn encode(&self, frame: &Frame) -> Result<Bytes, Error> {
        wire::encode(frame, self.max_frame_size)
    }

    /// Registers the inbox of call `call` and returns its items. With
    /// `cancel_on_drop`, dropping the stream before its end asks the peer to
    /// stop the call (the caller's side of a returned stream).
    pub(crate) fn open_inbox(self: &Arc<Self>, call: CallId, cancel_on_drop: bool) -> ItemStream {
        let (sender, receiver) = mpsc::channel(self.window as usize + 1);
        lock(&self.inboxes).insert(call, sender);
        let reader = InboxReader {
            streams: self.clone(),
            call,
            receiver,
            taken: 0,
            ended: false,
            cancel_on_drop,
        };
        Box::pin(futures::stream::unfold(reader, |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        }))
    }

    /// An item for call `call` arrived. Items for a call without an inbox
    /// (its consumer is gone) are dropped; more items than credits granted is
    /// a protocol error.
    pub(crate) fn deliver(&self, call: CallId, item: Bytes) -> Result<(), Error> {
        let inbox = lock(&self.inboxes).get(&call).cloned();
        let Some(inbox) = inbox else { return Ok(()) };
        match inbox.try_send(Ok(item)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Error::Decode {
                what: "a stream item".into(),
                reason: format!(
                    "call {call} sent more stream items than the {} it was granted",
                    self.window
                ),
            }),
        }
    }

    /// Call `call`'s stream ended, or broke off with an error.
    pub(crate) fn finish(&self, call: CallId, result: Result<(), WireError>) {
        let inbox = lock(&self.inboxes).remove(&call);
        if let (Some(inbox), Err(error)) = (inbox, result) {
            let _ = inbox.try_send(Err(Error::from(error)));
        }
    }

    /// Registers the credits of call `call`'s outgoing stream: `window` to start.
    pub(crate) fn open_credits(&self, call: CallId) -> Arc<Semaphore> {
        let credits = Arc::new(Semaphore::new(self.window as usize));
        lock(&self.credits).insert(call, credits.clone());
        credits
    }

    /// The peer takes `n` more items of call `call`'s outgoing stream.
    pub(crate) fn grant(&self, call: CallId, n: u32) {
        if let Some(credits) = lock(&self.credits).get(&call) {
            // Never more than a window outstanding, whatever the peer claims.
            let room = (self.window as usize).saturating_sub(credits.available_permits());
            credits.add_permits((n as usize).min(room));
        }
    }

    /// Sends `items` as call `call`'s stream, an item per credit, then its end.
    /// Returns when the stream has ended or the connection is gone.
    pub(crate) async fn pump(&self, call: CallId, mut items: ItemStream, credits: Arc<Semaphore>) {
        let end = loop {
            let Ok(credit) = credits.acquire().await else {
                break None; // the connection is gone
            };
            credit.forget();
            match items.next().await {
                None => break Some(Ok(())),
                Some(Err(error)) => break Some(Err(WireError::from(error))),
                Some(Ok(item)) => {
                    let frame = item
                        .into_bytes()
                        .map(|payload| Frame::StreamItem { call, payload })
                        .and_then(|frame| self.encode(&frame));
                    match frame {
                        Ok(bytes) => {
                            if self.out.send(bytes).await.is_err() {
                                break None;
                            }
                        }
                        Err(error) => break Some(Err(WireError::from(error))),
                    }
                }
            }
        };
        lock(&self.credits).remove(&call);
        if let Some(result) = end
            && let Ok(bytes) = self.encode(&Frame::StreamEnd { call, result })
        {
            let _ = self.out.send(bytes).await;
        }
    }

    /// Stops sending call `call`'s outgoing stream (its reply came).
    pub(crate) fn stop_sending(&self, call: CallId) {
        if let Some(credits) = lock(&self.credits).remove(&call) {
            credits.close();
        }
    }

    /// Forgets call `call`'s streams (the call is over).
    pub(crate) fn forget(&self, call: CallId) {
        lock(&self.inboxes).remove(&call);
        if let Some(credits) = lock(&self.credits).remove(&call) {
            credits.close();
        }
    }

    /// The connection is gone: every inbox ends with `error`, every pump stops.
    pub(crate) fn fail_all(&self, error: &Error) {
        for (_, inbox) in lock(&self.inboxes).drain() {
            let _ = inbox.try_send(Err(error.clone()));
        }
        for (_, credits) in lock(&self.credits).drain() {
            credits.close();
        }
    }
}

/// The consuming end of an inbox: grants credits as it goes.
struct InboxReader {
    streams: Arc<Streams>,
    call: CallId,
    receiver: mpsc::Receiver<Result<Bytes, Error>>,
    taken: u32,
    ended: bool,
    cancel_on_drop: bool,
}

impl InboxReader {
    async fn next(&mut self) -> Option<Result<Payload, Error>> {
        if self.ended {
            return None;
        }
        let Some(item) = self.receiver.recv().await else {
            self.ended = true;
            return None;
        };
        let item = match item {
            Ok(bytes) => bytes,
            Err(error) => {
                self.ended = true;
                return Some(Err(error));
            }
        };
        self.taken += 1;
        if self.taken >= self.streams.window / 2 {
            let grant = Frame::StreamCredit {
                call: self.call,
                n: self.taken,
            };
            self.taken = 0;
            if let Ok(bytes) = self.streams.encode(&grant) {
                let _ = self.streams.out.send(bytes).await;
            }
        }
        Some(Ok(Payload::Encoded(item)))
    }
}

impl Drop for InboxReader {
    fn drop(&mut self) {
        lock(&self.streams.inboxes).remove(&self.call);
        if self.cancel_on_drop
            && !self.ended
            && let Ok(bytes) = self.streams.encode(&Frame::Cancel(self.call))
        {
            self.streams.out.try_send(bytes);
        }
    }
}
