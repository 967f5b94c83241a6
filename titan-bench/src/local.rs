//! A call within one runtime: Titan's `Isolation::Local` against a direct
//! `async fn` call, a tokio mpsc + oneshot round trip, and tarpc's in-process
//! channel. Everything runs on the bench's one pinned thread.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::measure::{Call, Callers, Lineup, Settings};
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

/// Measures the local rows of `case` (concurrency 1, a 16-byte payload),
/// in turns ([`Lineup`]).
pub async fn run(settings: &Settings, case: &Case) -> anyhow::Result<Vec<Row>> {
    let data = payload(case.payload);
    let concurrency = case.concurrency;
    let mut lineup = Lineup::default();

    if case.wants(Implementation::Direct) {
        lineup.add(
            Implementation::Direct,
            "direct `async fn` call",
            Callers::boxed(Direct(data.clone()), concurrency),
        );
    }
    let mut answering = None;
    if case.wants(Implementation::MpscOneshot) {
        let (jobs, received) = mpsc::unbounded_channel();
        answering = Some(tokio::spawn(answer(received)));
        lineup.add(
            Implementation::MpscOneshot,
            "tokio mpsc + oneshot",
            Callers::boxed(MpscOneshot::new(jobs, data.clone()), concurrency),
        );
    }
    if case.wants(Implementation::Tarpc) {
        let caller = crate::tarpc_rows::in_process(data.clone());
        lineup.add(
            Implementation::Tarpc,
            "tarpc in-process channel",
            Callers::boxed(caller, concurrency),
        );
    }
    let pm = titan_core::ProcessManager::new();
    if case.wants(Implementation::Titan) {
        let bench = pm.spawn::<Bench>().await?;
        lineup.add(
            Implementation::Titan,
            "Titan proxy, `Isolation::Local`",
            Callers::boxed(TitanCall::new(bench, data), concurrency),
        );
    }

    // The channel's last sender goes with its contender: the echo task ends.
    let rows = lineup.measure(settings, case.group("local call")).await?;
    if let Some(answering) = answering {
        answering.await?;
    }
    pm.shutdown().await?;
    Ok(rows)
}
