//! Callers: the one seam between a proxy and a process.
//!
//! A generated proxy turns `calc.add(5, 3)` into a [`Request`] and hands it to
//! its [`Client`], a cheap, clonable handle over some [`Caller`]. Which caller
//! sits behind it decides where the call goes: the local caller runs the method
//! on the caller's own task with the arguments moved, later callers frame it
//! over a pipe or a socket, and pool or failover callers wrap other callers.
//! The proxy never knows which.
//!
//! [`Client`] is a [`tower::Service`], so any tower layer can wrap the calls of a
//! proxy: see [`Client::layer`] and [`Proxy::layer`](crate::Proxy::layer).

use std::any::{Any, type_name};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::definition::{MethodDefinition, ServiceDefinition};
use crate::error::Error;
use crate::manager::ProcessId;

/// The arguments of a request or the value of a reply.
///
/// In the same OS process values are moved as they are ([`Payload::Value`]);
/// across a process boundary they travel as postcard bytes ([`Payload::Encoded`]).
/// A moved value keeps the means to encode itself, so a caller that must send it
/// over a wire can, without knowing its type. A process replies in the form it
/// was called in.
pub enum Payload {
    /// A value moved, never serialised.
    Value(Moved),
    /// A value encoded with postcard.
    Encoded(Bytes),
}

/// A value moved as it is, with the means to encode it should it need to travel.
pub struct Moved {
    value: Box<dyn Any + Send>,
    encode: fn(&(dyn Any + Send)) -> Result<Bytes, Error>,
    /// Appends the encoding to a buffer (where a frame is being written).
    write: fn(&(dyn Any + Send), &mut BytesMut) -> Result<(), Error>,
    type_name: &'static str,
}

impl Moved {
    /// The type of the value inside.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

fn encode_moved<T: Serialize + 'static>(value: &(dyn Any + Send)) -> Result<Bytes, Error> {
    match value.downcast_ref::<T>() {
        Some(value) => encode_exact(value).map_err(|e| Error::encode(type_name::<T>(), e)),
        None => Err(Error::Internal(format!(
            "a moved value is not the `{}` its encoder was made for",
            type_name::<T>()
        ))),
    }
}

fn write_moved<T: Serialize + 'static>(
    value: &(dyn Any + Send),
    out: &mut BytesMut,
) -> Result<(), Error> {
    match value.downcast_ref::<T>() {
        Some(value) => postcard::serialize_with_flavor(value, crate::wire::Appender(out))
            .map_err(|e| Error::encode(type_name::<T>(), e)),
        None => Err(Error::Internal(format!(
            "a moved value is not the `{}` its encoder was made for",
            type_name::<T>()
        ))),
    }
}

thread_local! {
    /// Where a thread encodes payloads before they get a buffer of their own.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest scratch buffer a thread keeps between payloads.
const SCRATCH_KEPT: usize = 64 * 1024;

/// Encodes `value` with postcard into a buffer of exactly its size: one
/// allocation (none for an empty encoding), where a growing `Vec` takes several.
fn encode_exact<T: Serialize + ?Sized>(value: &T) -> postcard::Result<Bytes> {
    SCRATCH.with(|scratch| {
        // A value whose serialisation encodes another payload gets a fresh buffer.
        let Ok(mut scratch) = scratch.try_borrow_mut() else {
            return postcard::to_stdvec(value).map(Bytes::from);
        };
        let mut buffer = std::mem::take(&mut *scratch);
        buffer.clear();
        let buffer = postcard::to_extend(value, buffer)?;
        let bytes = Bytes::copy_from_slice(&buffer);
        if buffer.capacity() <= SCRATCH_KEPT {
            *scratch = buffer;
        }
        Ok(bytes)
    })
}

impl Payload {
    /// Wraps a value to be moved to the other side.
    pub fn value<T: Serialize + Send + 'static>(value: T) -> Payload {
        Payload::Value(Moved {
            value: Box::new(value),
            encode: encode_moved::<T>,
            write: write_moved::<T>,
            type_name: type_name::<T>(),
        })
    }

    /// Encodes a value with postcard.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Payload, Error> {
        encode_exact(value)
            .map(Payload::Encoded)
            .map_err(|e| Error::encode(type_name::<T>(), e))
    }

    /// Whether this payload is postcard bytes.
    pub fn is_encoded(&self) -> bool {
        matches!(self, Payload::Encoded(_))
    }

    /// The payload as postcard bytes: a moved value is encoded, bytes are returned as they are.
    pub fn into_bytes(self) -> Result<Bytes, Error> {
        match self {
            Payload::Value(moved) => (moved.encode)(&*moved.value),
            Payload::Encoded(bytes) => Ok(bytes),
        }
    }

    /// Appends the payload's postcard bytes to `out`: a moved value is
    /// encoded in place (on an error, `out` may hold part of it).
    pub(crate) fn encode_to(&self, out: &mut BytesMut) -> Result<(), Error> {
        match self {
            Payload::Value(moved) => (moved.write)(&*moved.value, out),
            Payload::Encoded(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Takes the value out: downcasts a moved value, or decodes bytes.
    pub fn into_value<T: DeserializeOwned + 'static>(self) -> Result<T, Error> {
        match self {
            Payload::Value(moved) => {
                let found = moved.type_name;
                moved.value.downcast::<T>().map(|v| *v).map_err(|_| {
                    Error::decode(
                        type_name::<T>(),
                        format_args!(
                            "the value moved in is a `{found}` (the proxy and the process disagree)"
                        ),
                    )
                })
            }
            Payload::Encoded(bytes) => {
                postcard::from_bytes(&bytes).map_err(|e| Error::decode(type_name::<T>(), e))
            }
        }
    }

    /// Wraps `value` as a reply: encoded if `encoded`, moved otherwise.
    pub fn reply_like<T: Serialize + Send + 'static>(
        encoded: bool,
        value: T,
    ) -> Result<Payload, Error> {
        if encoded {
            Payload::encode(&value)
        } else {
            Ok(Payload::value(value))
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Value(moved) => write!(f, "Payload::Value({})", moved.type_name),
            Payload::Encoded(bytes) => write!(f, "Payload::Encoded({} bytes)", bytes.len()),
        }
    }
}

/// The items of a stream that crosses a call, in either direction: each a
/// moved value or postcard bytes, like a [`Payload`]. An `Err` item ends the
/// stream with that error.
pub type ItemStream = Pin<Box<dyn futures::Stream<Item = Result<Payload, Error>> + Send + 'static>>;

/// A call on its way to a process.
pub struct Request {
    /// The service being called.
    pub service: &'static ServiceDefinition,
    /// The method being called.
    pub method: &'static MethodDefinition,
    /// The arguments, as a tuple.
    pub payload: Payload,
    /// When the caller stops waiting; past it the call fails with [`Error::Timeout`]
    /// and the process drops the work. For a method that returns a stream, the
    /// deadline covers the call up to the stream's start.
    pub deadline: Option<tokio::time::Instant>,
    /// The items of the method's stream argument, for methods that take one.
    pub stream: Option<ItemStream>,
    /// The call key of a pool's hashing strategies (key-hash, consistent-hash):
    /// set by [`Client::with_key`] or by a `#[key]` argument. It stays on this
    /// side of a wire.
    pub key: Option<CallKey>,
}

/// What a pool's hashing strategies route a call by: a stable 64-bit hash
/// of a caller's key (a user id, a session, a tenant).
///
/// The hash is FNV-1a over the bytes [`Hash`](std::hash::Hash) writes, so
/// it is the same in every process and every run, unlike `std`'s randomly
/// seeded hasher.
///
/// ```
/// use titan_core::CallKey;
///
/// assert_eq!(CallKey::of("user-42"), CallKey::of(&String::from("user-42")));
/// assert_ne!(CallKey::of("user-42"), CallKey::of("user-43"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

impl CallKey {
    /// The key of `value`.
    pub fn of<K: std::hash::Hash + ?Sized>(value: &K) -> CallKey {
        let mut hasher = Fnv64(0xcbf2_9ce4_8422_2325);
        value.hash(&mut hasher);
        CallKey(std::hash::Hasher::finish(&hasher))
    }
}

/// 64-bit FNV-1a: stable across processes and runs.
struct Fnv64(u64);

impl std::hash::Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl Request {
    /// A request with no deadline and no stream.
    pub fn new(
        service: &'static ServiceDefinition,
        method: &'static MethodDefinition,
        payload: Payload,
    ) -> Request {
        Request {
            service,
            method,
            payload,
            deadline: None,
            stream: None,
            key: None,
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("service", &format_args!("{}", self.service))
            .field("method", &self.method.name)
            .field("payload", &self.payload)
            .field("deadline", &self.deadline)
            .field("stream", &self.stream.is_some())
            .field("key", &self.key)
            .finish()
    }
}

/// A process's reply: the method's return value (including an application `Err`).
pub struct Response {
    /// The return value; `()` for a method that returns a stream.
    pub payload: Payload,
    /// The items, for a method that returns a stream.
    pub stream: Option<ItemStream>,
}

impl Response {
    /// A reply with a value and no stream.
    pub fn new(payload: Payload) -> Response {
        Response {
            payload,
            stream: None,
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("payload", &self.payload)
            .field("stream", &self.stream.is_some())
            .finish()
    }
}

/// Something that can carry a [`Request`] to a process and bring back its reply.
///
/// Implement it to add a new way of reaching processes; wrap a [`Client`] with
/// tower layers to change how calls behave on the way.
pub trait Caller: Send + Sync + 'static {
    /// Performs one call. The returned future owns everything it needs.
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>>;
}

/// A clonable handle through which proxies call: an `Arc<dyn Caller>`.
///
/// It is a [`tower::Service<Request>`], and [`Client::layer`] wraps it in any
/// tower layer while keeping its type, so a layered client still fits the same
/// proxy type.
///
/// ```
/// # use titan_core::prelude::*;
/// # use std::time::Duration;
/// # #[derive(Default)] struct Slow;
/// # #[process] impl Slow { #[public] async fn nap(&self) { tokio::time::sleep(Duration::from_secs(5)).await } }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let pm = ProcessManager::new();
/// let slow = pm.spawn::<Slow>().await?
///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(10)));
/// assert_eq!(slow.nap().await, Err(titan_core::Error::Timeout));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    caller: Arc<dyn Caller>,
    process: Option<ProcessId>,
}

impl Client {
    /// A client over `caller`.
    pub fn new(caller: impl Caller) -> Client {
        Client {
            caller: Arc::new(caller),
            process: None,
        }
    }

    /// The same client, remembering which managed process it reaches.
    pub(crate) fn for_process(mut self, id: ProcessId) -> Client {
        self.process = Some(id);
        self
    }

    /// The managed process this client reaches, if it reaches exactly one.
    pub fn process_id(&self) -> Option<ProcessId> {
        self.process
    }

    /// Performs one call.
    pub fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        self.caller.call(request)
    }

    /// Wraps every call of this client in a tower layer.
    ///
    /// Errors the layer raises become [`Error`]s through [`Error::from_layer`]:
    /// tower's timeout becomes [`Error::Timeout`].
    pub fn layer<L>(self, layer: L) -> Client
    where
        L: tower::Layer<Client>,
        L::Service: tower::Service<Request, Response = Response> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request>>::Error: Into<tower::BoxError>,
        <L::Service as tower::Service<Request>>::Future: Send + 'static,
    {
        let process = self.process;
        Client {
            caller: Arc::new(ServiceCaller(layer.layer(self))),
            process,
        }
    }
}

impl Client {
    /// The same client with a deadline on every call: `timeout` from when the
    /// call starts (or the call's own deadline, if that is sooner). Past it the
    /// call fails with [`Error::Timeout`] and the process drops the work, on
    /// this side of a wire or the other.
    pub fn with_timeout(self, timeout: std::time::Duration) -> Client {
        let process = self.process;
        Client {
            caller: Arc::new(DeadlineCaller {
                inner: self.caller,
                timeout,
            }),
            process,
        }
    }
}

impl Client {
    /// The same client with a call key on every call, for a pool whose
    /// strategy routes by key ([key-hash or consistent-hash](crate::pool::Strategy)):
    /// calls with the same key reach the same worker. It takes precedence over
    /// a `#[key]` argument of the method. Elsewhere the key is ignored.
    pub fn with_key<K: std::hash::Hash + ?Sized>(self, key: &K) -> Client {
        let process = self.process;
        Client {
            caller: Arc::new(KeyCaller {
                inner: self.caller,
                key: CallKey::of(key),
            }),
            process,
        }
    }
}

/// Sets the call key of every request that passes through. The caller's
/// explicit key takes precedence over one a `#[key]` argument set.
struct KeyCaller {
    inner: Arc<dyn Caller>,
    key: CallKey,
}

impl Caller for KeyCaller {
    fn call(&self, mut request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        request.key = Some(self.key);
        self.inner.call(request)
    }
}

/// Sets the deadline of every request that passes through.
struct DeadlineCaller {
    inner: Arc<dyn Caller>,
    timeout: std::time::Duration,
}

impl Caller for DeadlineCaller {
    fn call(&self, mut request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        request.deadline = Some(match request.deadline {
            Some(own) => own.min(deadline),
            None => deadline,
        });
        self.inner.call(request)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl tower::Service<Request> for Client {
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Backpressure, where there is any, is applied by the caller's own future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.caller.call(request)
    }
}

/// A tower service used as a [`Caller`]; what [`Client::layer`] builds.
struct ServiceCaller<S>(S);

impl<S> Caller for ServiceCaller<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + Sync + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
{
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        use tower::ServiceExt;
        let service = self.0.clone();
        Box::pin(async move {
            service
                .oneshot(request)
                .await
                .map_err(|e| Error::from_layer(e.into()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_values_come_back_as_themselves() {
        let payload = Payload::value((1_i64, String::from("x")));
        let (a, b): (i64, String) = payload.into_value().expect("same type");
        assert_eq!((a, b.as_str()), (1, "x"));
    }

    #[test]
    fn a_moved_value_of_another_type_is_a_decode_error() {
        let payload = Payload::value(1_u8);
        let err = payload.into_value::<String>().expect_err("wrong type");
        assert_eq!(err.code(), crate::ErrorCode::Decode);
    }

    #[test]
    fn encoded_values_round_trip_and_garbage_is_an_error() {
        let payload = Payload::encode(&(7_i64, vec![1_u8, 2])).expect("encodes");
        assert!(payload.is_encoded());
        let back: (i64, Vec<u8>) = payload.into_value().expect("decodes");
        assert_eq!(back, (7, vec![1, 2]));

        let garbage = Payload::Encoded(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
        let err = garbage.into_value::<(i64, String)>().expect_err("garbage");
        assert_eq!(err.code(), crate::ErrorCode::Decode);
    }

    #[test]
    fn a_moved_value_can_still_be_encoded_for_the_wire() {
        let moved = Payload::value((3_i64, String::from("three")));
        let bytes = moved.into_bytes().expect("encodes");
        let back: (i64, String) = Payload::Encoded(bytes).into_value().expect("decodes");
        assert_eq!(back, (3, String::from("three")));
    }
}
