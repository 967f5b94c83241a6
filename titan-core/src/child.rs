//! Child OS processes: [`Isolation::Child`](crate::Isolation::Child).
//!
//! A child is a real process, with its own pid, memory and crash domain. By
//! default it is the parent's own executable started again: its
//! `#[titan_core::main]` sees that it was started as a child (from the
//! environment) and, instead of running `main`, hosts the process type its
//! parent named, found in the [`registry`](crate::registry()). Any other
//! executable that calls [`host_if_child`] or [`serve`] first can host
//! processes too (`SpawnOptions::child().executable(path)`).
//!
//! The channel (`ipc`) is a unix socket pair: one end stays with the parent,
//! the other becomes the child's standard input. The parent first sends the
//! postcard-encoded config (a 4-byte length, then the bytes), then both ends
//! speak the [`wire`](crate::wire) protocol: the child answers the handshake
//! once `#[init]` has run, or says why it could not. The child's standard
//! output and error stay free for the process's own printing; the parent
//! forwards each of their lines into its `tracing`, with the child's label
//! and pid.
//!
//! When the child dies (a crash, a SIGKILL), its end of the socket closes, so
//! every call in flight fails at once with
//! [`Error::ProcessCrashed`], and the process
//! is marked crashed with the exit status as its reason.
//!
//! # Testing your own processes with child isolation
//!
//! A `cargo test` binary has libtest's `main`, which knows nothing of Titan,
//! so it cannot be re-entered as a child. Give the tests that spawn children a
//! target of their own with `harness = false`, and call [`host_if_child`] first
//! thing in its `main` (this crate's `tests/child.rs` does so, with
//! `libtest-mimic` as the harness):
//!
//! ```toml
//! [[test]]
//! name = "child"
//! harness = false
//! ```
//!
//! ```no_run
//! # fn run_the_tests() {}
//! titan_core::child::host_if_child(); // first thing in `main`; returns at once in the parent
//! run_the_tests();
//! ```
//!
//! Alternatively, spawn a `[[bin]]` of your package that hosts processes,
//! reached in tests through `env!("CARGO_BIN_EXE_<name>")` and
//! `SpawnOptions::child().executable(..)`.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, Request, Response};
use crate::error::Error;
use crate::framed::{FramedCaller, Peer};
use crate::host::{self, ServiceSet};
use crate::local::{Control, admit, hold, until_down};
use crate::manager::{ProcessId, ProcessManager};
use crate::metrics::CallRecorder;
use crate::process::Process;
use crate::wire::{WireConfig, WireError};

/// The environment variable naming the process type a child hosts.
pub const ENV_PROCESS: &str = "TITAN_CHILD";
/// The environment variable with the child's label (`name#id`), for its logs.
pub const ENV_LABEL: &str = "TITAN_CHILD_LABEL";

/// How a child process is started; part of [`SpawnOptions`](crate::SpawnOptions).
#[derive(Debug, Clone)]
pub struct ChildOptions {
    /// The executable to start; `None` (the default) starts this executable again.
    pub executable: Option<PathBuf>,
    /// Arguments passed to it.
    pub args: Vec<String>,
    /// How long the child may take to start and run `#[init]`. Default 30 s.
    pub start_timeout: Duration,
    /// Limits and timings of the connection to the child.
    pub wire: WireConfig,
    /// How the parent reaches the child. Default: the socket pair on its
    /// standard input.
    pub transport: ChildTransport,
}

impl Default for ChildOptions {
    fn default() -> Self {
        ChildOptions {
            executable: None,
            args: Vec::new(),
            start_timeout: Duration::from_secs(30),
            wire: WireConfig::default(),
            transport: ChildTransport::Ipc,
        }
    }
}

/// How a parent reaches its child process.
///
/// With [`ChildTransport::Unix`] or [`ChildTransport::Tcp`] the child listens
/// there and serves every connection, so other programs can call it too (with
/// `titan_transport::connect` and the URL in
/// [`ProcessInfo::endpoint`](crate::ProcessInfo::endpoint)); the socket pair
/// on its standard input then only carries its config and keeps it alive: the
/// child exits when its parent hangs up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ChildTransport {
    /// The socket pair on the child's standard input.
    #[default]
    Ipc,
    /// A unix socket the child listens on, at this path.
    Unix(PathBuf),
    /// A TCP address the child listens on (port 0: any free port).
    Tcp(std::net::SocketAddr),
}

/// The environment variable telling a child where to listen, for
/// [`ChildTransport::Unix`] and [`ChildTransport::Tcp`].
pub const ENV_LISTEN: &str = "TITAN_CHILD_LISTEN";

// ---------------------------------------------------------------------------
// The parent's side.

/// Calls a process that runs in a child OS process.
pub(crate) struct ChildCaller<T> {
    framed: FramedCaller,
    control: Arc<Control>,
    exited: watch::Receiver<Option<ExitStatus>>,
    recorder: Option<Arc<CallRecorder>>,
    process: std::marker::PhantomData<fn() -> T>,
}

impl<T> ChildCaller<T> {
    /// The same caller, its calls not counted in the metrics.
    pub(crate) fn unrecorded(&self) -> ChildCaller<T> {
        ChildCaller {
            framed: self.framed.clone(),
            control: self.control.clone(),
            exited: self.exited.clone(),
            recorder: None,
            process: std::marker::PhantomData,
        }
    }
}

impl<T: Process> Caller for ChildCaller<T> {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let admitted = match admit::<T>(&self.control, &request, self.recorder.as_ref()) {
            Ok(admitted) => admitted,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let call = self.framed.call(request);
        let framed = self.framed.clone();
        let mut exited = self.exited.clone();
        Box::pin(async move {
            let control = &admitted.0.clone();
            let outcome = until_down(control, call).await;
            if outcome.is_err() && !framed.is_open() && !control.is_down() {
                // The connection ended under the call: the child is dying. Its
                // exit status, which the watcher turns into the crash reason,
                // is a moment behind; wait for it, so the caller learns why and
                // finds the process marked crashed.
                let _ = tokio::time::timeout(EXIT_GRACE, exited.wait_for(Option::is_some)).await;
                if control.is_down() {
                    return Err(control.refusal());
                }
            }
            Ok(hold(outcome?, admitted))
        })
    }
}

/// How long a call that lost its connection waits for the child's exit status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The parent's handle on a child OS process.
pub(crate) struct ChildProcess {
    pid: u32,
    framed: FramedCaller,
    kill: CancellationToken,
    exited: watch::Receiver<Option<ExitStatus>>,
    /// Where the child listens, when it does ([`ChildTransport::Unix`], [`ChildTransport::Tcp`]).
    endpoint: Option<String>,
    /// The socket pair that keeps a listening child alive; dropped to let it go.
    lifeline: std::sync::Mutex<Option<UnixStream>>,
}

impl ChildProcess {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Sends SIGKILL; the watcher reaps the child.
    pub(crate) fn kill(&self) {
        self.kill.cancel();
    }

    /// After a drain: asks the child to stop over the wire (hangs up: its
    /// host drains, runs `#[on_shutdown]` and exits), waits up to `timeout`,
    /// then sends SIGTERM (which the child's host takes as the same request),
    /// waits up to [`TERM_GRACE`] more, then kills it. Returns whether it
    /// exited without SIGKILL.
    pub(crate) async fn finish(&self, timeout: Duration) -> bool {
        self.framed.close();
        drop(
            self.lifeline
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
        );
        let mut exited = self.exited.clone();
        if tokio::time::timeout(timeout, exited.wait_for(Option::is_some))
            .await
            .is_ok()
        {
            return true;
        }
        tracing::warn!(
            pid = self.pid,
            "child did not exit within the shutdown timeout; sending SIGTERM"
        );
        self.terminate();
        if tokio::time::timeout(TERM_GRACE.min(timeout), exited.wait_for(Option::is_some))
            .await
            .is_ok()
        {
            return true;
        }
        tracing::warn!(pid = self.pid, "child ignored SIGTERM; killing it");
        self.kill();
        let _ = exited.wait_for(Option::is_some).await;
        false
    }

    /// Sends SIGTERM, unless the child has been reaped already (its pid may
    /// belong to another process by then).
    fn terminate(&self) {
        if self.exited.borrow().is_some() {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        if let Err(error) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
            tracing::debug!(pid = self.pid, %error, "could not send SIGTERM");
        }
    }
}

/// How long a child may take to exit after SIGTERM before it is killed (at
/// most the shutdown timeout).
pub const TERM_GRACE: Duration = Duration::from_secs(5);

/// Encodes a config to send to a child.
pub(crate) fn encode_config<T: Process>(config: &T::Config) -> Result<Vec<u8>, Error> {
    postcard::to_stdvec(config).map_err(|e| Error::Encode {
        what: format!("the config of `{}`", T::NAME),
        reason: e.to_string(),
    })
}

/// Starts process `T` in a child OS process with its encoded `config` and
/// connects to it; returns once `#[init]` has run there.
pub(crate) async fn spawn<T: Process>(
    id: ProcessId,
    control: Arc<Control>,
    recorder: Arc<CallRecorder>,
    config: Vec<u8>,
    options: &ChildOptions,
) -> Result<(ChildCaller<T>, ChildProcess), Error> {
    let label = format!("{}#{id}", T::NAME);
    let init_error = |reason: String| Error::Init {
        process: T::NAME.to_string(),
        reason,
    };
    if config.len() > options.wire.max_frame_size {
        return Err(init_error(format!(
            "its config is {} bytes, more than the maximum frame size of {}",
            config.len(),
            options.wire.max_frame_size
        )));
    }

    let executable = match &options.executable {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(|e| {
            init_error(format!(
                "cannot find this executable to start it again: {e}"
            ))
        })?,
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| init_error(format!("cannot create the socket pair: {e}")))?;
    let mut child = tokio::process::Command::new(&executable)
        .args(&options.args)
        .env(ENV_PROCESS, T::NAME)
        .env(ENV_LABEL, &label)
        .envs(listen_env(&options.transport))
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| init_error(format!("cannot start `{}`: {e}", executable.display())))?;
    let pid = child.id().unwrap_or_default();
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward_lines(stdout, label.clone(), pid, "stdout"));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_lines(stderr, label.clone(), pid, "stderr"));
    }

    // Failures here say what went wrong; the child's exit status is added below.
    let unavailable = |reason: String| Error::Unavailable { reason };
    let connected = async {
        ours.set_nonblocking(true)
            .map_err(|e| unavailable(format!("cannot use the socket: {e}")))?;
        let mut stream = UnixStream::from_std(ours)
            .map_err(|e| unavailable(format!("cannot use the socket: {e}")))?;
        let length = u32::try_from(config.len()).unwrap_or(u32::MAX);
        let sent = async {
            stream.write_u32(length).await?;
            stream.write_all(&config).await?;
            stream.flush().await
        };
        sent.await
            .map_err(|e| unavailable(format!("the child hung up before taking its config: {e}")))?;
        let wire = WireConfig {
            handshake_timeout: options.start_timeout,
            ..options.wire.clone()
        };
        let peer = Peer::Process {
            label: label.clone(),
        };
        if options.transport == ChildTransport::Ipc {
            let framed = FramedCaller::connect(stream, peer, wire, None).await?;
            return Ok((framed, None, None));
        }
        // The child listens: it says where (or why it could not start).
        let started = tokio::time::timeout(options.start_timeout, read_started(&mut stream))
            .await
            .map_err(|_| {
                unavailable(format!(
                    "the child did not start within {:?}",
                    options.start_timeout
                ))
            })??;
        let framed = connect_to(&started, peer, wire).await?;
        Ok((framed, Some(started), Some(stream)))
    };
    let (framed, endpoint, lifeline) = match connected.await {
        Ok(connected) => connected,
        Err(error) => {
            let _ = child.start_kill();
            let status = child.wait().await.ok();
            let error = match error {
                // The child's own `#[init]` said no, over the wire.
                error @ Error::Init { .. } => error,
                other => {
                    let what = match other {
                        Error::Unavailable { reason } => reason,
                        other => other.to_string(),
                    };
                    init_error(match status {
                        Some(status) => format!("{what}; {}", describe(&status, pid)),
                        None => what,
                    })
                }
            };
            return Err(error);
        }
    };

    let kill = CancellationToken::new();
    let (exit_tx, exited) = watch::channel(None);
    let caller = ChildCaller {
        framed: framed.clone(),
        control: control.clone(),
        exited: exited.clone(),
        recorder: Some(recorder),
        process: std::marker::PhantomData,
    };
    tokio::spawn(watch_child(
        child,
        Watched {
            pid,
            label: label.clone(),
            control,
            framed: framed.clone(),
            kill: kill.clone(),
            exited: exit_tx,
        },
    ));
    tracing::debug!(process = %label, pid, "child process started");
    Ok((
        caller,
        ChildProcess {
            pid,
            framed,
            kill,
            exited,
            endpoint,
            lifeline: std::sync::Mutex::new(lifeline),
        },
    ))
}

/// The environment that tells a child where to listen.
fn listen_env(transport: &ChildTransport) -> Vec<(&'static str, String)> {
    match transport {
        ChildTransport::Ipc => Vec::new(),
        ChildTransport::Unix(path) => vec![(ENV_LISTEN, format!("unix://{}", path.display()))],
        ChildTransport::Tcp(address) => vec![(ENV_LISTEN, format!("tcp://{address}"))],
    }
}

/// Reads a listening child's start report: the URL it listens at.
async fn read_started(stream: &mut UnixStream) -> Result<String, Error> {
    let length = stream.read_u32().await.map_err(|e| Error::Unavailable {
        reason: format!("the child hung up before it started: {e}"),
    })?;
    if length > 64 * 1024 {
        return Err(Error::Decode {
            what: "the child's start report".into(),
            reason: format!("{length} bytes is too long"),
        });
    }
    let mut report = vec![0; length as usize];
    stream
        .read_exact(&mut report)
        .await
        .map_err(|e| Error::Unavailable {
            reason: format!("the child hung up while it started: {e}"),
        })?;
    let report: Result<String, WireError> =
        postcard::from_bytes(&report).map_err(|e| Error::Decode {
            what: "the child's start report".into(),
            reason: e.to_string(),
        })?;
    report.map_err(Error::from)
}

/// Connects to a listening child at `url` (`unix://…` or `tcp://…`).
async fn connect_to(url: &str, peer: Peer, wire: WireConfig) -> Result<FramedCaller, Error> {
    let failed = |e: std::io::Error| Error::Unavailable {
        reason: format!("could not connect to the child at {url}: {e}"),
    };
    if let Some(path) = url.strip_prefix("unix://") {
        let stream = UnixStream::connect(path).await.map_err(failed)?;
        FramedCaller::connect(stream, peer, wire, None).await
    } else if let Some(address) = url.strip_prefix("tcp://") {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        FramedCaller::connect(stream, peer, wire, None).await
    } else {
        Err(Error::Decode {
            what: "the child's start report".into(),
            reason: format!("`{url}` is not a unix:// or tcp:// URL"),
        })
    }
}

/// What the watcher of a child needs.
struct Watched {
    pid: u32,
    label: String,
    control: Arc<Control>,
    framed: FramedCaller,
    kill: CancellationToken,
    exited: watch::Sender<Option<ExitStatus>>,
}

/// Reaps the child: on an exit the parent did not ask for, the process has
/// crashed, and every call in flight fails.
async fn watch_child(mut child: tokio::process::Child, watched: Watched) {
    let Watched {
        pid,
        label,
        control,
        framed,
        kill,
        exited,
    } = watched;
    let status = tokio::select! {
        status = child.wait() => status,
        () = kill.cancelled() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let reason = match &status {
        Ok(status) => describe(status, pid),
        Err(e) => format!("the child process (pid {pid}) could not be waited for: {e}"),
    };
    if !control.is_down() {
        control.crash(reason.clone());
    }
    framed.close_with(Error::ProcessCrashed {
        process: label,
        reason,
    });
    let _ = exited.send(status.ok());
}

fn describe(status: &ExitStatus, pid: u32) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("the child process (pid {pid}) exited with code {code}"),
        (None, Some(9)) => format!("the child process (pid {pid}) was killed (SIGKILL)"),
        (None, Some(signal)) => {
            format!("the child process (pid {pid}) was killed by signal {signal}")
        }
        (None, None) => format!("the child process (pid {pid}) exited: {status}"),
    }
}

/// Forwards a child's output into `tracing`, a line an event.
async fn forward_lines<R: AsyncRead + Unpin>(
    output: R,
    label: String,
    pid: u32,
    stream: &'static str,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "titan::child", process = %label, pid, stream, "{line}");
    }
}

// ---------------------------------------------------------------------------
// The child's side.

/// If this OS process was started as a child by [`Isolation::Child`](crate::Isolation::Child),
/// hosts the process its parent asked for until the parent hangs up, then
/// exits; otherwise returns at once. `#[titan_core::main]` calls it first.
pub fn host_if_child() {
    host_if_child_on(crate::entry::Flavor::CurrentThread);
}

/// [`host_if_child`] on a runtime of the given flavor: what
/// `#[titan_core::main]` does, with the flavor it was given. A current-thread
/// runtime (the default of [`host_if_child`]) starts faster and keeps a call
/// on one thread from the socket to the method and back.
pub fn host_if_child_on(flavor: crate::entry::Flavor) {
    if std::env::var_os(ENV_PROCESS).is_none() {
        return;
    }
    let mut builder = match flavor {
        crate::entry::Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        crate::entry::Flavor::MultiThread { worker_threads } => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = worker_threads {
                builder.worker_threads(n);
            }
            builder
        }
    };
    let code = match builder.enable_all().build() {
        Ok(runtime) => match runtime.block_on(serve()) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("titan: the child process failed: {error}");
                1
            }
        },
        Err(error) => {
            eprintln!("titan: the child process could not build its runtime: {error}");
            1
        }
    };
    std::process::exit(code);
}

/// Hosts the process this child was started for, over the channel its parent
/// gave it, until the parent hangs up. Fails at once if this OS process was
/// not started as a child.
pub async fn serve() -> Result<(), Error> {
    let name = std::env::var(ENV_PROCESS).map_err(|_| Error::Unavailable {
        reason: format!("not started as a child process (`{ENV_PROCESS}` is not set)"),
    })?;
    let label = std::env::var(ENV_LABEL).unwrap_or_else(|_| name.clone());
    let mut stream = parent_channel()?;
    let wire = WireConfig::default();

    let length = stream.read_u32().await.map_err(|e| Error::Unavailable {
        reason: format!("the parent sent no config: {e}"),
    })?;
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > wire.max_frame_size {
        return Err(Error::Decode {
            what: "the config".into(),
            reason: format!("{length} bytes is more than the maximum frame size"),
        });
    }
    let mut config = vec![0; length];
    stream
        .read_exact(&mut config)
        .await
        .map_err(|e| Error::Unavailable {
            reason: format!("the parent hung up while sending the config: {e}"),
        })?;

    let pm = ProcessManager::new();
    let started = match crate::registry::lookup(&name) {
        Some(registration) => registration
            .start(&pm, config)
            .await
            .map(|client| (registration.definition, client)),
        None => Err(Error::Init {
            process: name.clone(),
            reason: format!(
                "`{}` does not contain a process type named `{name}`",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "this executable".into())
            ),
        }),
    };
    if let Ok(listen) = std::env::var(ENV_LISTEN) {
        let outcome = serve_listening(&pm, started, &listen, stream, wire).await;
        pm.shutdown().await?;
        return outcome;
    }
    let outcome = match started {
        Ok((definition, client)) => {
            tracing::debug!(process = %label, "child hosting");
            let control = client.process_id().and_then(|id| pm.control(id));
            let mut services = ServiceSet::new();
            services.insert(definition, client);
            let terminate = CancellationToken::new();
            let _on_sigterm = on_sigterm(terminate.clone());
            let mut hosting = std::pin::pin!(host::serve_until(
                stream,
                Arc::new(services),
                wire,
                terminate
            ));
            match control {
                None => hosting.await,
                // A child is its process's crash domain: when the process
                // crashes, the child exits, and its parent sees it crash.
                Some(control) => tokio::select! {
                    outcome = &mut hosting => outcome,
                    () = crashed(&control) => {
                        // Keep serving a moment, so that the reply of the call
                        // that crashed it (with the panic message) goes out.
                        let _ = tokio::time::timeout(CRASH_FLUSH, &mut hosting).await;
                        Err(control.refusal())
                    }
                },
            }
        }
        Err(error) => host::refuse(stream, error, wire).await,
    };
    pm.shutdown().await?;
    outcome
}

/// A listening child: reports where it listens over the socket pair, then
/// serves every connection until its parent hangs up (or the process crashes).
async fn serve_listening(
    pm: &ProcessManager,
    started: Result<
        (
            &'static crate::definition::ServiceDefinition,
            crate::caller::Client,
        ),
        Error,
    >,
    listen: &str,
    mut lifeline: UnixStream,
    wire: WireConfig,
) -> Result<(), Error> {
    let bound = match started {
        Ok(started) => Listener::bind(listen)
            .await
            .map(|listener| (started, listener)),
        Err(error) => Err(error),
    };
    let report: Result<String, WireError> = match &bound {
        Ok((_, listener)) => Ok(listener.url.clone()),
        Err(error) => Err(WireError::from(error)),
    };
    let report = postcard::to_stdvec(&report).map_err(|e| Error::Encode {
        what: "the start report".into(),
        reason: e.to_string(),
    })?;
    let length = u32::try_from(report.len()).unwrap_or(u32::MAX);
    lifeline.write_u32(length).await.ok();
    lifeline.write_all(&report).await.ok();
    lifeline.flush().await.ok();
    let ((definition, client), listener) = bound?;

    let control = client.process_id().and_then(|id| pm.control(id));
    let mut services = ServiceSet::new();
    services.insert(definition, client);
    let services = Arc::new(services);
    let mut connections = tokio::task::JoinSet::new();
    let mut byte = [0_u8; 1];
    let terminate = CancellationToken::new();
    let _on_sigterm = on_sigterm(terminate.clone());
    let outcome = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => {
                    connections.spawn(host::serve_boxed(connection, services.clone(), wire.clone()));
                }
                Err(error) => tracing::warn!(%error, "a child could not accept a connection"),
            },
            // The parent hung up (or wrote, which it never does): time to go.
            _ = lifeline.read(&mut byte) => break Ok(()),
            () = terminate.cancelled() => break Ok(()),
            () = async {
                match &control {
                    Some(control) => crashed(control).await,
                    None => std::future::pending().await,
                }
            } => {
                tokio::time::sleep(CRASH_FLUSH).await;
                break Err(control.as_ref().map(|c| c.refusal()).unwrap_or(Error::Cancelled));
            }
        }
    };
    connections.shutdown().await;
    listener.remove();
    outcome
}

/// What a listening child listens on.
struct Listener {
    inner: ListenerKind,
    /// The URL it can be reached at.
    url: String,
}

enum ListenerKind {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener),
}

impl Listener {
    async fn bind(url: &str) -> Result<Listener, Error> {
        let failed = |e: std::io::Error| Error::Init {
            process: std::env::var(ENV_PROCESS).unwrap_or_default(),
            reason: format!("the child could not listen on {url}: {e}"),
        };
        if let Some(path) = url.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            let listener = tokio::net::UnixListener::bind(&path).map_err(failed)?;
            Ok(Listener {
                url: format!("unix://{}", path.display()),
                inner: ListenerKind::Unix(listener, path),
            })
        } else if let Some(address) = url.strip_prefix("tcp://") {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(failed)?;
            let address = listener.local_addr().map_err(failed)?;
            Ok(Listener {
                url: format!("tcp://{address}"),
                inner: ListenerKind::Tcp(listener),
            })
        } else {
            Err(Error::InvalidArgument {
                what: "a child's listen address".into(),
                reason: format!("`{url}` is not a unix:// or tcp:// URL"),
            })
        }
    }

    async fn accept(&self) -> std::io::Result<host::BoxedStream> {
        match &self.inner {
            ListenerKind::Unix(listener, _) => {
                let (stream, _) = listener.accept().await?;
                Ok(Box::new(stream))
            }
            ListenerKind::Tcp(listener) => {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
        }
    }

    fn remove(&self) {
        if let ListenerKind::Unix(_, path) = &self.inner {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Cancels `terminate` when this OS process gets SIGTERM: a child takes it as
/// a request to stop gracefully, the way its parent hanging up is one. The
/// returned guard stops listening when dropped.
fn on_sigterm(terminate: CancellationToken) -> Option<StopListening> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => Some(StopListening(tokio::spawn(async move {
            if sigterm.recv().await.is_some() {
                tracing::debug!("SIGTERM: stopping gracefully");
                terminate.cancel();
            }
        }))),
        Err(error) => {
            tracing::debug!(%error, "cannot listen for SIGTERM");
            None
        }
    }
}

/// Ends the SIGTERM listener when dropped.
struct StopListening(tokio::task::JoinHandle<()>);

impl Drop for StopListening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a child whose process crashed keeps serving before it exits.
const CRASH_FLUSH: Duration = Duration::from_millis(200);

/// Resolves when the process crashes (not when it is stopped).
async fn crashed(control: &Control) {
    control.down().await;
    if !matches!(
        control.status(),
        crate::manager::ProcessStatus::Crashed { .. }
    ) {
        std::future::pending::<()>().await;
    }
}

/// The child's end of the socket pair: its standard input.
fn parent_channel() -> Result<UnixStream, Error> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::Unavailable {
            reason: format!("cannot take standard input: {e}"),
        })?;
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream
        .set_nonblocking(true)
        .map_err(|e| Error::Unavailable {
            reason: format!("standard input is not the parent's socket: {e}"),
        })?;
    UnixStream::from_std(stream).map_err(|e| Error::Unavailable {
        reason: format!("standard input is not the parent's socket: {e}"),
    })
}
