// `#[health_check]` (every option, every answer type), `#[on_shutdown]` and `#[key]` together compile and run.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use titan_core::health::HealthKind;
use titan_core::prelude::*;

static FLUSHED: AtomicUsize = AtomicUsize::new(0);

/// Keeps a count per user.
#[derive(Default)]
pub struct Sessions {
    visits: std::collections::HashMap<String, u64>,
}

#[process(name = "sessions")]
impl Sessions {
    /// Counts a visit; calls for one user reach one worker of a keyed pool.
    #[public]
    pub async fn visit(&mut self, #[key] user: String, page: String) -> u64 {
        let _ = page;
        let count = self.visits.entry(user).or_default();
        *count += 1;
        *count
    }

    /// The key may be any `Hash` type, here a tuple; `Self` works too.
    #[public]
    pub fn total(&self, #[titan_core::key] scope: (u32, String)) -> u64 {
        let _ = scope;
        self.visits.values().sum()
    }

    #[health_check]
    fn alive(&self) -> bool {
        true
    }

    #[health_check(
        kind = "readiness",
        interval = "2.5s",
        timeout = "750ms",
        failure_threshold = 5
    )]
    async fn ready(&self) -> HealthStatus {
        HealthStatus::Healthy
    }

    /// A `&mut self` check, fully qualified.
    #[titan_core::health_check(kind = "startup", interval = "1h", timeout = "1d")]
    pub async fn started(&mut self) -> Health {
        Health::healthy()
    }

    #[on_shutdown]
    async fn flush(&mut self) {
        FLUSHED.fetch_add(self.visits.len(), Ordering::SeqCst);
    }
}

#[titan_core::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let checks = Sessions::HEALTH_CHECKS;
    assert_eq!(checks.len(), 3);
    assert_eq!(checks[0].kind, HealthKind::Liveness);
    assert_eq!(checks[1].interval, Duration::from_millis(2500));
    assert_eq!(checks[1].timeout, Duration::from_millis(750));
    assert_eq!(checks[1].failure_threshold, 5);
    assert_eq!(checks[2].timeout, Duration::from_secs(86_400));
    assert_eq!(
        Sessions::DEFINITION.method("visit").and_then(|m| m.key),
        Some("user")
    );
    assert_eq!(
        Sessions::DEFINITION.method("total").and_then(|m| m.key),
        Some("scope")
    );
    assert!(Sessions::DEFINITION.method("flush").is_none());

    let pm = ProcessManager::new();
    let sessions: SessionsProxy = pm.spawn::<Sessions>().await?;
    assert_eq!(sessions.visit("ada".into(), "/".into()).await?, 1);
    assert_eq!(
        sessions
            .with_key(&7)
            .visit("ada".into(), "/".into())
            .await?,
        2
    );
    assert_eq!(sessions.total((1, "all".into())).await?, 2);
    assert_eq!(sessions.alive().await?, Health::healthy());
    assert_eq!(sessions.ready().await?.status, HealthStatus::Healthy);
    assert_eq!(sessions.started().await?, Health::healthy());
    pm.shutdown().await?;
    Ok(())
}
