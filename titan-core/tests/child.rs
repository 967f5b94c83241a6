//! Child-process isolation, with real child OS processes: this test binary
//! starts itself again as the child (it has `harness = false` and calls
//! `host_if_child` first, as the `child` module docs tell users to do).

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libtest_mimic::Arguments;
use titan_core::child::ChildTransport;
use titan_core::framed::{FramedCaller, Peer};
use titan_core::prelude::*;
use titan_core::wire::WireConfig;
use titan_core::{ErrorCode, ProcessStatus};

#[path = "support/harness.rs"]
mod harness;
use harness::trial;

const HANG_GUARD: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum VaultError {
    Locked,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct VaultConfig {
    secret: String,
    refuse: bool,
}

struct Vault {
    secret: String,
    opened: u32,
}

#[process(name = "vault", version = "1.0.0")]
impl Vault {
    #[init]
    async fn new(config: VaultConfig) -> Result<Self, String> {
        if config.refuse {
            return Err(format!("refusing to start with secret {:?}", config.secret));
        }
        Ok(Vault {
            secret: config.secret,
            opened: 0,
        })
    }

    #[public]
    fn pid(&self) -> u32 {
        std::process::id()
    }

    #[public]
    async fn open(&mut self, guess: String) -> Result<String, VaultError> {
        if guess != self.secret {
            return Err(VaultError::Locked);
        }
        self.opened += 1;
        Ok(format!("opened {} times", self.opened))
    }

    #[public]
    async fn hang(&self) {
        std::future::pending::<()>().await;
    }

    #[public]
    async fn slow(&self, millis: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        millis
    }

    #[public]
    fn shout(&self, text: String) {
        eprintln!("{text}");
    }

    #[public]
    fn explode(&self) {
        panic!("the vault exploded");
    }
}

fn options(secret: &str) -> SpawnOptions<VaultConfig> {
    SpawnOptions::child().config(VaultConfig {
        secret: secret.into(),
        refuse: false,
    })
}

async fn guarded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

fn pid_of(pm: &ProcessManager, proxy: &VaultProxy) -> u32 {
    pm.get(proxy.process_id().expect("managed"))
        .and_then(|info| info.pid)
        .expect("a child has a pid")
}

fn pid_alive(pid: u32) -> bool {
    // A reaped child leaves no /proc entry (a zombie would still have one,
    // with state Z).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

async fn until_gone(pid: u32) {
    guarded("the child exits", async {
        while pid_alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

async fn a_child_is_another_os_process() {
    let pm = ProcessManager::new();
    let vault = pm.spawn_with::<Vault>(options("s")).await.expect("spawns");
    let child_pid = vault.pid().await.expect("pid");
    assert_ne!(child_pid, std::process::id());
    assert_eq!(pid_of(&pm, &vault), child_pid);
    let info = pm.get(vault.process_id().expect("id")).expect("listed");
    assert_eq!(info.isolation, Isolation::Child);
    assert!(pid_alive(child_pid));
    pm.shutdown().await.expect("shuts down");
    until_gone(child_pid).await;
}

async fn calls_state_and_typed_errors_cross_to_the_child() {
    let pm = ProcessManager::new();
    let vault = pm
        .spawn_with::<Vault>(options("open sesame"))
        .await
        .expect("spawns");
    assert_eq!(
        vault.open("wrong".into()).await,
        Err(CallError::Application(VaultError::Locked))
    );
    assert_eq!(
        vault.open("open sesame".into()).await,
        Ok("opened 1 times".into())
    );
    let opens = futures::future::join_all((0..50).map(|_| vault.open("open sesame".into()))).await;
    let mut counts: Vec<String> = opens.into_iter().map(|r| r.expect("opens")).collect();
    counts.sort();
    assert!(
        counts.contains(&"opened 51 times".to_string()),
        "exclusive in the child too"
    );
    pm.shutdown().await.expect("shuts down");
}

async fn an_init_error_in_the_child_fails_the_spawn() {
    let pm = ProcessManager::new();
    let refused = pm
        .spawn_with::<Vault>(SpawnOptions::child().config(VaultConfig {
            secret: "x".into(),
            refuse: true,
        }))
        .await;
    match refused {
        Err(Error::Init { process, reason }) => {
            assert_eq!(process, "vault");
            assert_eq!(reason, "refusing to start with secret \"x\"");
        }
        other => panic!("expected an init error, got {other:?}"),
    }
    assert!(pm.list().is_empty());
}

async fn sigkill_fails_every_call_in_flight_at_once() {
    let pm = ProcessManager::new();
    let vault = pm
        .spawn_with::<Vault>(options("s").restart(RestartPolicy::never()))
        .await
        .expect("spawns");
    let id = vault.process_id().expect("id");
    let pid = pid_of(&pm, &vault);
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let vault = vault.clone();
            tokio::spawn(async move { vault.hang().await })
        })
        .collect();
    guarded("the calls are in flight", async {
        while pm.get(id).map(|info| info.in_flight) != Some(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("runs kill");
    assert!(killed.success());

    for call in calls {
        match guarded("a call fails", call).await.expect("joins") {
            Err(Error::ProcessCrashed { process, .. }) => {
                assert_eq!(process, format!("vault#{id}"))
            }
            other => panic!("expected ProcessCrashed, got {other:?}"),
        }
    }
    match pm.get(id).expect("listed").status {
        ProcessStatus::Crashed { reason } => assert!(reason.contains("SIGKILL"), "{reason}"),
        other => panic!("expected Crashed, got {other:?}"),
    }
    assert_eq!(
        vault.pid().await.map_err(|e| e.code()),
        Err(ErrorCode::ProcessCrashed)
    );
}

async fn kill_ends_the_child_os_process() {
    let pm = ProcessManager::new();
    let vault = pm.spawn_with::<Vault>(options("s")).await.expect("spawns");
    let pid = pid_of(&pm, &vault);
    let hanging = tokio::spawn({
        let vault = vault.clone();
        async move { vault.hang().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(pm.kill(vault.process_id().expect("id")));
    let result = guarded("the call fails", hanging).await.expect("joins");
    assert_eq!(result.map_err(|e| e.code()), Err(ErrorCode::ProcessStopped));
    until_gone(pid).await;
}

async fn graceful_shutdown_drains_and_the_child_exits() {
    let pm = ProcessManager::new();
    let vault = pm.spawn_with::<Vault>(options("s")).await.expect("spawns");
    let pid = pid_of(&pm, &vault);
    let slow = tokio::spawn({
        let vault = vault.clone();
        async move { vault.slow(300).await }
    });
    let id = vault.process_id().expect("id");
    guarded("the call is in flight", async {
        while pm.get(id).map(|info| info.in_flight) != Some(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    pm.shutdown().await.expect("shuts down");
    assert_eq!(
        slow.await.expect("joins"),
        Ok(300),
        "the call in flight completed"
    );
    until_gone(pid).await;
}

async fn a_panic_in_the_child_crashes_it() {
    let pm = ProcessManager::new();
    let vault = pm
        .spawn_with::<Vault>(options("s").restart(RestartPolicy::never()))
        .await
        .expect("spawns");
    let id = vault.process_id().expect("id");
    let pid = pid_of(&pm, &vault);
    match vault.explode().await {
        Err(Error::ProcessCrashed { reason, .. }) => {
            assert!(reason.contains("the vault exploded"), "{reason}")
        }
        other => panic!("expected ProcessCrashed, got {other:?}"),
    }
    until_gone(pid).await;
    guarded("the parent marks it crashed", async {
        while !matches!(
            pm.get(id).map(|info| info.status),
            Some(ProcessStatus::Crashed { .. })
        ) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn the_childs_output_is_forwarded_into_tracing() {
    let pm = ProcessManager::new();
    let vault = pm.spawn_with::<Vault>(options("s")).await.expect("spawns");
    let id = vault.process_id().expect("id");
    vault
        .shout("a line from the child".into())
        .await
        .expect("shouts");
    guarded("the line arrives", async {
        loop {
            let logged = captured();
            if let Some(line) = logged.lines().find(|l| l.contains("a line from the child")) {
                assert!(line.contains(&format!("vault#{id}")), "{line}");
                assert!(line.contains("stderr"), "{line}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    pm.shutdown().await.expect("shuts down");
}

async fn another_executable_can_host_and_one_that_cannot_is_an_init_error() {
    let pm = ProcessManager::new();
    let this = std::env::current_exe().expect("this test binary");
    let vault = pm
        .spawn_with::<Vault>(options("s").executable(this))
        .await
        .expect("spawns with an explicit executable");
    assert_ne!(vault.pid().await.expect("pid"), std::process::id());

    match pm
        .spawn_with::<Vault>(options("s").executable("/bin/true"))
        .await
    {
        Err(Error::Init { reason, .. }) => assert!(reason.contains("exited"), "{reason}"),
        other => panic!("expected an init error, got {other:?}"),
    }
    match pm
        .spawn_with::<Vault>(options("s").executable("/nonexistent/host"))
        .await
    {
        Err(Error::Init { reason, .. }) => assert!(reason.contains("cannot start"), "{reason}"),
        other => panic!("expected an init error, got {other:?}"),
    }
    pm.shutdown().await.expect("shuts down");
}

async fn a_child_can_listen_on_tcp_and_serve_other_callers() {
    let pm = ProcessManager::new();
    let vault = pm
        .spawn_with::<Vault>(options("s").transport(ChildTransport::Tcp(
            "127.0.0.1:0".parse().expect("an address"),
        )))
        .await
        .expect("spawns");
    let info = pm.get(vault.process_id().expect("id")).expect("listed");
    let endpoint = info.endpoint.expect("a listening child has an endpoint");
    let address = endpoint.strip_prefix("tcp://").expect("a tcp URL");
    assert_eq!(vault.open("s".into()).await, Ok("opened 1 times".into()));

    // Another caller, as another program would, through the child's endpoint.
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let other = FramedCaller::connect(
        stream,
        Peer::Remote {
            address: endpoint.clone(),
        },
        WireConfig::default(),
        None,
    )
    .await
    .expect("handshake");
    let other = VaultProxy::from_client(Client::new(other));
    assert_eq!(
        other.open("s".into()).await,
        Ok("opened 2 times".into()),
        "the same instance"
    );
    assert_eq!(other.pid().await, Ok(info.pid.expect("a pid")));

    let pid = info.pid.expect("a pid");
    pm.shutdown().await.expect("shuts down");
    until_gone(pid).await;
}

async fn a_child_can_listen_on_a_unix_socket_and_dies_visibly() {
    let pm = ProcessManager::new();
    let path = std::env::temp_dir().join(format!("titan-child-{}.sock", std::process::id()));
    let vault = pm
        .spawn_with::<Vault>(options("s").transport(ChildTransport::Unix(path.clone())))
        .await
        .expect("spawns");
    let id = vault.process_id().expect("id");
    assert_eq!(
        pm.get(id).and_then(|info| info.endpoint),
        Some(format!("unix://{}", path.display()))
    );
    assert!(path.exists(), "the child listens there");
    assert_ne!(vault.pid().await.expect("pid"), std::process::id());

    let hanging = tokio::spawn({
        let vault = vault.clone();
        async move { vault.hang().await }
    });
    guarded("the call is in flight", async {
        while pm.get(id).map(|info| info.in_flight) != Some(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let pid = pid_of(&pm, &vault);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("runs kill");
    assert!(killed.success());
    match guarded("the call fails", hanging).await.expect("joins") {
        Err(Error::ProcessCrashed { .. }) => {}
        other => panic!("expected ProcessCrashed, got {other:?}"),
    }
    let _ = std::fs::remove_file(&path);
}

// --- The harness ------------------------------------------------------------

/// Everything logged through `tracing`, as text.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(Arc::default)
}

fn captured() -> String {
    String::from_utf8_lossy(&log().lock().expect("log")).into_owned()
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log().lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    // In a child, this hosts the process its parent asked for and exits.
    titan_core::child::host_if_child();

    tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();

    let args = Arguments::from_args();
    let trials = vec![
        trial(
            "a_child_is_another_os_process",
            a_child_is_another_os_process,
        ),
        trial(
            "calls_state_and_typed_errors_cross_to_the_child",
            calls_state_and_typed_errors_cross_to_the_child,
        ),
        trial(
            "an_init_error_in_the_child_fails_the_spawn",
            an_init_error_in_the_child_fails_the_spawn,
        ),
        trial(
            "sigkill_fails_every_call_in_flight_at_once",
            sigkill_fails_every_call_in_flight_at_once,
        ),
        trial(
            "kill_ends_the_child_os_process",
            kill_ends_the_child_os_process,
        ),
        trial(
            "graceful_shutdown_drains_and_the_child_exits",
            graceful_shutdown_drains_and_the_child_exits,
        ),
        trial(
            "a_panic_in_the_child_crashes_it",
            a_panic_in_the_child_crashes_it,
        ),
        trial(
            "the_childs_output_is_forwarded_into_tracing",
            the_childs_output_is_forwarded_into_tracing,
        ),
        trial(
            "another_executable_can_host_and_one_that_cannot_is_an_init_error",
            another_executable_can_host_and_one_that_cannot_is_an_init_error,
        ),
        trial(
            "a_child_can_listen_on_tcp_and_serve_other_callers",
            a_child_can_listen_on_tcp_and_serve_other_callers,
        ),
        trial(
            "a_child_can_listen_on_a_unix_socket_and_dies_visibly",
            a_child_can_listen_on_a_unix_socket_and_dies_visibly,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
