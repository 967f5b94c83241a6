//! Where a server listens and a client connects: `unix:///path` or `tcp://host:port`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// An address to listen on or connect to, parsed from a URL.
///
/// | URL | meaning |
/// | --- | --- |
/// | `unix:///run/titan.sock` | a unix socket at an absolute path |
/// | `unix://titan.sock` | a unix socket at a path relative to the working directory |
/// | `tcp://127.0.0.1:7000` | TCP on an IPv4 address |
/// | `tcp://[::1]:7000` | TCP on an IPv6 address |
/// | `tcp://localhost:7000` | TCP on a host name (resolved when binding or connecting) |
/// | `tcp://127.0.0.1:0` | a server picks a free port: ask it with [`Server::local_addr`](crate::Server::local_addr) |
///
/// ```
/// use titan_transport::Endpoint;
///
/// let tcp: Endpoint = "tcp://127.0.0.1:7000".parse()?;
/// assert_eq!(tcp, Endpoint::Tcp { host: "127.0.0.1".into(), port: 7000 });
/// assert_eq!(tcp.to_string(), "tcp://127.0.0.1:7000");
///
/// let unix: Endpoint = "unix:///tmp/titan.sock".parse()?;
/// assert_eq!(unix, Endpoint::Unix("/tmp/titan.sock".into()));
///
/// let error = "http://example.com".parse::<Endpoint>().expect_err("not supported");
/// assert!(error.to_string().contains("unix://"), "{error}");
/// # Ok::<(), titan_transport::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix domain socket at this path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp {
        /// A host name or an IP address (an IPv6 address without its brackets).
        host: String,
        /// The port; `0` lets a server pick a free one.
        port: u16,
    },
}

/// Why a string is not an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{url}` is not a titan endpoint: {reason}")]
pub struct EndpointError {
    /// The string that was given.
    pub url: String,
    /// What is wrong with it, and what was expected.
    pub reason: String,
}

impl Endpoint {
    /// Parses a URL: `unix://PATH` or `tcp://HOST:PORT`.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let error = |reason: String| EndpointError {
            url: url.to_string(),
            reason,
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(error(
                "expected a URL such as `tcp://127.0.0.1:7000` or `unix:///tmp/titan.sock`".into(),
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "unix" => {
                if rest.is_empty() {
                    return Err(error(
                        "a unix endpoint needs a socket path, as in `unix:///tmp/titan.sock`"
                            .into(),
                    ));
                }
                if rest.contains('\0') {
                    return Err(error("a socket path cannot contain a NUL byte".into()));
                }
                Ok(Endpoint::Unix(PathBuf::from(rest)))
            }
            "tcp" => parse_tcp(rest).map_err(error),
            "" => Err(error(
                "the scheme is missing: use `unix://` or `tcp://`".into(),
            )),
            other => Err(error(format!(
                "the scheme `{other}` is not supported: use `unix://` or `tcp://` \
                 (HTTP and TLS are planned)"
            ))),
        }
    }

    /// The unix socket path, for a unix endpoint.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Endpoint::Unix(path) => Some(path),
            Endpoint::Tcp { .. } => None,
        }
    }

    /// `host:port`, with an IPv6 host in brackets: what `TcpStream::connect` takes.
    pub(crate) fn tcp_authority(host: &str, port: u16) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

fn parse_tcp(rest: &str) -> Result<Endpoint, String> {
    // Tolerate one trailing slash (`tcp://host:1/`), nothing else after the port.
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err("a tcp endpoint is only `tcp://HOST:PORT`, with no path or query".into());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("an IPv6 address must be closed with `]`, as in `tcp://[::1]:7000`".into());
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(
                "the port is missing: write `tcp://[HOST]:PORT` (port 0 picks a free one)".into(),
            );
        };
        (host, port)
    } else {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err(
                "the port is missing: write `tcp://HOST:PORT` (port 0 picks a free one)".into(),
            );
        };
        if host.contains(':') {
            return Err("an IPv6 address must be in brackets, as in `tcp://[::1]:7000`".into());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(
            "the host is missing: write `tcp://HOST:PORT`, as in `tcp://127.0.0.1:7000`".into(),
        );
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("the port `{port}` is not a number from 0 to 65535"))?;
    Ok(Endpoint::Tcp {
        host: host.to_string(),
        port,
    })
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(url: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(url)
    }
}

impl TryFrom<&str> for Endpoint {
    type Error = EndpointError;

    fn try_from(url: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(url)
    }
}

impl TryFrom<String> for Endpoint {
    type Error = EndpointError;

    fn try_from(url: String) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(&url)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port } => {
                write!(f, "tcp://{}", Endpoint::tcp_authority(host, *port))
            }
        }
    }
}

/// Anything that names an [`Endpoint`]: a URL (`&str`, `String`) or an
/// `Endpoint` itself (such as [`Server::local_addr`](crate::Server::local_addr)).
pub trait ToEndpoint {
    /// The endpoint, or why this is not one.
    fn to_endpoint(&self) -> Result<Endpoint, EndpointError>;
}

impl ToEndpoint for Endpoint {
    fn to_endpoint(&self) -> Result<Endpoint, EndpointError> {
        Ok(self.clone())
    }
}

impl ToEndpoint for str {
    fn to_endpoint(&self) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(self)
    }
}

impl ToEndpoint for String {
    fn to_endpoint(&self) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(self)
    }
}

impl<T: ToEndpoint + ?Sized> ToEndpoint for &T {
    fn to_endpoint(&self) -> Result<Endpoint, EndpointError> {
        (**self).to_endpoint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn good_urls_parse_and_print_back() {
        let cases = [
            ("tcp://127.0.0.1:7000", tcp("127.0.0.1", 7000)),
            ("tcp://localhost:0", tcp("localhost", 0)),
            ("tcp://[::1]:65535", tcp("::1", 65535)),
            ("unix:///tmp/a.sock", Endpoint::Unix("/tmp/a.sock".into())),
            ("unix://a.sock", Endpoint::Unix("a.sock".into())),
        ];
        for (url, expected) in cases {
            let parsed = Endpoint::parse(url).expect(url);
            assert_eq!(parsed, expected, "{url}");
            assert_eq!(parsed.to_string(), url);
        }
        assert_eq!(
            Endpoint::parse("TCP://h:1/").expect("case and a trailing slash"),
            tcp("h", 1)
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("127.0.0.1:7000", "expected a URL"),
            ("://x", "scheme is missing"),
            ("http://host:80", "`http` is not supported"),
            ("unix://", "needs a socket path"),
            ("tcp://127.0.0.1", "port is missing"),
            ("tcp://:7000", "host is missing"),
            ("tcp://host:70000", "not a number from 0 to 65535"),
            ("tcp://host:http", "not a number"),
            ("tcp://host:1/path", "no path"),
            ("tcp://::1:7000", "in brackets"),
            ("tcp://[::1:7000", "closed with `]`"),
            ("tcp://[::1]", "port is missing"),
        ];
        for (url, expected) in cases {
            let error = Endpoint::parse(url).expect_err(url);
            let message = error.to_string();
            assert!(message.contains(expected), "{url}: {message}");
            assert!(message.contains(url), "{url}: {message}");
        }
    }

    #[test]
    fn endpoints_and_urls_both_name_endpoints() {
        fn named(endpoint: impl ToEndpoint) -> Result<Endpoint, EndpointError> {
            endpoint.to_endpoint()
        }
        let endpoint = tcp("h", 1);
        assert_eq!(named(&endpoint), Ok(endpoint.clone()));
        assert_eq!(named("tcp://h:1"), Ok(endpoint.clone()));
        assert_eq!(named(String::from("tcp://h:1")), Ok(endpoint));
    }
}
