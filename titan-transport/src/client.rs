//! The client: connects to a server and keeps the connection up.
//!
//! [`connect`] returns a process's ordinary proxy over a [`ReconnectingCaller`]:
//! one framed connection at a time, replaced with exponential backoff when it
//! is lost. A call never crosses two connections: calls in flight when a
//! connection drops fail at once with [`Error::Unavailable`] (the method may
//! not be idempotent, so they are not retried), and calls made while
//! disconnected wait for the next connection, up to
//! [`ConnectOptions::wait_for_connection`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use titan_core::definition::ServiceDefinition;
use titan_core::framed::{FramedCaller, Peer};
use titan_core::wire::{Offered, WireConfig};
use titan_core::{Caller, Client, Error, Process, Proxy, Request, Response};

use crate::endpoint::{Endpoint, EndpointError, ToEndpoint};

/// Connects to the server at `endpoint` and returns a proxy to its process `T`
/// (the same `CalculatorProxy` type a local spawn returns), with
/// [`ConnectOptions::default`].
///
/// Fails with [`Error::Unavailable`] when nothing answers there (or the URL is
/// not a titan endpoint), [`Error::ServiceNotFound`] when the server does not
/// serve `T`, and [`Error::VersionMismatch`] when it serves another major
/// version of it.
///
/// ```no_run
/// # use titan_core::prelude::*;
/// # #[derive(Default)] struct Calculator;
/// # #[process(name = "calculator", version = "1.0.0")]
/// # impl Calculator { #[public] async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
/// # async fn demo() -> Result<(), Error> {
/// let calc = titan_transport::connect::<Calculator>("tcp://127.0.0.1:7000").await?;
/// assert_eq!(calc.add(5, 3).await?, 8);
/// # Ok(()) }
/// ```
pub async fn connect<T: Process>(endpoint: impl ToEndpoint) -> Result<T::Proxy, Error> {
    connect_with::<T>(endpoint, ConnectOptions::default()).await
}

/// [`connect`] with options: wire limits, reconnect backoff, how long calls
/// wait for a connection, and a token for the handshake.
///
/// ```no_run
/// # use std::time::Duration;
/// # use titan_core::prelude::*;
/// # #[derive(Default)] struct Calculator;
/// # #[process(name = "calculator", version = "1.0.0")]
/// # impl Calculator { #[public] async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
/// use titan_transport::{Backoff, ConnectOptions};
///
/// # async fn demo() -> Result<(), Error> {
/// let calc = titan_transport::connect_with::<Calculator>(
///     "unix:///run/titan/calc.sock",
///     ConnectOptions {
///         reconnect: Backoff { initial: Duration::from_millis(50), ..Backoff::default() },
///         wait_for_connection: Duration::from_secs(2),
///         ..ConnectOptions::default()
///     },
/// )
/// .await?;
/// # Ok(()) }
/// ```
pub async fn connect_with<T: Process>(
    endpoint: impl ToEndpoint,
    options: ConnectOptions,
) -> Result<T::Proxy, Error> {
    let endpoint = endpoint.to_endpoint().map_err(invalid_endpoint)?;
    let first = dial(&endpoint, &options).await?;
    check_offer(first.offered(), T::DEFINITION, &endpoint)?;
    let caller = ReconnectingCaller::start(endpoint, options, first);
    Ok(T::Proxy::from_client(Client::new(caller)))
}

/// How a client connects and reconnects.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The connection's limits and timings. Its `handshake_timeout` also
    /// bounds establishing the connection (the TCP or unix connect).
    pub wire: WireConfig,
    /// The delays between reconnection attempts after a connection is lost.
    pub reconnect: Backoff,
    /// How long a call made while disconnected waits for a connection before
    /// failing with [`Error::Unavailable`] (a call's own deadline, if sooner,
    /// fails it with [`Error::Timeout`] instead). `Duration::ZERO` fails such
    /// calls at once. Default 5 s.
    pub wait_for_connection: Duration,
    /// Sent in the handshake, for servers that ask for credentials.
    pub token: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            wire: WireConfig::default(),
            reconnect: Backoff::default(),
            wait_for_connection: Duration::from_secs(5),
            token: None,
        }
    }
}

/// Exponential backoff with jitter, for reconnection attempts.
///
/// After a connection is lost the first attempt is immediate; the `n`th retry
/// after it waits `min(max, initial × multiplier^n)`, less a random part of up
/// to `jitter` of it (so clients that lost the same server do not all return
/// at the same instant).
///
/// ```
/// use std::time::Duration;
/// use titan_transport::Backoff;
///
/// let backoff = Backoff {
///     initial: Duration::from_millis(100),
///     max: Duration::from_secs(1),
///     multiplier: 2.0,
///     jitter: 0.0,
/// };
/// assert_eq!(backoff.delay(0), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3), Duration::from_millis(800));
/// assert_eq!(backoff.delay(10), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// The delay before the first retry. Default 100 ms.
    pub initial: Duration,
    /// The longest delay. Default 5 s.
    pub max: Duration,
    /// How much each delay grows over the last (at least 1). Default 2.
    pub multiplier: f64,
    /// The largest share of a delay taken off at random, from 0 (none) to 1
    /// (anything down to zero). Default 0.5.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (counting from 0), jitter included.
    pub fn delay(&self, retry: u32) -> Duration {
        let max = self.max.as_secs_f64();
        let multiplier = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let base = (self.initial.as_secs_f64() * multiplier.powi(exponent)).min(max);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let delay = base * (1.0 - jitter * random_fraction());
        Duration::try_from_secs_f64(delay.max(0.0)).unwrap_or(self.max)
    }
}

/// A number in `[0, 1)`, random enough for jitter: std's hasher keys are
/// seeded from the operating system per thread and change on every use.
fn random_fraction() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos().into())
            .unwrap_or(0),
    );
    // The top 53 bits make an evenly spread f64 in [0, 1).
    (hasher.finish() >> 11) as f64 / (1_u64 << 53) as f64
}

/// A [`Caller`] over one connection at a time to a server, which reconnects
/// with backoff when the connection is lost.
///
/// A background task watches the current connection; when it ends, the task
/// dials again at once and then after each [`Backoff`] delay, for as long as
/// any clone of this caller (or a proxy over it) is alive. Calls in flight on
/// the lost connection fail with [`Error::Unavailable`] and are not retried;
/// calls made while disconnected wait for the next connection up to
/// [`ConnectOptions::wait_for_connection`]. Dropping the last clone closes the
/// connection and ends the task.
///
/// [`connect`] builds one for a typed proxy; use this type directly for an
/// untyped [`Client`].
#[derive(Clone)]
pub struct ReconnectingCaller {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    wait_for_connection: Duration,
    link: watch::Receiver<Link>,
    /// Ends the reconnecting task when the last caller goes.
    _stop: DropGuard,
}

/// The state of the connection, published by the reconnecting task.
#[derive(Clone)]
enum Link {
    Up(FramedCaller),
    /// Down, with the reason (the loss, or the last failed attempt).
    Down(Error),
}

impl std::fmt::Debug for ReconnectingCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingCaller")
            .field("endpoint", &self.inner.endpoint)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl ReconnectingCaller {
    /// Connects to `endpoint` (one attempt: it fails with
    /// [`Error::Unavailable`] if nothing answers) and keeps the connection up.
    pub async fn connect(
        endpoint: impl ToEndpoint,
        options: ConnectOptions,
    ) -> Result<ReconnectingCaller, Error> {
        let endpoint = endpoint.to_endpoint().map_err(invalid_endpoint)?;
        let first = dial(&endpoint, &options).await?;
        Ok(ReconnectingCaller::start(endpoint, options, first))
    }

    fn start(
        endpoint: Endpoint,
        options: ConnectOptions,
        first: FramedCaller,
    ) -> ReconnectingCaller {
        let (link, watched) = watch::channel(Link::Up(first.clone()));
        let stop = CancellationToken::new();
        tokio::spawn(reconnect(
            endpoint.clone(),
            options.clone(),
            first,
            link,
            stop.clone(),
        ));
        ReconnectingCaller {
            inner: Arc::new(Inner {
                endpoint,
                wait_for_connection: options.wait_for_connection,
                link: watched,
                _stop: stop.drop_guard(),
            }),
        }
    }

    /// The server this caller connects to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        matches!(&*self.inner.link.borrow(), Link::Up(caller) if caller.is_open())
    }

    /// The services the server offered in the current connection's handshake
    /// (empty while disconnected).
    pub fn offered(&self) -> Vec<Offered> {
        match &*self.inner.link.borrow() {
            Link::Up(caller) => caller.offered().to_vec(),
            Link::Down(_) => Vec::new(),
        }
    }

    /// The current connection, waiting for one up to `wait_for_connection`
    /// (or `deadline`, if sooner).
    async fn connection(&self, deadline: Option<Instant>) -> Result<FramedCaller, Error> {
        let mut link = self.inner.link.clone();
        let wait = async {
            loop {
                if let Link::Up(caller) = &*link.borrow_and_update()
                    && caller.is_open()
                {
                    return Ok(caller.clone());
                }
                if link.changed().await.is_err() {
                    return Err(Error::Unavailable {
                        reason: format!(
                            "the connection to {} was closed for good",
                            self.inner.endpoint
                        ),
                    });
                }
            }
        };
        let patience = Instant::now() + self.inner.wait_for_connection;
        let (until, deadline_first) = match deadline {
            Some(deadline) if deadline < patience => (deadline, true),
            _ => (patience, false),
        };
        match tokio::time::timeout_at(until, wait).await {
            Ok(connection) => connection,
            Err(_) if deadline_first => Err(Error::Timeout),
            Err(_) => {
                let why = match &*self.inner.link.borrow() {
                    Link::Down(error) => error.to_string(),
                    Link::Up(_) => "the connection was just lost".to_string(),
                };
                Err(Error::Unavailable {
                    reason: format!(
                        "not connected to {} after waiting {:?} for a connection; last error: {why}",
                        self.inner.endpoint, self.inner.wait_for_connection
                    ),
                })
            }
        }
    }
}

impl Caller for ReconnectingCaller {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        // The usual case, connected: straight to the connection, no future of our own.
        if let Link::Up(caller) = &*self.inner.link.borrow()
            && caller.is_open()
        {
            return caller.call(request);
        }
        let this = self.clone();
        Box::pin(async move {
            let connection = this.connection(request.deadline).await?;
            connection.call(request).await
        })
    }
}

/// The reconnecting task: watches the connection, replaces it when lost.
async fn reconnect(
    endpoint: Endpoint,
    options: ConnectOptions,
    mut current: FramedCaller,
    link: watch::Sender<Link>,
    stop: CancellationToken,
) {
    loop {
        let lost = tokio::select! {
            () = stop.cancelled() => return,
            lost = current.closed() => lost,
        };
        drop(current);
        tracing::warn!(%endpoint, reason = %lost, "lost the connection; reconnecting");
        link.send_replace(Link::Down(lost));

        let mut attempt: u32 = 0;
        current = loop {
            if attempt > 0 {
                let delay = options.reconnect.delay(attempt - 1);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            attempt = attempt.saturating_add(1);
            let dialed = tokio::select! {
                () = stop.cancelled() => return,
                dialed = dial(&endpoint, &options) => dialed,
            };
            match dialed {
                Ok(connection) => break connection,
                Err(error) => {
                    tracing::debug!(%endpoint, attempt, %error, "reconnecting failed");
                    link.send_replace(Link::Down(error));
                }
            }
        };
        tracing::info!(%endpoint, attempts = attempt, "reconnected");
        link.send_replace(Link::Up(current.clone()));
    }
}

/// Opens a connection and performs the handshake.
async fn dial(endpoint: &Endpoint, options: &ConnectOptions) -> Result<FramedCaller, Error> {
    let limit = options.wire.handshake_timeout;
    let unreachable = |error: std::io::Error| Error::Unavailable {
        reason: format!("could not connect to {endpoint}: {error}"),
    };
    let too_slow = |_| Error::Unavailable {
        reason: format!("could not connect to {endpoint} within {limit:?}"),
    };
    let peer = Peer::Remote {
        address: endpoint.to_string(),
    };
    let wire = options.wire.clone();
    let token = options.token.clone();
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let connecting = TcpStream::connect(Endpoint::tcp_authority(host, *port));
            let stream = tokio::time::timeout(limit, connecting)
                .await
                .map_err(too_slow)?
                .map_err(unreachable)?;
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%endpoint, %error, "could not set TCP_NODELAY");
            }
            FramedCaller::connect(stream, peer, wire, token).await
        }
        Endpoint::Unix(path) => {
            let stream = tokio::time::timeout(limit, UnixStream::connect(path))
                .await
                .map_err(too_slow)?
                .map_err(unreachable)?;
            FramedCaller::connect(stream, peer, wire, token).await
        }
    }
}

/// Fails unless the server offers a version of `wanted` this build can call.
fn check_offer(
    offered: &[Offered],
    wanted: &'static ServiceDefinition,
    endpoint: &Endpoint,
) -> Result<(), Error> {
    let Some(offer) = offered.iter().find(|offer| offer.name == wanted.name) else {
        let offers: Vec<String> = offered
            .iter()
            .map(|offer| format!("{}@{}", offer.name, offer.version))
            .collect();
        let offers = if offers.is_empty() {
            "nothing".to_string()
        } else {
            offers.join(", ")
        };
        return Err(Error::ServiceNotFound {
            service: format!("{wanted} (the server at {endpoint} offers {offers})"),
        });
    };
    if !wanted.accepts(&offer.version) {
        return Err(Error::VersionMismatch {
            service: wanted.name.to_string(),
            expected: wanted.version.to_string(),
            found: offer.version.clone(),
        });
    }
    Ok(())
}

/// A malformed URL: an invalid argument, not worth retrying.
fn invalid_endpoint(error: EndpointError) -> Error {
    Error::InvalidArgument {
        what: "endpoint URL".into(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_max_and_jitter_only_shortens() {
        let backoff = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(300),
            multiplier: 2.0,
            jitter: 0.5,
        };
        for retry in 0..20 {
            let full = Duration::from_millis(10 * (1 << retry.min(5))).min(backoff.max);
            let delay = backoff.delay(retry);
            assert!(delay <= full, "retry {retry}: {delay:?} > {full:?}");
            assert!(delay >= full / 2, "retry {retry}: {delay:?} < {full:?} / 2");
        }
        assert_eq!(backoff.delay(u32::MAX).max(backoff.max), backoff.max);
    }

    #[test]
    fn odd_backoff_settings_do_not_panic() {
        let odd = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(2),
            multiplier: f64::NAN,
            jitter: 7.0,
        };
        for retry in [0, 1, 1000, u32::MAX] {
            assert!(odd.delay(retry) <= Duration::from_secs(2));
        }
    }

    #[test]
    fn jitter_varies() {
        let fractions: std::collections::HashSet<u64> =
            (0..50).map(|_| random_fraction().to_bits()).collect();
        assert!(fractions.len() > 40, "{} distinct of 50", fractions.len());
        assert!(
            (0..1000)
                .map(|_| random_fraction())
                .all(|f| (0.0..1.0).contains(&f))
        );
    }
}
