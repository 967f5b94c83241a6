//! Service definitions: the static description of a process's interface.
//!
//! `#[process]` builds one [`ServiceDefinition`] per process type at compile
//! time. It is what [`registry`](crate::registry()) lists, what the HTTP
//! transport will return from `GET /{service}/definition`, and what discovery
//! will advertise. It is plain data: no function pointers, nothing to call.

use std::fmt;

use serde::Serialize;

/// The 32-bit identity of a method on the wire.
///
/// Computed at compile time from the method's name (FNV-1a), so it is stable when
/// methods are reordered or added; `#[process]` rejects two names that hash alike.
///
/// ```
/// use titan_core::MethodId;
///
/// assert_eq!(MethodId::of("add"), MethodId::of("add"));
/// assert_ne!(MethodId::of("add"), MethodId::of("sub"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MethodId(pub u32);

impl MethodId {
    /// The id of the method called `name` (32-bit FNV-1a of its UTF-8 bytes).
    pub const fn of(name: &str) -> MethodId {
        let bytes = name.as_bytes();
        let mut hash: u32 = 0x811c_9dc5;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u32;
            hash = hash.wrapping_mul(0x0100_0193);
            i += 1;
        }
        MethodId(hash)
    }
}

impl fmt::Display for MethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:08x}", self.0)
    }
}

/// How a method borrows the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Receiver {
    /// `&self`: runs concurrently with other `&self` calls.
    Shared,
    /// `&mut self`: runs alone; the process holds a lock for it.
    Exclusive,
}

/// One argument of a method: its name and its type as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArgDefinition {
    /// The argument's name.
    pub name: &'static str,
    /// The argument's type, as written in the source.
    #[serde(rename = "type")]
    pub ty: &'static str,
}

/// One method of a process's interface: a `#[public]` method, or a
/// `#[health_check]` (whose `result` is `"Health"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MethodDefinition {
    /// The method's name.
    pub name: &'static str,
    /// Its wire identity, [`MethodId::of`] its name.
    pub id: MethodId,
    /// Its arguments, in order.
    pub args: &'static [ArgDefinition],
    /// The name of its `#[key]` argument, if it has one: a pool whose
    /// strategy routes by key (key-hash, consistent-hash) sends calls with
    /// equal values of that argument to the same worker. A key the caller
    /// sets with [`Proxy::with_key`](crate::Proxy::with_key) takes precedence.
    pub key: Option<&'static str>,
    /// The success type as written (`T` of `Result<T, E>`, or the whole return type).
    pub result: &'static str,
    /// The application error type as written, for methods returning `Result<T, E>`.
    pub error: Option<&'static str>,
    /// `&self` or `&mut self`.
    pub receiver: Receiver,
    /// Takes a stream argument (`Stream<T>`), whose items the caller sends.
    pub client_streaming: bool,
    /// Returns a stream, whose items the process sends; `result` is the item type.
    pub server_streaming: bool,
    /// The method's doc comment.
    pub docs: &'static str,
}

/// The interface of a process type: its name, version and methods.
///
/// ```
/// use titan_core::prelude::*;
///
/// #[derive(Default)]
/// struct Echo;
///
/// #[process(version = "2.1.0")]
/// impl Echo {
///     /// Returns its argument.
///     #[public]
///     async fn echo(&self, text: String) -> String { text }
/// }
///
/// let def = Echo::DEFINITION;
/// assert_eq!(def.to_string(), "echo@2.1.0");
/// assert_eq!(def.method("echo").map(|m| m.args[0].ty), Some("String"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceDefinition {
    /// The service name (`#[process(name = ...)]`, by default the type name in kebab-case).
    pub name: &'static str,
    /// The service version, semver.
    pub version: &'static str,
    /// `#[process(description = ...)]`, or the impl block's doc comment.
    pub description: &'static str,
    /// The public methods, in declaration order.
    pub methods: &'static [MethodDefinition],
}

impl ServiceDefinition {
    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&'static MethodDefinition> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The method with wire id `id`.
    pub fn method_by_id(&self, id: MethodId) -> Option<&'static MethodDefinition> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// Whether a caller built against `version` may call this service:
    /// the same major version (for `0.x`, the same minor version), as Cargo's
    /// caret requirements decide compatibility.
    pub fn accepts(&self, version: &str) -> bool {
        compatible(self.version, version)
    }
}

impl fmt::Display for ServiceDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// Semver compatibility by Cargo's caret rule: leftmost non-zero component equal.
pub(crate) fn compatible(a: &str, b: &str) -> bool {
    // The common case, on every call: the very same version.
    if a == b {
        return a
            .split(['-', '+'])
            .next()
            .is_some_and(|core| core.split('.').count() == 3);
    }
    fn key(v: &str) -> Option<(u64, u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??, parts.next()??))
    }
    match (key(a), key(b)) {
        (Some((0, 0, pa)), Some((0, 0, pb))) => pa == pb,
        (Some((0, ma, _)), Some((0, mb, _))) => ma == mb,
        (Some((ma, _, _)), Some((mb, _, _))) => ma == mb,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_id_is_fnv1a() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(MethodId::of("").0, 0x811c_9dc5);
        assert_eq!(MethodId::of("a").0, 0xe40c_292c);
        assert_eq!(MethodId::of("foobar").0, 0xbf9c_f968);
    }

    #[test]
    fn versions_are_compatible_within_a_major() {
        assert!(compatible("1.2.3", "1.0.0"));
        assert!(compatible("1.2.3", "1.9.0-beta.1"));
        assert!(!compatible("2.0.0", "1.9.9"));
        assert!(compatible("0.3.1", "0.3.0"));
        assert!(!compatible("0.3.1", "0.4.0"));
        assert!(!compatible("0.0.1", "0.0.2"));
        assert!(!compatible("1.0", "1.0.0"));
    }
}
