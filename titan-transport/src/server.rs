//! The server: serves processes on a unix socket or a TCP port.
//!
//! One task accepts connections; each accepted connection runs
//! [`titan_core::host::serve`] in a task of its own, so a slow, silent or
//! malformed peer only ever loses its own connection. The accepting task owns
//! the connection tasks: when it ends (a graceful [`Server::shutdown`], or the
//! [`Server`] being dropped) none of them outlives it.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use titan_core::definition::ServiceDefinition;
use titan_core::host::{self, CallGauge, ServiceSet};
use titan_core::wire::WireConfig;
use titan_core::{Client, Error, Process, Proxy};

use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::TransportError;

/// How many refused connections may be waiting for their goodbye at once;
/// past that, connections over the limit are closed without one.
const MAX_REFUSALS: usize = 64;

/// How long the accept loop pauses after the operating system fails an accept
/// (out of file descriptors, say), so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves processes on a unix socket or a TCP port until shut down.
///
/// Built with [`Server::builder`]:
///
/// ```
/// use titan_core::prelude::*;
/// use titan_transport::Server;
///
/// #[derive(Default)]
/// struct Echo;
///
/// #[process]
/// impl Echo {
///     #[public]
///     fn echo(&self, text: String) -> String { text }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
/// let pm = ProcessManager::new();
/// let echo = pm.spawn::<Echo>().await?;
/// let server = Server::builder().serve::<Echo>(&echo).bind("tcp://127.0.0.1:0").await?;
///
/// let remote = titan_transport::connect::<Echo>(server.local_addr()).await?;
/// assert_eq!(remote.echo("hi".into()).await?, "hi");
///
/// server.shutdown().await;
/// # Ok(()) }
/// ```
///
/// **Shutdown.** [`Server::shutdown`] stops accepting (the listener closes and
/// a unix socket's file is removed), answers calls that arrive on open
/// connections with [`Error::Unavailable`], waits for the calls in flight
/// (and the streams they return) to finish, up to
/// [`ServerBuilder::shutdown_timeout`], then closes every
/// connection and returns once every task it started has ended.
///
/// **Drop.** Dropping a `Server` without shutting it down aborts it: connections
/// close at once and their calls in flight are stopped; no task is left
/// running. The socket file is removed at once; the listening socket itself
/// closes as soon as the runtime drops the accepting task (await
/// [`Server::shutdown`] to know it has).
pub struct Server {
    local: Endpoint,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    socket_file: Option<SocketFile>,
}

/// Configures a [`Server`]: what it serves, its limits, then where it listens.
///
/// ```
/// use std::time::Duration;
/// use titan_core::wire::WireConfig;
/// use titan_transport::Server;
///
/// let builder = Server::builder()
///     .max_connections(100)
///     .shutdown_timeout(Duration::from_secs(30))
///     .wire(WireConfig { max_concurrent_calls: 64, ..WireConfig::default() });
/// ```
#[must_use = "a builder does nothing until `bind` is awaited"]
pub struct ServerBuilder {
    services: Vec<(&'static ServiceDefinition, Client)>,
    wire: WireConfig,
    max_connections: usize,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|(definition, _)| definition.to_string())
                    .collect::<Vec<_>>(),
            )
            .field("wire", &self.wire)
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            services: Vec::new(),
            wire: WireConfig::default(),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerBuilder {
    /// Serves process `T`, reached through `proxy` (a local process, a pool, or
    /// even a remote one: the server relays).
    pub fn serve<T: Process>(self, proxy: &T::Proxy) -> ServerBuilder {
        self.insert(T::DEFINITION, proxy.client().clone())
    }

    /// Serves the service `definition`, reached through `client`; replaces a
    /// service of the same name. The untyped form of [`serve`](Self::serve),
    /// for services started by name from the registry.
    pub fn insert(
        mut self,
        definition: &'static ServiceDefinition,
        client: Client,
    ) -> ServerBuilder {
        self.services
            .retain(|(served, _)| served.name != definition.name);
        self.services.push((definition, client));
        self
    }

    /// The limits and timings of every connection (largest frame, calls in
    /// flight per connection, heartbeat, handshake timeout). Default:
    /// [`WireConfig::default`].
    pub fn wire(mut self, wire: WireConfig) -> ServerBuilder {
        self.wire = wire;
        self
    }

    /// The most connections served at once. A connection past the limit is
    /// accepted, answered with a [`Frame::Goaway`](titan_core::wire::Frame::Goaway)
    /// carrying [`Error::Unavailable`] (so the client's `connect` fails with that
    /// error and a reason that names the limit), and closed. Default 1024.
    pub fn max_connections(mut self, max: usize) -> ServerBuilder {
        self.max_connections = max;
        self
    }

    /// How long [`Server::shutdown`] lets calls in flight (and the streams
    /// they return) finish before it closes their connections anyway.
    /// Default 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts listening on `endpoint` (`unix:///path/to.sock` or
    /// `tcp://host:port`) and serving.
    ///
    /// A unix socket file left behind by a server that is gone is replaced;
    /// one that a live server still listens on is [`TransportError::InUse`];
    /// anything else at that path is left alone ([`TransportError::NotASocket`]).
    pub async fn bind(self, endpoint: impl ToEndpoint) -> Result<Server, TransportError> {
        let endpoint = endpoint.to_endpoint()?;
        let (listener, local, socket_file) = match &endpoint {
            Endpoint::Tcp { host, port } => {
                let listener = TcpListener::bind(Endpoint::tcp_authority(host, *port))
                    .await
                    .map_err(|source| bind_error(&endpoint, source))?;
                let address = listener
                    .local_addr()
                    .map_err(|source| bind_error(&endpoint, source))?;
                let local = Endpoint::Tcp {
                    host: address.ip().to_string(),
                    port: address.port(),
                };
                (Listener::Tcp(listener), local, None)
            }
            Endpoint::Unix(path) => {
                let (listener, file) = bind_unix(path, &endpoint).await?;
                (Listener::Unix(listener), endpoint.clone(), Some(file))
            }
        };

        let mut services = ServiceSet::new();
        let drain = Arc::new(CallGauge::new());
        for (definition, client) in self.services {
            services.insert(definition, client);
        }
        tracing::info!(endpoint = %local, services = ?services, "serving");
        let shared = Arc::new(Shared {
            endpoint: local.clone(),
            services: Arc::new(services),
            wire: self.wire,
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
            drain,
            connections: AtomicUsize::new(0),
            next_connection: AtomicU64::new(1),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(listener, shared.clone(), stop.clone()));
        Ok(Server {
            local,
            shared,
            stop,
            task: Some(task),
            socket_file,
        })
    }
}

impl Server {
    /// A builder: add processes with [`ServerBuilder::serve`], set limits, then
    /// [`bind`](ServerBuilder::bind).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Where the server listens, as the URL to connect to: with the port the
    /// operating system picked when bound to port 0 (`tcp://127.0.0.1:0` →
    /// `tcp://127.0.0.1:40123`).
    pub fn local_addr(&self) -> &Endpoint {
        &self.local
    }

    /// How many connections are being served now (refused ones not counted).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many calls are running now, over every connection.
    pub fn calls_in_flight(&self) -> usize {
        self.shared.drain.in_flight()
    }

    /// Shuts down gracefully and returns once every task of the server has ended.
    ///
    /// 1. Stops accepting: the listener closes and a unix socket's file is
    ///    removed, so new connections are refused by the operating system.
    /// 2. Calls that arrive on open connections get [`Error::Unavailable`];
    ///    calls in flight, and streams they returned, run on, up to the
    ///    [shutdown timeout](ServerBuilder::shutdown_timeout).
    /// 3. Every connection is closed (after its last replies are written, for
    ///    up to the wire's `handshake_timeout`); calls still running past the
    ///    shutdown timeout are stopped and their callers get
    ///    [`Error::Unavailable`].
    pub async fn shutdown(mut self) {
        tracing::info!(endpoint = %self.local, "shutting down");
        self.stop.cancel();
        if let Some(file) = self.socket_file.take() {
            file.remove();
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(endpoint = %self.local, %error, "the server's task failed");
        }
        tracing::info!(endpoint = %self.local, "shut down");
    }

    /// Stops at once: the same as dropping the server. Connections close
    /// without waiting for their calls, which fail with [`Error::Unavailable`].
    pub fn abort(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            // Dropping the task drops its `JoinSet`s, which abort every
            // connection task, which stop their calls.
            task.abort();
            tracing::info!(endpoint = %self.local, "aborted");
        }
        if let Some(file) = self.socket_file.take() {
            file.remove();
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("endpoint", &self.local)
            .field("services", &self.shared.services)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

/// What the accepting task and the connection tasks share.
struct Shared {
    endpoint: Endpoint,
    services: Arc<ServiceSet>,
    wire: WireConfig,
    max_connections: usize,
    shutdown_timeout: Duration,
    drain: Arc<CallGauge>,
    connections: AtomicUsize,
    next_connection: AtomicU64,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    /// The next connection and a description of its peer.
    async fn accept(&self) -> io::Result<(Accepted, String)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
                Ok((Accepted::Tcp(stream), peer.to_string()))
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok((Accepted::Unix(stream), "a unix peer".to_string()))
            }
        }
    }
}

/// The accepting task: accepts until stopped, then drains and closes.
async fn run(listener: Listener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    let mut refusals = JoinSet::new();
    // Cancelled to close every connection gracefully (`host::serve_until`).
    let close = CancellationToken::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    admit(stream, peer, &shared, &close, &mut connections, &mut refusals);
                }
                Err(error) => {
                    tracing::warn!(endpoint = %shared.endpoint, %error, "accepting a connection failed");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    tracing::error!(endpoint = %shared.endpoint, %error, "a connection's task failed");
                }
            }
            Some(_) = refusals.join_next(), if !refusals.is_empty() => {}
        }
    }
    drop(listener);
    refusals.shutdown().await;

    let in_flight = shared.drain.in_flight();
    tracing::info!(
        endpoint = %shared.endpoint,
        connections = connections.len(),
        in_flight,
        "stopped accepting; letting calls in flight finish"
    );
    let drained = tokio::time::timeout(shared.shutdown_timeout, shared.drain.drain())
        .await
        .is_ok();
    if !drained {
        tracing::warn!(
            endpoint = %shared.endpoint,
            in_flight = shared.drain.in_flight(),
            timeout = ?shared.shutdown_timeout,
            "calls still running after the shutdown timeout are stopped"
        );
    }
    close.cancel();
    let closed = tokio::time::timeout(shared.wire.handshake_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if closed.is_err() {
        tracing::warn!(
            endpoint = %shared.endpoint,
            connections = connections.len(),
            "connections that did not close in time are aborted"
        );
    }
    connections.shutdown().await;
}

/// Serves an accepted connection, or refuses it when the server is full.
fn admit(
    stream: Accepted,
    peer: String,
    shared: &Arc<Shared>,
    close: &CancellationToken,
    connections: &mut JoinSet<()>,
    refusals: &mut JoinSet<()>,
) {
    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let span = tracing::debug_span!("connection", endpoint = %shared.endpoint, id, %peer);
    let active = shared.connections.load(Ordering::SeqCst);
    if active >= shared.max_connections {
        if refusals.len() >= MAX_REFUSALS {
            span.in_scope(|| {
                tracing::warn!(
                    active,
                    "refused: the server is at its connection limit (closed without a goodbye: too many refusals pending)"
                )
            });
            return;
        }
        span.in_scope(|| tracing::warn!(active, "refused: the server is at its connection limit"));
        let error = Error::Unavailable {
            reason: format!(
                "the server at {} is at its limit of {} connections; try again later",
                shared.endpoint, shared.max_connections
            ),
        };
        let wire = shared.wire.clone();
        refusals.spawn(
            async move {
                let _ = match stream {
                    Accepted::Tcp(io) => host::refuse(io, error, wire).await,
                    Accepted::Unix(io) => host::refuse(io, error, wire).await,
                };
            }
            .instrument(span),
        );
        return;
    }

    shared.connections.fetch_add(1, Ordering::SeqCst);
    let counted = Counted(shared.clone());
    let shared = shared.clone();
    let close = close.clone();
    connections.spawn(
        async move {
            let _counted = counted;
            tracing::debug!("accepted");
            let outcome = match stream {
                Accepted::Tcp(io) => serve_connection(io, &shared, close).await,
                Accepted::Unix(io) => serve_connection(io, &shared, close).await,
            };
            match outcome {
                Ok(()) => tracing::debug!("closed"),
                Err(error) => tracing::debug!(%error, "closed with an error"),
            }
        }
        .instrument(span),
    );
}

async fn serve_connection<IO>(
    io: IO,
    shared: &Shared,
    close: CancellationToken,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    host::serve_counted(
        io,
        shared.services.clone(),
        shared.wire.clone(),
        close,
        Some(shared.drain.clone()),
    )
    .await
}

/// Counts a connection while its task lives (however the task ends).
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

fn bind_error(endpoint: &Endpoint, source: io::Error) -> TransportError {
    TransportError::Bind {
        endpoint: endpoint.to_string(),
        source,
    }
}

/// The socket file a unix server created, removed when the server stops, but
/// only if it is still the same file (not one a newer server created since).
struct SocketFile {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl SocketFile {
    fn remove(&self) {
        let Ok(metadata) = std::fs::symlink_metadata(&self.path) else {
            return;
        };
        if Some((metadata.dev(), metadata.ino())) != self.identity {
            return;
        }
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove the socket file");
        }
    }
}

async fn bind_unix(
    path: &Path,
    endpoint: &Endpoint,
) -> Result<(UnixListener, SocketFile), TransportError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            match tokio::net::UnixStream::connect(path).await {
                Ok(_) => {
                    return Err(TransportError::InUse {
                        endpoint: endpoint.to_string(),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    // Nobody listens: a file left behind by a server that is gone.
                    tracing::info!(path = %path.display(), "replacing a stale socket file");
                    std::fs::remove_file(path).map_err(|source| bind_error(endpoint, source))?;
                }
                Err(source) => return Err(bind_error(endpoint, source)),
            }
        }
        Ok(_) => {
            return Err(TransportError::NotASocket {
                endpoint: endpoint.to_string(),
            });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(bind_error(endpoint, source)),
    }
    let listener = UnixListener::bind(path).map_err(|source| bind_error(endpoint, source))?;
    let identity = std::fs::symlink_metadata(path)
        .ok()
        .map(|metadata| (metadata.dev(), metadata.ino()));
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            identity,
        },
    ))
}
