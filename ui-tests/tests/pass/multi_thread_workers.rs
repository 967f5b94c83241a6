// `#[titan_core::main(worker_threads = 2)]` and a `main` without a return type compile and run.
use titan_core::prelude::*;

#[derive(Default)]
pub struct Echo;

#[process]
impl Echo {
    #[public]
    pub async fn echo(&self, value: Vec<u8>) -> Vec<u8> {
        value
    }
}

#[titan_core::main(worker_threads = 2)]
async fn main() {
    let pm = ProcessManager::new();
    let echo = pm.spawn::<Echo>().await.expect("spawns");
    assert_eq!(
        echo.echo(vec![1, 2, 3]).await.expect("echoes"),
        vec![1, 2, 3]
    );
}
