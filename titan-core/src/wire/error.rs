//! Errors as they cross the wire.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};

/// An [`Error`] on the wire: a stable code, the rendered message, and the
/// variant's fields as named details, so that the error on the other side is
/// the same variant with the same fields.
///
/// ```
/// use titan_core::{Error, wire::WireError};
///
/// let sent = Error::MethodNotFound { service: "calculator".into(), method: "sqrt".into() };
/// let received = Error::from(WireError::from(&sent));
/// assert_eq!(received, sent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// [`ErrorCode::as_u16`] of the error.
    pub code: u16,
    /// The error, rendered by the sender.
    pub message: String,
    /// The variant's fields, by name.
    pub details: Vec<(String, String)>,
}

impl WireError {
    fn detail(&self, name: &str) -> String {
        self.details
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }
}

fn details<const N: usize>(fields: [(&str, &String); N]) -> Vec<(String, String)> {
    fields
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

impl From<&Error> for WireError {
    fn from(error: &Error) -> WireError {
        let details = match error {
            Error::VersionMismatch {
                service,
                expected,
                found,
            } => details([
                ("service", service),
                ("expected", expected),
                ("found", found),
            ]),
            Error::ServiceNotFound { service } => details([("service", service)]),
            Error::MethodNotFound { service, method } => {
                details([("service", service), ("method", method)])
            }
            Error::ProcessCrashed { process, reason }
            | Error::ProcessStopped { process, reason } => {
                details([("process", process), ("reason", reason)])
            }
            Error::Init { process, reason } => details([("process", process), ("reason", reason)]),
            Error::Unavailable { reason } => details([("reason", reason)]),
            Error::Encode { what, reason }
            | Error::Decode { what, reason }
            | Error::InvalidArgument { what, reason } => {
                details([("what", what), ("reason", reason)])
            }
            Error::Application { message } => details([("message", message)]),
            Error::Internal(message) => details([("message", message)]),
            Error::Layer(_) | Error::Timeout | Error::Cancelled => Vec::new(),
        };
        WireError {
            code: error.code().as_u16(),
            message: error.to_string(),
            details,
        }
    }
}

impl From<Error> for WireError {
    fn from(error: Error) -> WireError {
        WireError::from(&error)
    }
}

impl From<WireError> for Error {
    fn from(wire: WireError) -> Error {
        let Some(code) = ErrorCode::from_u16(wire.code) else {
            return Error::Internal(format!(
                "the peer sent error code {} that this build does not know: {}",
                wire.code, wire.message
            ));
        };
        match code {
            ErrorCode::VersionMismatch => Error::VersionMismatch {
                service: wire.detail("service"),
                expected: wire.detail("expected"),
                found: wire.detail("found"),
            },
            ErrorCode::ServiceNotFound => Error::ServiceNotFound {
                service: wire.detail("service"),
            },
            ErrorCode::MethodNotFound => Error::MethodNotFound {
                service: wire.detail("service"),
                method: wire.detail("method"),
            },
            ErrorCode::ProcessCrashed => Error::ProcessCrashed {
                process: wire.detail("process"),
                reason: wire.detail("reason"),
            },
            ErrorCode::ProcessStopped => Error::ProcessStopped {
                process: wire.detail("process"),
                reason: wire.detail("reason"),
            },
            ErrorCode::Init => Error::Init {
                process: wire.detail("process"),
                reason: wire.detail("reason"),
            },
            ErrorCode::Unavailable => Error::Unavailable {
                reason: wire.detail("reason"),
            },
            ErrorCode::Timeout => Error::Timeout,
            ErrorCode::Cancelled => Error::Cancelled,
            ErrorCode::Encode => Error::Encode {
                what: wire.detail("what"),
                reason: wire.detail("reason"),
            },
            ErrorCode::Decode => Error::Decode {
                what: wire.detail("what"),
                reason: wire.detail("reason"),
            },
            ErrorCode::Application => Error::Application {
                message: wire.detail("message"),
            },
            ErrorCode::Internal => Error::Internal(wire.detail("message")),
            ErrorCode::InvalidArgument => Error::InvalidArgument {
                what: wire.detail("what"),
                reason: wire.detail("reason"),
            },
            // A layer's error object cannot cross; its message does.
            ErrorCode::Layer => Error::Internal(wire.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<Error> {
        let s = |v: &str| v.to_string();
        vec![
            Error::VersionMismatch {
                service: s("calc"),
                expected: s("1.0.0"),
                found: s("2.0.0"),
            },
            Error::ServiceNotFound { service: s("calc") },
            Error::MethodNotFound {
                service: s("calc"),
                method: s("sqrt"),
            },
            Error::ProcessCrashed {
                process: s("calc#1"),
                reason: s("killed by signal 9"),
            },
            Error::ProcessStopped {
                process: s("calc#1"),
                reason: s("killed"),
            },
            Error::Unavailable {
                reason: s("restarting"),
            },
            Error::Timeout,
            Error::Cancelled,
            Error::Encode {
                what: s("a reply"),
                reason: s("too large"),
            },
            Error::Decode {
                what: s("(i64, i64)"),
                reason: s("unexpected end"),
            },
            Error::Init {
                process: s("calc"),
                reason: s("no config"),
            },
            Error::Application { message: s("no") },
            Error::Internal(s("bug")),
            Error::InvalidArgument {
                what: s("an endpoint URL"),
                reason: s("the port is missing"),
            },
        ]
    }

    #[test]
    fn every_error_crosses_the_wire_as_itself() {
        for error in every_error() {
            let wire = WireError::from(&error);
            assert_eq!(wire.code, error.code().as_u16());
            let bytes = postcard::to_stdvec(&wire).expect("encodes");
            let back: WireError = postcard::from_bytes(&bytes).expect("decodes");
            assert_eq!(Error::from(back), error);
        }
    }

    #[test]
    fn an_unknown_code_is_an_internal_error_that_keeps_the_message() {
        let wire = WireError {
            code: 999,
            message: "from the future".into(),
            details: Vec::new(),
        };
        let error = Error::from(wire);
        assert_eq!(error.code(), ErrorCode::Internal);
        assert!(error.to_string().contains("from the future"));
    }
}
