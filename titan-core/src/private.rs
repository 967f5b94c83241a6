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

pub use crate::caller::{Client, Payload, Request};
pub use crate::definition::{
    ArgDefinition, MethodDefinition, MethodId, Receiver, ServiceDefinition,
};
pub use crate::entry::{Flavor, run};
pub use crate::error::{CallError, Error};
pub use crate::process::{Process, Proxy};
pub use crate::registry::Registration;

/// The lock a process sits behind when some method takes `&mut self`.
pub type RwLock<T> = tokio::sync::RwLock<T>;
/// Shared ownership of a running instance.
pub type Arc<T> = std::sync::Arc<T>;
/// What `Process::dispatch` resolves to.
pub type DispatchResult = Result<Payload, Error>;
/// What `Process::init` resolves to.
pub type InitResult<S> = Result<S, Error>;

/// Calls `method` with `args` through `client` and decodes the reply as `R`.
pub async fn call<A, R>(
    client: &Client,
    service: &'static ServiceDefinition,
    method: &'static MethodDefinition,
    args: A,
) -> Result<R, Error>
where
    A: Serialize + Send + 'static,
    R: DeserializeOwned + Send + 'static,
{
    let request = Request {
        service,
        method,
        payload: Payload::value(args),
        deadline: None,
    };
    client.call(request).await?.payload.into_value::<R>()
}

/// [`call`] for a method returning `Result<T, E>`: splits the application error
/// from runtime errors.
pub async fn call_fallible<A, T, E>(
    client: &Client,
    service: &'static ServiceDefinition,
    method: &'static MethodDefinition,
    args: A,
) -> Result<T, CallError<E>>
where
    A: Serialize + Send + 'static,
    T: DeserializeOwned + Send + 'static,
    E: DeserializeOwned + Send + 'static,
{
    match call::<A, Result<T, E>>(client, service, method, args).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CallError::Application(error)),
        Err(error) => Err(CallError::Runtime(error)),
    }
}

/// Takes a method's arguments out of a request payload.
pub fn args<A: DeserializeOwned + Send + 'static>(payload: Payload) -> Result<A, Error> {
    payload.into_value::<A>()
}

/// Wraps a method's return value as a reply, encoded iff the request was.
pub fn reply<R: Serialize + Send + 'static>(encoded: bool, value: R) -> DispatchResult {
    Payload::reply_like(encoded, value)
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

/// Implemented for every `Serialize` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or use a type that implements them"
)]
pub trait WireSerialize {}
impl<T: Serialize + ?Sized> WireSerialize for T {}

/// Implemented for every `DeserializeOwned` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement `serde::Deserialize`",
    label = "not `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or use an owned type that implements them"
)]
pub trait WireDeserialize {}
impl<T: DeserializeOwned> WireDeserialize for T {}

/// Implemented for every `Send + 'static` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be moved to the task that runs the process: it is not `Send + 'static`",
    label = "not `Send + 'static`",
    note = "use owned, thread-safe types (`Arc` instead of `Rc`, `String` instead of `&str`)"
)]
pub trait WireSend {}
impl<T: Send + 'static> WireSend for T {}

/// Asserts at compile time that `T` may travel as an argument or a result.
pub const fn assert_serialize<T: WireSerialize + ?Sized>() {}
/// Asserts at compile time that `T` may be received as an argument or a result.
pub const fn assert_deserialize<T: WireDeserialize>() {}
/// Asserts at compile time that `T` may move between tasks.
pub const fn assert_send<T: WireSend>() {}
/// Asserts at compile time that `T` can be built without `#[init]`.
pub const fn assert_default<T: DefaultConstructible>() {}

/// Asserts that a method's future may run on any worker thread.
pub fn assert_send_future<F: std::future::Future + Send>(future: F) -> F {
    future
}
