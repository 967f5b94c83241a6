//! Helpers for the code that `#[process]` generates. Not a public API.
//!
//! Generated code names runtime items only through this module, so the macros
//! stay stable while the runtime moves, and users need no direct dependency on
//! serde, postcard, inventory or tokio. Everything here is ordinary Rust,
//! tested like the rest of the crate; the expansion stays thin.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use ::inventory;
pub use ::postcard;
pub use ::serde;
pub use ::tokio;

pub use crate::caller::{CallKey, Client, ItemStream, Payload, Request, Response};
pub use crate::definition::{
    ArgDefinition, MethodDefinition, MethodId, Receiver, ServiceDefinition,
};
pub use crate::entry::{Flavor, run};
pub use crate::error::{CallError, Error};
pub use crate::health::{Health, HealthCheck, HealthKind};
pub use crate::process::{Process, Proxy};
pub use crate::registry::Registration;
pub use crate::stream::Stream;

/// The lock a process sits behind when some method takes `&mut self`.
pub type RwLock<T> = tokio::sync::RwLock<T>;
/// Shared ownership of a running instance.
pub type Arc<T> = std::sync::Arc<T>;
/// What `Process::dispatch` resolves to.
pub type DispatchResult = Result<Response, Error>;
/// What `Process::init` resolves to.
pub type InitResult<S> = Result<S, Error>;

// Generated code passes every argument and result type explicitly, one type
// per turbofish slot (`pack2::<A, B>`, `call::<R>`), and the bounds below are
// on those slots. A type that lacks a bound is therefore reported at the
// user's own type, once, with the message of the `Wire*` trait it misses.

/// Calls `method` with the packed `args` (and the items of its stream
/// argument, if it has one) through `client`. Not generic, so awaiting it
/// never raises a bound error at the macro's span.
pub async fn invoke(
    client: &Client,
    service: &'static ServiceDefinition,
    method: &'static MethodDefinition,
    args: Payload,
    stream: Option<ItemStream>,
) -> Result<Response, Error> {
    invoke_keyed(client, service, method, args, stream, None).await
}

/// [`invoke`] with the call key of the method's `#[key]` argument. A key the
/// caller set with `with_key` replaces it further down the client.
pub async fn invoke_keyed(
    client: &Client,
    service: &'static ServiceDefinition,
    method: &'static MethodDefinition,
    args: Payload,
    stream: Option<ItemStream>,
    key: Option<CallKey>,
) -> Result<Response, Error> {
    let request = Request {
        service,
        method,
        payload: args,
        deadline: None,
        stream,
        key,
    };
    client.call(request).await
}

/// The call key of a `#[key]` argument, taken before the argument is packed.
pub fn key_of<K: Keyable + ?Sized>(value: &K) -> Option<CallKey> {
    Some(CallKey::of(value))
}

/// The answer of a `#[health_check]` method, as it travels.
pub fn into_health<T: HealthAnswer>(answer: T) -> Health {
    answer.into()
}

/// Takes the reply of [`invoke`] as an `R`.
pub fn take<R: WireDeserialize + WireSend>(reply: Result<Response, Error>) -> Result<R, Error> {
    reply?.payload.into_value::<R>()
}

/// Takes the reply of [`invoke`] for a method returning `Result<T, E>`, keeping
/// the application error apart from runtime errors.
pub fn take_fallible<T, E>(reply: Result<Response, Error>) -> Result<T, CallError<E>>
where
    T: WireDeserialize + WireSend,
    E: WireDeserialize + WireSend,
{
    match take::<Result<T, E>>(reply) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CallError::Application(error)),
        Err(error) => Err(CallError::Runtime(error)),
    }
}

/// Takes the reply of [`invoke`] for a method returning a stream of `T`: the
/// caller gets each item, or the error that ended the stream.
pub fn take_stream<T: WireDeserialize + WireSend>(
    reply: Result<Response, Error>,
) -> Result<Stream<Result<T, Error>>, Error> {
    let items = reply?.stream.ok_or_else(|| {
        Error::Internal("a method that returns a stream replied without one".into())
    })?;
    Ok(Stream::new(futures::StreamExt::map(items, |item| {
        item.and_then(Payload::into_value::<T>)
    })))
}

/// The items of a stream argument, on their way to the process.
pub fn outgoing<T: WireSerialize + WireSend>(items: Stream<T>) -> Option<ItemStream> {
    Some(Box::pin(futures::StreamExt::map(items, |item| {
        Ok(Payload::value(item))
    })))
}

/// The stream argument of a method, from the items of a request. A broken
/// stream (the caller's connection failed, an item did not decode) ends early;
/// the reason is logged, and a lost connection fails the call anyway.
pub fn incoming<T: WireDeserialize + WireSend>(
    stream: Option<ItemStream>,
) -> Result<Stream<T>, Error> {
    let items = stream.ok_or_else(|| Error::Decode {
        what: "the stream argument".into(),
        reason: "the request brought no stream".into(),
    })?;
    Ok(Stream::new(futures::stream::unfold(
        Some(items),
        |items| async move {
            let mut items = items?;
            match futures::StreamExt::next(&mut items).await? {
                Ok(item) => match item.into_value::<T>() {
                    Ok(value) => Some((value, Some(items))),
                    Err(error) => {
                        tracing::warn!(%error, "a stream argument's item did not decode; the stream ends");
                        None
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "a stream argument broke off; the stream ends");
                    None
                }
            }
        },
    )))
}

/// Wraps a method's return value as a reply, encoded iff the request was.
pub fn reply<R: WireSerialize + WireSend>(encoded: bool, value: R) -> DispatchResult {
    Payload::reply_like(encoded, value).map(Response::new)
}

/// [`reply`] for a method returning `Result<T, E>`.
pub fn reply_fallible<T, E>(encoded: bool, value: Result<T, E>) -> DispatchResult
where
    T: WireSerialize + WireSend,
    E: WireSerialize + WireSend,
{
    Payload::reply_like(encoded, value).map(Response::new)
}

/// [`reply`] for a method returning a stream of `T`.
pub fn reply_stream<T, S>(encoded: bool, items: S) -> DispatchResult
where
    T: WireSerialize + WireSend,
    S: futures::Stream<Item = T> + Send + 'static,
{
    let items = futures::StreamExt::map(items, move |item| Payload::reply_like(encoded, item));
    Ok(Response {
        payload: Payload::reply_like(encoded, ())?,
        stream: Some(Box::pin(items)),
    })
}

/// Packs and unpacks the arguments of a method with N arguments, one type
/// parameter per argument (see above for why).
macro_rules! arity {
    ($($pack:ident $unpack:ident ($($arg:ident: $ty:ident),*);)*) => {$(
        /// Packs a method's arguments into a request payload.
        #[allow(clippy::too_many_arguments)]
        pub fn $pack<$($ty: WireSerialize + WireSend),*>($($arg: $ty),*) -> Payload {
            Payload::value(($($arg,)*))
        }

        /// Takes a method's arguments out of a request payload.
        pub fn $unpack<$($ty: WireDeserialize + WireSend),*>(args: Payload) -> Result<($($ty,)*), Error> {
            args.into_value::<($($ty,)*)>()
        }
    )*};
}

/// The most arguments a `#[public]` method may take.
pub const MAX_ARGS: usize = 12;

arity! {
    pack0 unpack0 ();
    pack1 unpack1 (a1: A1);
    pack2 unpack2 (a1: A1, a2: A2);
    pack3 unpack3 (a1: A1, a2: A2, a3: A3);
    pack4 unpack4 (a1: A1, a2: A2, a3: A3, a4: A4);
    pack5 unpack5 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5);
    pack6 unpack6 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6);
    pack7 unpack7 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7);
    pack8 unpack8 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, a8: A8);
    pack9 unpack9 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, a8: A8, a9: A9);
    pack10 unpack10 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, a8: A8, a9: A9, a10: A10);
    pack11 unpack11 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, a8: A8, a9: A9, a10: A10, a11: A11);
    pack12 unpack12 (a1: A1, a2: A2, a3: A3, a4: A4, a5: A5, a6: A6, a7: A7, a8: A8, a9: A9, a10: A10, a11: A11, a12: A12);
}

/// The error for a method id the dispatch table does not know.
pub fn unknown_method(service: &'static ServiceDefinition, method: MethodId) -> Error {
    Error::MethodNotFound {
        service: service.to_string(),
        method: method.to_string(),
    }
}

/// Builds a process with `Default` (no `#[init]`).
pub fn init_default<T: DefaultConstructible>() -> T {
    T::construct()
}

/// Maps the result of a fallible `#[init]` into the runtime's error.
pub fn init_result<T, E: Display>(process: &'static str, result: Result<T, E>) -> InitResult<T> {
    result.map_err(|error| Error::Init {
        process: process.to_string(),
        reason: error.to_string(),
    })
}

// Bound checks. `#[process]` calls each one at the span of the user's own type,
// so a missing bound is reported there, with a message that says how to fix it.

/// Implemented for every `Default` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[init]` constructor and does not implement `Default`",
    label = "this process cannot be constructed",
    note = "add `#[derive(Default)]` to `{Self}`, or mark an associated `async fn new(config: C) -> Result<Self, E>` with `#[init]`"
)]
pub trait DefaultConstructible {
    /// `Default::default()`.
    fn construct() -> Self;
}

impl<T: Default> DefaultConstructible for T {
    fn construct() -> Self {
        T::default()
    }
}

/// A type that can be sent to another process: `Serialize`, with a message
/// that says how to make it so.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or use a type that implements them"
)]
pub trait WireSerialize: Serialize {}
impl<T: Serialize + ?Sized> WireSerialize for T {}

/// A type that can be received from another process: `DeserializeOwned`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement `serde::Deserialize`",
    label = "not `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or use an owned type that implements them"
)]
pub trait WireDeserialize: DeserializeOwned {}
impl<T: DeserializeOwned> WireDeserialize for T {}

/// A type that can move to the task or thread that runs the process: `Send + 'static`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be moved to the task that runs the process: it is not `Send + 'static`",
    label = "not `Send + 'static`",
    note = "use owned, thread-safe types (`Arc` instead of `Rc`, `String` instead of `&str`)"
)]
pub trait WireSend: Send + 'static {}
impl<T: Send + 'static> WireSend for T {}

/// A type that can be a call key (`#[key]`): `Hash`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a call key: it does not implement `Hash`",
    label = "not `Hash`, so this `#[key]` argument cannot route the call",
    note = "add `#[derive(Hash, PartialEq, Eq)]` to `{Self}`, or mark another argument `#[key]`"
)]
pub trait Keyable: std::hash::Hash {}
impl<T: std::hash::Hash + ?Sized> Keyable for T {}

/// What a `#[health_check]` method may return: anything that converts into [`Health`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a health answer: a `#[health_check]` method returns `Health`, `HealthStatus` or `bool`",
    label = "not `Health`, `HealthStatus` or `bool`",
    note = "return a `Health` (`Health::healthy()`, `Health::degraded(why)`, `Health::unhealthy(why)`), a `HealthStatus` or a `bool` (`true` is healthy); \
            a check that fails answers `Health::unhealthy(why)` rather than an `Err`, and a type of your own converts by implementing `From<YourType> for Health`"
)]
pub trait HealthAnswer: Into<Health> {}
// Not recommended, so a type that does not convert is reported as "not a
// health answer" (above) rather than as a missing `From<T> for Health`.
#[diagnostic::do_not_recommend]
impl<T: Into<Health>> HealthAnswer for T {}

/// Asserts that a method's future may run on any worker thread.
pub fn assert_send_future<F: std::future::Future + Send>(future: F) -> F {
    future
}
