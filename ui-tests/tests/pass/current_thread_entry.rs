// `#[titan_core::main(flavor = "current_thread")]`, a plain `#[init] fn new() -> Self` and a fallible `#[init]` all work.
use titan_core::prelude::*;

/// Built by a sync, config-less constructor.
pub struct Plain {
    greeting: String,
}

#[process]
impl Plain {
    #[init]
    fn new() -> Self {
        Plain {
            greeting: String::from("Hello"),
        }
    }

    #[public]
    pub async fn greet(&self, name: String) -> String {
        format!("{}, {name}!", self.greeting)
    }
}

/// Built by a fallible constructor with a config.
pub struct Limited {
    limit: u32,
}

#[process(name = "limited", version = "0.2.0")]
impl Limited {
    #[init]
    pub fn new(limit: u32) -> Result<Self, String> {
        if limit == 0 {
            Err(String::from("the limit must be positive"))
        } else {
            Ok(Limited { limit })
        }
    }

    #[public]
    pub fn allows(&self, value: u32) -> bool {
        value <= self.limit
    }
}

#[titan_core::main(flavor = "current_thread")]
async fn main() -> Result<(), titan_core::Error> {
    let pm = ProcessManager::new();
    let plain = pm.spawn::<Plain>().await?;
    assert_eq!(plain.greet("Ada".into()).await?, "Hello, Ada!");

    let limited = pm
        .spawn_with::<Limited>(SpawnOptions::new().config(3))
        .await?;
    assert!(limited.allows(3).await?);
    assert!(!limited.allows(4).await?);

    // A failing `#[init]` is an error from spawn, not a panic.
    assert!(
        pm.spawn_with::<Limited>(SpawnOptions::new().config(0))
            .await
            .is_err()
    );

    pm.shutdown().await?;
    Ok(())
}
