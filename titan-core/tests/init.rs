//! Construction: an `#[init]` constructor receives the config given at spawn,
//! a failing one makes spawn fail with `Error::Init`, and processes without
//! `#[init]` are built with `Default`.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use titan_core::prelude::*;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PoolConfig {
    name: String,
    size: u32,
}

#[derive(Debug)]
enum ConfigError {
    TooSmall(u32),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooSmall(size) => write!(f, "pool size {size} is below the minimum of 1"),
        }
    }
}

/// Built by an async, fallible constructor from a config.
struct Pool {
    config: PoolConfig,
}

#[process]
impl Pool {
    #[init]
    async fn new(config: PoolConfig) -> Result<Self, ConfigError> {
        tokio::task::yield_now().await;
        if config.size == 0 {
            return Err(ConfigError::TooSmall(config.size));
        }
        Ok(Pool { config })
    }

    #[public]
    fn config(&self) -> PoolConfig {
        self.config.clone()
    }
}

static PLAIN_INITS: AtomicU32 = AtomicU32::new(0);

/// Built by a plain constructor without a config.
struct Plain {
    built_by_init: bool,
}

#[process]
impl Plain {
    #[init]
    fn new() -> Self {
        PLAIN_INITS.fetch_add(1, Ordering::SeqCst);
        Plain {
            built_by_init: true,
        }
    }

    #[public]
    fn built_by_init(&self) -> bool {
        self.built_by_init
    }
}

/// Built with `Default`.
struct Defaulted {
    start: u64,
}

impl Default for Defaulted {
    fn default() -> Self {
        Defaulted { start: 17 }
    }
}

#[process]
impl Defaulted {
    #[public]
    fn start(&self) -> u64 {
        self.start
    }
}

/// An infallible constructor whose config has a default, so plain `spawn` works.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Limits {
    max: u32,
}

struct Limited {
    limits: Limits,
}

#[process]
impl Limited {
    #[init]
    async fn new(limits: Limits) -> Self {
        Limited { limits }
    }

    #[public]
    fn max(&self) -> u32 {
        self.limits.max
    }
}

#[tokio::test]
async fn an_async_init_receives_the_config_given_at_spawn() {
    let pm = ProcessManager::new();
    let config = PoolConfig {
        name: "workers".into(),
        size: 4,
    };
    let pool = pm
        .spawn_with::<Pool>(SpawnOptions::new().config(config.clone()))
        .await
        .expect("spawns");
    assert_eq!(pool.config().await.expect("config"), config);
}

#[tokio::test]
async fn an_init_returning_err_fails_spawn_with_error_init_and_its_message() {
    let pm = ProcessManager::new();
    let err = pm
        .spawn_with::<Pool>(SpawnOptions::new().config(PoolConfig {
            name: "empty".into(),
            size: 0,
        }))
        .await
        .expect_err("size 0 is refused");
    match &err {
        Error::Init { process, reason } => {
            assert_eq!(process, "pool");
            assert_eq!(reason, "pool size 0 is below the minimum of 1");
        }
        other => panic!("expected Error::Init, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("pool size 0 is below the minimum of 1"),
        "{err}"
    );
    assert!(pm.list().is_empty(), "a failed init leaves nothing running");
}

#[tokio::test]
async fn a_plain_init_without_config_builds_the_process() {
    let before = PLAIN_INITS.load(Ordering::SeqCst);
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await.expect("spawns");
    assert!(plain.built_by_init().await.expect("call"));
    assert!(PLAIN_INITS.load(Ordering::SeqCst) > before, "init ran");
}

#[tokio::test]
async fn each_spawn_runs_init_again() {
    let pm = ProcessManager::new();
    let small = pm
        .spawn_with::<Pool>(SpawnOptions::new().config(PoolConfig {
            name: "small".into(),
            size: 1,
        }))
        .await
        .expect("spawns");
    let large = pm
        .spawn_with::<Pool>(SpawnOptions::new().config(PoolConfig {
            name: "large".into(),
            size: 64,
        }))
        .await
        .expect("spawns");
    assert_eq!(small.config().await.expect("config").size, 1);
    assert_eq!(large.config().await.expect("config").size, 64);
    assert_ne!(small.process_id(), large.process_id());
}

#[tokio::test]
async fn a_process_without_init_is_built_with_default() {
    let pm = ProcessManager::new();
    let defaulted = pm.spawn::<Defaulted>().await.expect("spawns");
    assert_eq!(defaulted.start().await.expect("call"), 17);
}

#[tokio::test]
async fn spawn_uses_the_default_config_and_spawn_with_overrides_it() {
    let pm = ProcessManager::new();
    let default = pm.spawn::<Limited>().await.expect("spawns");
    assert_eq!(default.max().await.expect("call"), 0);

    let custom = pm
        .spawn_with::<Limited>(SpawnOptions::new().config(Limits { max: 9 }))
        .await
        .expect("spawns");
    assert_eq!(custom.max().await.expect("call"), 9);
}

#[derive(Debug)]
struct Explosive;

#[process]
impl Explosive {
    #[init]
    async fn new(fuse: u32) -> Self {
        panic!("fuse {fuse} blew during init");
    }

    #[public]
    fn ping(&self) -> u32 {
        0
    }
}

#[tokio::test]
async fn an_init_that_panics_fails_spawn_with_error_init() {
    let pm = ProcessManager::new();
    let err = pm
        .spawn_with::<Explosive>(SpawnOptions::new().config(3))
        .await
        .expect_err("the constructor panicked");
    match &err {
        Error::Init { process, reason } => {
            assert_eq!(process, "explosive");
            assert!(reason.contains("fuse 3 blew during init"), "{reason}");
        }
        other => panic!("expected Error::Init, got {other:?}"),
    }
    assert!(pm.list().is_empty());
    // The manager is unharmed.
    pm.spawn::<Defaulted>()
        .await
        .expect("spawns after a failed init");
}
