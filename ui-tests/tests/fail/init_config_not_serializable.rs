// An `#[init]` config that is not serialisable is reported at the config type.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Config {
    pub base: i64,
}

pub struct Calculator {
    base: i64,
}

#[process]
impl Calculator {
    #[init]
    pub async fn new(config: Config) -> Self {
        Calculator { base: config.base }
    }

    #[public]
    pub async fn add(&self, a: i64) -> i64 {
        self.base + a
    }
}

fn main() {}
