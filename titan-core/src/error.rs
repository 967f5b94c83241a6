//! Errors: [`Error`] for everything that goes wrong *around* a call (the process is
//! gone, the method is unknown, bytes do not decode, time ran out) and
//! [`CallError`] for methods that can also fail on their own terms.
//!
//! The split is deliberate. A caller of `quote(sym) -> Result<f64, QuoteError>`
//! must be able to tell "the quote service said no" ([`CallError::Application`])
//! from "the quote service is unreachable" ([`CallError::Runtime`]): the first is
//! an answer, the second is a reason to retry elsewhere.

use std::fmt;
use std::sync::Arc;

/// A failure of the runtime or the transport, never of the method itself.
///
/// Every variant has an [`ErrorCode`], which is what crosses the wire and what
/// maps onto HTTP status codes, so the same failure reads the same everywhere.
///
/// ```
/// use titan_core::{Error, ErrorCode};
///
/// let err = Error::Timeout;
/// assert_eq!(err.code(), ErrorCode::Timeout);
/// assert!(err.is_retryable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller and the service disagree on the service's major version.
    #[error(
        "service `{service}` is at version {found}, but this caller was built for {expected}; rebuild the caller against the new version or run both versions side by side"
    )]
    VersionMismatch {
        /// The service name.
        service: String,
        /// The version the caller was compiled against.
        expected: String,
        /// The version the service runs.
        found: String,
    },
    /// No service of that name is served here.
    #[error("no service named `{service}` is served here")]
    ServiceNotFound {
        /// The service that was asked for.
        service: String,
    },
    /// The service has no method with that id.
    #[error("service `{service}` has no method {method}")]
    MethodNotFound {
        /// The service name.
        service: String,
        /// The method's name if known, otherwise its numeric id.
        method: String,
    },
    /// The process died (panicked, or its OS process exited) while serving or before the call.
    #[error("process `{process}` crashed: {reason}")]
    ProcessCrashed {
        /// The process label, `name#id`.
        process: String,
        /// Why it crashed, as far as is known.
        reason: String,
    },
    /// The process was stopped or killed; it takes no more calls.
    #[error(
        "process `{process}` has stopped ({reason}) and takes no more calls; spawn it again to call it"
    )]
    ProcessStopped {
        /// The process label, `name#id`.
        process: String,
        /// `killed`, `shut down`, …
        reason: String,
    },
    /// The target cannot take calls right now (restarting, shutting down, no provider).
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What is unavailable and why.
        reason: String,
    },
    /// The call's deadline passed before a reply arrived.
    #[error("the call timed out")]
    Timeout,
    /// The call was cancelled before it completed.
    #[error("the call was cancelled")]
    Cancelled,
    /// A value could not be encoded for the wire.
    #[error("could not encode {what}: {reason}")]
    Encode {
        /// What was being encoded (arguments, a reply, a config).
        what: String,
        /// The encoder's complaint.
        reason: String,
    },
    /// Bytes from the other side could not be decoded into the expected type.
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The process's `#[init]` constructor returned an error.
    #[error("process `{process}` failed to start: {reason}")]
    Init {
        /// The process name.
        process: String,
        /// The constructor's error, rendered.
        reason: String,
    },
    /// An application error whose type this caller does not know (a dynamic or
    /// untyped caller); typed proxies surface application errors as
    /// [`CallError::Application`] instead.
    #[error("the service returned an error: {message}")]
    Application {
        /// The error, rendered by the service.
        message: String,
    },
    /// A middleware layer (tower) failed the call with an error of its own.
    #[error("a middleware layer failed the call: {0}")]
    Layer(Arc<dyn std::error::Error + Send + Sync>),
    /// A bug or an invariant broken inside Titan; please report it.
    #[error("internal error: {0}")]
    Internal(String),
    /// Something the caller gave is not valid (a malformed URL, a config that
    /// makes no sense); trying again with the same input fails again.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// What was given (`an endpoint URL`, …).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The stable, transport-independent code of an [`Error`].
///
/// Codes are what a `WireError` carries and what HTTP statuses are derived from;
/// each maps one-to-one onto an [`Error`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// [`Error::VersionMismatch`]
    VersionMismatch,
    /// [`Error::ServiceNotFound`]
    ServiceNotFound,
    /// [`Error::MethodNotFound`]
    MethodNotFound,
    /// [`Error::ProcessCrashed`]
    ProcessCrashed,
    /// [`Error::ProcessStopped`]
    ProcessStopped,
    /// [`Error::Unavailable`]
    Unavailable,
    /// [`Error::Timeout`]
    Timeout,
    /// [`Error::Cancelled`]
    Cancelled,
    /// [`Error::Encode`]
    Encode,
    /// [`Error::Decode`]
    Decode,
    /// [`Error::Init`]
    Init,
    /// [`Error::Application`]
    Application,
    /// [`Error::Layer`]
    Layer,
    /// [`Error::Internal`]
    Internal,
    /// [`Error::InvalidArgument`]
    InvalidArgument,
}

impl ErrorCode {
    const ALL: [ErrorCode; 15] = [
        ErrorCode::VersionMismatch,
        ErrorCode::ServiceNotFound,
        ErrorCode::MethodNotFound,
        ErrorCode::ProcessCrashed,
        ErrorCode::ProcessStopped,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::Cancelled,
        ErrorCode::Encode,
        ErrorCode::Decode,
        ErrorCode::Init,
        ErrorCode::Application,
        ErrorCode::Layer,
        ErrorCode::Internal,
        ErrorCode::InvalidArgument,
    ];

    /// The code's number on the wire. Numbers are never reused.
    pub const fn as_u16(self) -> u16 {
        match self {
            ErrorCode::VersionMismatch => 1,
            ErrorCode::ServiceNotFound => 2,
            ErrorCode::MethodNotFound => 3,
            ErrorCode::ProcessCrashed => 4,
            ErrorCode::ProcessStopped => 5,
            ErrorCode::Unavailable => 6,
            ErrorCode::Timeout => 7,
            ErrorCode::Cancelled => 8,
            ErrorCode::Encode => 9,
            ErrorCode::Decode => 10,
            ErrorCode::Init => 11,
            ErrorCode::Application => 12,
            ErrorCode::Layer => 13,
            ErrorCode::Internal => 14,
            ErrorCode::InvalidArgument => 15,
        }
    }

    /// The code with wire number `n`, if this build knows it.
    pub fn from_u16(n: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|code| code.as_u16() == n)
    }
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::VersionMismatch { .. } => ErrorCode::VersionMismatch,
            Error::ServiceNotFound { .. } => ErrorCode::ServiceNotFound,
            Error::MethodNotFound { .. } => ErrorCode::MethodNotFound,
            Error::ProcessCrashed { .. } => ErrorCode::ProcessCrashed,
            Error::ProcessStopped { .. } => ErrorCode::ProcessStopped,
            Error::Unavailable { .. } => ErrorCode::Unavailable,
            Error::Timeout => ErrorCode::Timeout,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::Encode { .. } => ErrorCode::Encode,
            Error::Decode { .. } => ErrorCode::Decode,
            Error::Init { .. } => ErrorCode::Init,
            Error::Application { .. } => ErrorCode::Application,
            Error::Layer(_) => ErrorCode::Layer,
            Error::Internal(_) => ErrorCode::Internal,
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
        }
    }

    /// Whether trying the same call again (later, or on another provider) may succeed.
    ///
    /// True for crashes, unavailability and timeouts; false for errors that would
    /// repeat identically (unknown method, undecodable bytes, version mismatch).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::ProcessCrashed { .. } | Error::Unavailable { .. } | Error::Timeout
        )
    }

    /// Turns an error raised by a tower layer into an [`Error`].
    ///
    /// An [`Error`] passed through a layer comes back as itself; tower's own
    /// timeout becomes [`Error::Timeout`]; anything else is kept as [`Error::Layer`].
    pub fn from_layer(error: tower::BoxError) -> Error {
        let error = match error.downcast::<Error>() {
            Ok(error) => return *error,
            Err(other) => other,
        };
        if error.is::<tower::timeout::error::Elapsed>() {
            return Error::Timeout;
        }
        Error::Layer(Arc::from(error))
    }

    pub(crate) fn decode(what: impl Into<String>, reason: impl fmt::Display) -> Error {
        Error::Decode {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn encode(what: impl Into<String>, reason: impl fmt::Display) -> Error {
        Error::Encode {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// The error of a proxy call to a method that returns `Result<T, E>`.
///
/// Why not `Result<Result<T, E>, Error>`? A nested result makes every call site
/// write `??` and makes it easy to flatten the two failures into one by accident.
/// One enum keeps both cases visible in a single `match`, still lets `?` lift a
/// runtime [`Error`] into it (`From<Error>`), and converts into `anyhow::Error`
/// or `Box<dyn Error>` when `E` is itself an error type.
///
/// ```
/// use titan_core::{CallError, Error};
///
/// #[derive(Debug, PartialEq)]
/// enum DivError { ByZero }
///
/// fn explain(result: Result<i64, CallError<DivError>>) -> &'static str {
///     match result {
///         Ok(_) => "ok",
///         Err(CallError::Application(DivError::ByZero)) => "the service said: division by zero",
///         Err(CallError::Runtime(_)) => "the service could not be reached",
///     }
/// }
/// assert_eq!(explain(Err(CallError::Application(DivError::ByZero))), "the service said: division by zero");
/// assert_eq!(explain(Err(Error::Timeout.into())), "the service could not be reached");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The method ran and returned its own error.
    Application(E),
    /// The call did not complete: the runtime or the transport failed.
    Runtime(Error),
}

impl<E> CallError<E> {
    /// The application error, if the method returned one.
    pub fn application(&self) -> Option<&E> {
        match self {
            CallError::Application(e) => Some(e),
            CallError::Runtime(_) => None,
        }
    }

    /// The runtime error, if the call did not complete.
    pub fn runtime(&self) -> Option<&Error> {
        match self {
            CallError::Runtime(e) => Some(e),
            CallError::Application(_) => None,
        }
    }

    /// Consumes the error, returning the application error if there is one.
    pub fn into_application(self) -> Option<E> {
        match self {
            CallError::Application(e) => Some(e),
            CallError::Runtime(_) => None,
        }
    }
}

impl<E> From<Error> for CallError<E> {
    fn from(error: Error) -> Self {
        CallError::Runtime(error)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Application(e) => e.fmt(f),
            CallError::Runtime(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Application(e) => e.source(),
            CallError::Runtime(e) => std::error::Error::source(e),
        }
    }
}

// `Error::Layer` holds a trait object; compare errors by code and rendering so
// that `CallError<E>: PartialEq` is usable in tests.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code() && self.to_string() == other.to_string()
    }
}

impl Eq for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_numbers_are_distinct_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_u16()), "{code:?} reuses a number");
            assert_eq!(ErrorCode::from_u16(code.as_u16()), Some(code));
        }
        assert_eq!(ErrorCode::from_u16(0), None);
    }

    #[test]
    fn tower_timeout_becomes_timeout() {
        let boxed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(Error::from_layer(boxed), Error::Timeout);
    }

    #[test]
    fn titan_error_through_a_layer_comes_back_as_itself() {
        let boxed: tower::BoxError = Box::new(Error::Cancelled);
        assert_eq!(Error::from_layer(boxed).code(), ErrorCode::Cancelled);
    }

    #[test]
    fn foreign_layer_error_is_kept() {
        let boxed: tower::BoxError = "overloaded".into();
        let err = Error::from_layer(boxed);
        assert_eq!(err.code(), ErrorCode::Layer);
        assert!(err.to_string().contains("overloaded"));
    }

    #[test]
    fn call_error_lifts_runtime_errors() {
        let err: CallError<String> = Error::Timeout.into();
        assert_eq!(err.runtime(), Some(&Error::Timeout));
        assert_eq!(err.application(), None);
    }
}
