//! What the transport tests share: a process with something to show for each
//! behaviour, endpoints for both transports, and hang guards.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use titan_core::prelude::*;
use titan_transport::{Backoff, ConnectOptions, Server};
use tokio::sync::Notify;

/// The longest any single step may take before a test calls it a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BankError {
    Insufficient { balance: u64 },
}

/// A process with something to show for every transport behaviour.
#[derive(Default)]
pub struct Bank {
    balance: u64,
    gates: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Bank {
    fn gate(&self, name: &str) -> Arc<Notify> {
        self.gates
            .lock()
            .expect("the gates lock")
            .entry(name.to_string())
            .or_default()
            .clone()
    }
}

#[process(name = "bank", version = "1.2.0")]
impl Bank {
    #[public]
    pub fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    /// Exclusive: reads the balance, yields, then writes it, so interleaved
    /// `&mut self` calls would lose deposits.
    #[public]
    pub async fn deposit(&mut self, amount: u64) -> u64 {
        let before = self.balance;
        tokio::task::yield_now().await;
        self.balance = before + amount;
        self.balance
    }

    #[public]
    pub async fn withdraw(&mut self, amount: u64) -> Result<u64, BankError> {
        if amount > self.balance {
            return Err(BankError::Insufficient {
                balance: self.balance,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    #[public]
    pub fn balance(&self) -> u64 {
        self.balance
    }

    /// Waits until `open(name)` is called (or was called before).
    #[public]
    pub async fn wait_for(&self, name: String) -> String {
        self.gate(&name).notified().await;
        name
    }

    #[public]
    pub fn open(&self, name: String) {
        self.gate(&name).notify_one();
    }

    /// Counts from 1 to `n`, as a stream.
    #[public]
    pub fn count(&self, n: u64) -> Stream<u64> {
        Stream::iter(1..=n)
    }

    /// Adds up the numbers it is sent.
    #[public]
    pub async fn sum(&self, mut values: Stream<u64>) -> u64 {
        let mut total = 0;
        while let Some(value) = values.next().await {
            total += value;
        }
        total
    }

    /// Never returns (until its work is stopped).
    #[public]
    pub async fn hang(&self) {
        std::future::pending::<()>().await;
    }
}

/// A process the test servers never serve.
#[derive(Default)]
pub struct Stranger;

#[process(name = "stranger", version = "1.0.0")]
impl Stranger {
    #[public]
    pub fn hi(&self) {}
}

/// The same name as [`Bank`], another major version.
#[derive(Default)]
pub struct BankV2;

#[process(name = "bank", version = "2.0.0")]
impl BankV2 {
    #[public]
    pub fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// Which transport a test runs over.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    Unix,
    Tcp,
}

impl Transport {
    /// A fresh endpoint to bind: a unique socket path in the temp dir, or a
    /// loopback TCP address with port 0.
    pub fn endpoint(self, name: &str) -> String {
        match self {
            Transport::Unix => format!("unix://{}", unix_path(name).display()),
            Transport::Tcp => "tcp://127.0.0.1:0".to_string(),
        }
    }
}

/// A unique socket path in the temp dir.
pub fn unix_path(name: &str) -> std::path::PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("titan-{}-{n}-{name}.sock", std::process::id()))
}

/// Runs one test body over each transport.
#[macro_export]
macro_rules! over_both_transports {
    ($($name:ident),* $(,)?) => {
        mod unix {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Transport::Unix).await
                }
            )*
        }
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Transport::Tcp).await
                }
            )*
        }
    };
}

/// A process manager with a bank, served on a fresh endpoint.
pub struct Served {
    pub pm: ProcessManager,
    /// The bank itself, called locally (to look behind the server).
    pub local: BankProxy,
    pub server: Server,
}

impl Served {
    pub fn url(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// How many calls the bank process has in flight.
    pub fn in_flight(&self) -> usize {
        in_flight(&self.pm, &self.local)
    }
}

/// How many calls the process behind `local` has in flight.
pub fn in_flight(pm: &ProcessManager, local: &BankProxy) -> usize {
    let id = local.process_id().expect("a managed process");
    pm.get(id).map(|info| info.in_flight).unwrap_or(0)
}

pub async fn serve_bank(transport: Transport, name: &str) -> Served {
    serve_bank_with(transport.endpoint(name), |builder| builder).await
}

pub async fn serve_bank_with(
    endpoint: String,
    configure: impl FnOnce(titan_transport::ServerBuilder) -> titan_transport::ServerBuilder,
) -> Served {
    let pm = ProcessManager::new();
    let local = pm.spawn::<Bank>().await.expect("the bank spawns");
    let server = configure(Server::builder().serve::<Bank>(&local))
        .bind(endpoint.as_str())
        .await
        .expect("the server binds");
    Served { pm, local, server }
}

/// Connect options that reconnect quickly, for tests.
pub fn quick_reconnect() -> ConnectOptions {
    ConnectOptions {
        reconnect: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(200),
            ..Backoff::default()
        },
        wait_for_connection: HANG_GUARD / 2,
        ..ConnectOptions::default()
    }
}

/// Awaits `future`, failing the test if it takes longer than [`HANG_GUARD`].
pub async fn guarded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {HANG_GUARD:?}"))
}

/// Polls `condition` until it holds, failing the test after [`HANG_GUARD`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    guarded(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// Asserts that `result` is `Error::Unavailable` and returns its reason.
pub fn unavailable<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Unavailable { reason }) => reason,
        other => panic!("expected Error::Unavailable, got {other:?}"),
    }
}
