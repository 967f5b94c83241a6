//! The validated model of a process: what `expand` reads, and nothing else.

use std::time::Duration;

use proc_macro2::Span;
use syn::{Attribute, Ident, Type};

/// A process type, checked.
pub(crate) struct Service {
    /// The impl's self type, as written.
    pub(crate) self_ty: Type,
    /// The proxy's name: `CalculatorProxy`.
    pub(crate) proxy: Ident,
    /// The type's name as a string, for diagnostics.
    pub(crate) type_name: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) description: String,
    /// The interface: `#[public]` and `#[health_check]` methods, in declaration order.
    pub(crate) methods: Vec<Method>,
    pub(crate) init: Option<Init>,
    /// The `#[health_check]`s, in declaration order.
    pub(crate) health_checks: Vec<HealthCheck>,
    pub(crate) on_shutdown: Option<OnShutdown>,
    /// Some method (or the shutdown hook) takes `&mut self`: the instance
    /// sits behind a lock.
    pub(crate) needs_lock: bool,
}

/// A method of the interface, checked: `#[public]`, or `#[health_check]`
/// (whose output is [`Output::Health`]).
pub(crate) struct Method {
    pub(crate) ident: Ident,
    /// The method's visibility, which its proxy method shares.
    pub(crate) vis: syn::Visibility,
    pub(crate) id: u32,
    pub(crate) exclusive: bool,
    pub(crate) is_async: bool,
    pub(crate) args: Vec<Arg>,
    /// The index in `args` of the `#[key]` argument.
    pub(crate) key: Option<usize>,
    pub(crate) output: Output,
    /// `#[doc]` attributes, carried over to the proxy.
    pub(crate) docs: Vec<Attribute>,
    pub(crate) doc_text: String,
}

/// One argument: a plain name and an owned type.
pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// `Some(T)` for the stream argument, `Stream<T>`: its items travel
    /// beside the call rather than in the argument tuple.
    pub(crate) item: Option<Type>,
}

/// What a method returns.
#[allow(clippy::large_enum_variant)] // built once per method, at compile time
pub(crate) enum Output {
    /// Nothing: `()`.
    Unit,
    /// A value.
    Value(Type),
    /// `Result<T, E>`: `E` stays typed for the caller.
    Fallible { ok: Type, err: Type },
    /// `Stream<T>` or `impl Stream<Item = T>`: items of type `T`.
    Stream(Type),
    /// A `#[health_check]`'s answer, of a type that converts into `Health`;
    /// it travels as a `Health`.
    Health(Type),
}

/// A `#[health_check]`, checked.
pub(crate) struct HealthCheck {
    /// Its method's index in [`Service::methods`].
    pub(crate) method: usize,
    pub(crate) kind: HealthKind,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) failure_threshold: u32,
}

/// `titan_core::health::HealthKind`, at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HealthKind {
    Liveness,
    Readiness,
    Startup,
}

/// The `#[on_shutdown]` hook, checked.
pub(crate) struct OnShutdown {
    pub(crate) ident: Ident,
    pub(crate) is_async: bool,
    /// Takes `&mut self`.
    pub(crate) exclusive: bool,
}

/// The `#[init]` constructor, checked.
pub(crate) struct Init {
    pub(crate) ident: Ident,
    pub(crate) is_async: bool,
    /// The config argument's type; `None` for `fn new() -> ...`.
    pub(crate) config: Option<Type>,
    /// Returns `Result<Self, E>` rather than `Self`.
    pub(crate) fallible: bool,
    pub(crate) span: Span,
}
