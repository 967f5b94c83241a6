// The code `#[process]` generates is free of warnings, even under `deny(warnings, missing_docs)`.
#![deny(warnings, missing_docs, unreachable_pub, unused_qualifications)]
//! A library-like module whose process must compile without a single warning.

/// A library of processes.
pub mod library {
    use titan_core::prelude::*;

    /// Counts things.
    #[derive(Default)]
    pub struct Counter {
        value: u64,
    }

    /// A counter service.
    #[process]
    impl Counter {
        /// Adds `by` and returns the new value.
        #[public]
        pub async fn increment(&mut self, by: u64) -> u64 {
            self.value += by;
            self.value
        }

        /// The current value.
        #[public]
        pub fn get(&self) -> u64 {
            self.value
        }

        /// Fails on purpose when asked to.
        #[public]
        pub fn check(&self, fail: bool) -> Result<(), String> {
            if fail {
                Err("asked to fail".into())
            } else {
                Ok(())
            }
        }

        /// Adds `by` to the count of `name`, routed by `name`.
        #[public]
        pub async fn add_to(&self, #[key] name: String, by: u64) -> u64 {
            let _ = name;
            self.value + by
        }

        /// A private health check: its proxy method is private too.
        #[health_check]
        fn alive(&self) -> bool {
            true
        }

        /// A public one.
        #[health_check(kind = "readiness", interval = "5s")]
        pub async fn ready(&mut self) -> HealthStatus {
            HealthStatus::Healthy
        }

        #[on_shutdown]
        async fn flush(&mut self) {
            self.value = 0;
        }
    }

    /// A process whose interface is crate-private.
    #[derive(Default)]
    pub(crate) struct Internal;

    /// An internal service.
    #[process]
    impl Internal {
        /// Pings.
        #[public]
        pub(crate) async fn ping(&self) -> bool {
            true
        }
    }

    /// A process with no public methods at all.
    #[derive(Default)]
    pub struct Idle;

    #[process]
    impl Idle {}
}

fn main() {
    // Only compilation is under test here; the types exist.
    let _ = std::any::type_name::<library::CounterProxy>();
    let _ = std::any::type_name::<library::InternalProxy>();
    let _ = std::any::type_name::<library::IdleProxy>();
}
