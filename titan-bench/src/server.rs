//! The other side of the socket rows: servers in child processes of the bench.
//!
//! The bench starts itself again with [`ENV_SERVE`] naming the server (`raw`,
//! `titan` or `tarpc`) and [`ENV_LISTEN`] where it listens (`unix:///path`,
//! `tcp://127.0.0.1:0`, or `ipc`: the socket pair on its standard input). A
//! listening server prints `ready <url>` on its standard output once bound,
//! and serves on a current-thread runtime (one thread, like the client) until
//! its standard input closes, which happens when the bench lets it go or dies.
//! Each server inherits its vCPU from the bench (see [`crate::placement`]).

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::process::{Child, Command};

use crate::placement::{Cpus, Placement};
use crate::service::Bench;

/// Names the server a child of the bench runs.
pub const ENV_SERVE: &str = "TITAN_BENCH_SERVE";
/// Where that server listens.
pub const ENV_LISTEN: &str = "TITAN_BENCH_LISTEN";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`crate::raw::serve`] on every connection.
    Raw,
    /// Titan's `Server` serving a local [`Bench`] process.
    Titan,
    /// tarpc's server ([`crate::tarpc_rows::serve`]) on every connection.
    Tarpc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Titan => "titan",
            Kind::Tarpc => "tarpc",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        [Kind::Raw, Kind::Titan, Kind::Tarpc]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// A socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// A unix stream socket.
    Unix,
    /// TCP on 127.0.0.1, with TCP_NODELAY on both ends.
    Tcp,
}

// ---------------------------------------------------------------------------
// The server's side.

/// The server this process was started to be, if any: `(kind, listen)`.
pub fn requested() -> Option<(String, String)> {
    let kind = std::env::var(ENV_SERVE).ok()?;
    let listen = std::env::var(ENV_LISTEN).unwrap_or_else(|_| "ipc".into());
    Some((kind, listen))
}

/// Runs the server named by `kind` at `listen` until the bench lets it go.
pub fn run(kind: &str, listen: &str) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            let kind = Kind::parse(kind)
                .ok_or_else(|| anyhow::anyhow!("`{kind}` is not a server this bench has"))?;
            runtime.block_on(serve(kind, listen))
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("titan-bench server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(kind: Kind, listen: &str) -> anyhow::Result<()> {
    if listen == "ipc" {
        anyhow::ensure!(kind == Kind::Raw, "only the raw echo serves over ipc here");
        return Ok(crate::raw::serve(stdin_socket()?).await?);
    }
    if kind == Kind::Titan {
        let pm = titan_core::ProcessManager::new();
        let bench = pm.spawn::<Bench>().await?;
        let server = titan_transport::Server::builder()
            .serve::<Bench>(&bench)
            .bind(listen)
            .await?;
        ready(&server.local_addr().to_string());
        until_released().await;
        server.shutdown().await;
        pm.shutdown().await?;
        return Ok(());
    }
    let serve_one = move |stream: Box<dyn titan_core::host::AsyncStream>| async move {
        match kind {
            Kind::Tarpc => crate::tarpc_rows::serve(stream).await,
            _ => {
                let _ = crate::raw::serve(stream).await;
            }
        }
    };
    let accepting = async {
        if let Some(address) = listen.strip_prefix("tcp://") {
            let listener = TcpListener::bind(address).await?;
            ready(&format!("tcp://{}", listener.local_addr()?));
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::spawn(serve_one(Box::new(stream)));
            }
        } else if let Some(path) = listen.strip_prefix("unix://") {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)?;
            ready(listen);
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(serve_one(Box::new(stream)));
            }
        } else {
            anyhow::bail!("`{listen}` is not a unix:// or tcp:// URL")
        }
    };
    tokio::select! {
        accepted = accepting => accepted,
        () = until_released() => Ok(()),
    }
}

/// Tells the bench where this server listens.
fn ready(url: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "ready {url}");
    let _ = stdout.flush();
}

/// Resolves when standard input (a pipe from the bench) closes.
async fn until_released() {
    use std::os::fd::AsFd;
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok());
    let Some(mut pipe) = pipe else {
        // Not a pipe: the bench kills this process instead.
        return std::future::pending().await;
    };
    let mut byte = [0_u8; 1];
    loop {
        match tokio::io::AsyncReadExt::read(&mut pipe, &mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Standard input as the socket pair the bench made it.
fn stdin_socket() -> anyhow::Result<UnixStream> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true)?;
    Ok(UnixStream::from_std(stream)?)
}

// ---------------------------------------------------------------------------
// The bench's side.

/// A server child process of the bench.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub url: String,
    socket_file: Option<PathBuf>,
}

/// How long a server may take to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl ServerProcess {
    /// Starts a `kind` server listening on a fresh `socket`, on the vCPU
    /// `placement` gives the other side.
    pub async fn start(
        kind: Kind,
        socket: Socket,
        cpus: &Cpus,
        placement: Placement,
    ) -> anyhow::Result<ServerProcess> {
        let (listen, socket_file) = match socket {
            Socket::Tcp => ("tcp://127.0.0.1:0".to_string(), None),
            Socket::Unix => {
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "titan-bench-{}-{}.sock",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ));
                (format!("unix://{}", path.display()), Some(path))
            }
        };
        let mut command = Command::new(std::env::current_exe()?);
        command
            .env(ENV_SERVE, kind.name())
            .env(ENV_LISTEN, &listen)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cpus
            .start_other_side(placement, async { command.spawn() })
            .await??;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("the server's standard output is missing"))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| anyhow::anyhow!("the {} server did not start", kind.name()))??
            .ok_or_else(|| anyhow::anyhow!("the {} server exited at start", kind.name()))?;
        let url = line
            .strip_prefix("ready ")
            .ok_or_else(|| anyhow::anyhow!("the {} server said {line:?}", kind.name()))?
            .to_string();
        Ok(ServerProcess {
            child,
            url,
            socket_file,
        })
    }

    /// Connects to it over a unix socket.
    pub async fn connect_unix(&self) -> anyhow::Result<UnixStream> {
        let path = self
            .url
            .strip_prefix("unix://")
            .ok_or_else(|| anyhow::anyhow!("{} is not a unix socket", self.url))?;
        Ok(UnixStream::connect(path).await?)
    }

    /// Connects to it over TCP, with TCP_NODELAY.
    pub async fn connect_tcp(&self) -> anyhow::Result<TcpStream> {
        let address = self
            .url
            .strip_prefix("tcp://")
            .ok_or_else(|| anyhow::anyhow!("{} is not a TCP address", self.url))?;
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Lets it go: closes its standard input and waits for it to exit
    /// (killing it after a second).
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        if let Some(path) = self.socket_file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Starts the raw echo in a child process over a socket pair on its standard
/// input, as `Isolation::Child` connects to its children; returns the child
/// and the bench's end of the pair.
pub async fn start_raw_ipc(
    cpus: &Cpus,
    placement: Placement,
) -> anyhow::Result<(Child, UnixStream)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .env(ENV_SERVE, Kind::Raw.name())
        .env(ENV_LISTEN, "ipc")
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .kill_on_drop(true);
    let child = cpus
        .start_other_side(placement, async { command.spawn() })
        .await??;
    ours.set_nonblocking(true)?;
    Ok((child, UnixStream::from_std(ours)?))
}
