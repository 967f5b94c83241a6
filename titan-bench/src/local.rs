//! A call within one runtime: Titan's `Isolation::Local` against a direct
//! `async fn` call, a tokio mpsc + oneshot round trip, and tarpc's in-process
//! channel. Everything runs on the bench's one pinned thread.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::measure::{Call, Settings, closed_loop};
use crate::report::{Case, Implementation, Row};
use crate::service::{Bench, TitanCall, check_echo, payload};

/// The baseline's method: what `Bench::echo` does, called directly.
#[inline(never)]
async fn echo(data: Bytes) -> Bytes {
    std::hint::black_box(data)
}

/// Calls [`echo`] directly.
#[derive(Clone)]
struct Direct(Bytes);

impl Call for Direct {
    async fn call(&mut self) -> anyhow::Result<()> {
        let echoed = echo(self.0.clone()).await;
        check_echo(&self.0, &echoed)
    }
}

/// A request and where its reply goes.
pub type Job = (Bytes, oneshot::Sender<Bytes>);

/// Sends each call over an mpsc channel to a task that answers on a oneshot.
#[derive(Clone)]
pub struct MpscOneshot {
    jobs: mpsc::UnboundedSender<Job>,
    data: Bytes,
}

impl MpscOneshot {
    /// A caller over `jobs`, echoing `data`.
    pub fn new(jobs: mpsc::UnboundedSender<Job>, data: Bytes) -> MpscOneshot {
        MpscOneshot { jobs, data }
    }
}

impl Call for MpscOneshot {
    async fn call(&mut self) -> anyhow::Result<()> {
        let (reply, replied) = oneshot::channel();
        self.jobs
            .send((self.data.clone(), reply))
            .map_err(|_| anyhow::anyhow!("the echo task is gone"))?;
        let echoed = replied.await?;
        check_echo(&self.data, &echoed)
    }
}

/// Answers every job with its own bytes, until every sender is gone.
pub async fn answer(mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some((data, reply)) = jobs.recv().await {
        let _ = reply.send(echo(data).await);
    }
}

/// Measures the local rows of `case` (concurrency 1, a 16-byte payload).
pub async fn run(settings: &Settings, case: &Case) -> anyhow::Result<Vec<Row>> {
    let data = payload(case.payload);
    let concurrency = case.concurrency;
    let mut group = case.group("local call");

    if case.wants(Implementation::Direct) {
        let measured = closed_loop(settings, concurrency, Direct(data.clone())).await?;
        group.push(Implementation::Direct, "direct `async fn` call", measured);
    }
    if case.wants(Implementation::MpscOneshot) {
        let (jobs, received) = mpsc::unbounded_channel();
        let answering = tokio::spawn(answer(received));
        let caller = MpscOneshot::new(jobs, data.clone());
        let measured = closed_loop(settings, concurrency, caller).await?;
        answering.await?;
        group.push(
            Implementation::MpscOneshot,
            "tokio mpsc + oneshot",
            measured,
        );
    }
    if case.wants(Implementation::Tarpc) {
        let caller = crate::tarpc_rows::in_process(data.clone());
        let measured = closed_loop(settings, concurrency, caller).await?;
        group.push(Implementation::Tarpc, "tarpc in-process channel", measured);
    }
    if case.wants(Implementation::Titan) {
        let pm = titan_core::ProcessManager::new();
        let bench = pm.spawn::<Bench>().await?;
        let measured = closed_loop(settings, concurrency, TitanCall::new(bench, data)).await?;
        pm.shutdown().await?;
        group.push(
            Implementation::Titan,
            "Titan proxy, `Isolation::Local`",
            measured,
        );
    }
    Ok(group.finish())
}
