//! The expansion of `#[process]` names everything by absolute path: it compiles
//! in a crate without the implicit prelude, where `Option`, `Result`, `Send`,
//! `Box` and friends are not in scope, and with user items that shadow them.
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
    });
}
