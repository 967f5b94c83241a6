//! The expansion of `#[process]` names everything by absolute path: it compiles
//! in a crate without the implicit prelude, where `Option`, `Result`, `Send`,
//! `Box` and friends are not in scope, and with user items that shadow them.
//! That holds for every marker: `#[public]`, `#[key]`, `#[health_check]`
//! and `#[on_shutdown]`.
#![no_implicit_prelude]

mod shadowing {
    // Names a careless expansion would pick up instead of the real ones.
    #[allow(dead_code)]
    pub struct Result;
    #[allow(dead_code)]
    pub struct Option;
    #[allow(dead_code)]
    pub struct Arc;
    #[allow(dead_code)]
    pub struct Payload;
    #[allow(dead_code)]
    pub struct Duration;
    #[allow(dead_code)]
    pub struct CallKey;
    #[allow(dead_code)]
    pub struct HealthCheck;
    #[allow(dead_code)]
    pub struct HealthKind;
    #[allow(dead_code)]
    pub struct RwLock;
}

mod hygienic {
    #[allow(unused_imports)]
    use super::shadowing::*;
    use ::titan_core::prelude::*;

    #[derive(::core::default::Default)]
    pub struct Counter {
        value: u64,
    }

    #[process]
    impl Counter {
        #[public]
        pub async fn add(&mut self, state: u64, args: u64) -> u64 {
            // `state` and `args` are also the names of the expansion's own locals.
            self.value += state + args;
            self.value
        }

        #[public]
        pub fn get(&self) -> ::core::result::Result<u64, ::std::string::String> {
            ::core::result::Result::Ok(self.value)
        }

        /// `key` is also the name of the expansion's own local.
        #[public]
        pub async fn keyed(&self, #[key] key: ::std::string::String, state: u64) -> u64 {
            let _ = key;
            state
        }

        #[health_check]
        pub fn alive(&self) -> bool {
            true
        }

        #[health_check(
            kind = "readiness",
            interval = "1.5s",
            timeout = "250ms",
            failure_threshold = 2
        )]
        pub async fn ready(&mut self) -> ::titan_core::health::HealthStatus {
            ::titan_core::health::HealthStatus::Healthy
        }

        #[health_check(kind = "startup")]
        pub async fn started(&self) -> ::titan_core::health::Health {
            ::titan_core::health::Health::healthy()
        }

        #[on_shutdown]
        async fn flush(&mut self) {
            self.value = 0;
        }
    }
}

#[test]
fn a_process_compiles_and_runs_without_the_prelude() {
    use ::titan_core::prelude::*;
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let pm = ProcessManager::new();
        let counter = pm.spawn::<hygienic::Counter>().await.expect("spawns");
        ::std::assert_eq!(counter.add(2, 3).await.expect("add"), 5);
        ::std::assert_eq!(counter.get().await.expect("get"), 5);
        ::std::assert_eq!(
            counter
                .keyed(::std::string::String::new(), 7)
                .await
                .expect("keyed"),
            7
        );
        ::std::assert_eq!(
            counter.ready().await.expect("ready"),
            ::titan_core::health::Health::healthy()
        );
        ::std::assert_eq!(
            counter.alive().await.expect("alive").status,
            HealthStatus::Healthy
        );
        ::std::assert_eq!(counter.started().await.expect("started"), Health::healthy());
    });
    let checks = <hygienic::Counter as Process>::HEALTH_CHECKS;
    ::std::assert_eq!(checks.len(), 3);
    ::std::assert_eq!(checks[1].interval, ::std::time::Duration::from_millis(1500));
}
