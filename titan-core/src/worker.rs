//! The worker caller: a process on a dedicated OS thread with its own runtime.
//!
//! [`spawn`] starts a thread, builds a current-thread tokio runtime on it and
//! runs `#[init]` there. A call is admitted on the caller's side by the same
//! [`Control`] a local process uses (so it counts as in flight at once), then
//! travels to the worker as a [`Job`]: the request, its payload moved, and a
//! oneshot for the reply. The worker polls each job once as it takes it, and
//! runs one that waits as a task of its own, with the local caller's logic
//! ([`serve`]), so `&self` calls run concurrently on the worker thread and a
//! panic crashes the process as it would locally.
//!
//! The caller's side keeps what must hold even while the worker thread is
//! stuck in a blocking method: it fails the call at once when the process
//! goes down ([`until_down`]) and applies the call's deadline on its own
//! clock. A caller that gives up drops its end of the oneshot, and the worker
//! drops the work.

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::caller::{Caller, Request, Response};
use crate::error::Error;
use crate::local::{self, Control, admit, hold, serve, until_down, with_deadline};
use crate::manager::ProcessId;
use crate::metrics::CallRecorder;
use crate::process::Process;

/// One call on its way to the worker thread.
struct Job {
    request: Request,
    reply: oneshot::Sender<Result<Response, Error>>,
}

/// Calls a process that runs on its own worker thread.
pub(crate) struct WorkerCaller<T> {
    calls: mpsc::UnboundedSender<Job>,
    control: Arc<Control>,
    recorder: Option<Arc<CallRecorder>>,
    process: PhantomData<fn() -> T>,
}

impl<T> WorkerCaller<T> {
    /// The same caller, its calls not counted in the metrics.
    pub(crate) fn unrecorded(&self) -> WorkerCaller<T> {
        WorkerCaller {
            calls: self.calls.clone(),
            control: self.control.clone(),
            recorder: None,
            process: PhantomData,
        }
    }
}

impl<T: Process> Caller for WorkerCaller<T> {
    fn call(&self, mut request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let admitted = match admit::<T>(&self.control, &request, self.recorder.as_ref()) {
            Ok(admitted) => admitted,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        // The deadline is kept here, on the caller's clock: it holds even while
        // the worker thread is busy, and giving up drops the work over there.
        let deadline = request.deadline.take();
        let (reply, replied) = oneshot::channel();
        if self.calls.send(Job { request, reply }).is_err() {
            return Box::pin(std::future::ready(Err(worker_gone(&self.control))));
        }
        Box::pin(async move {
            let control = &admitted.0.clone();
            let reply = async {
                match with_deadline(deadline, replied).await? {
                    Ok(outcome) => outcome,
                    Err(_dropped) => Err(worker_gone(control)),
                }
            };
            // `admitted` lives until here (or, for a stream, until it ends):
            // the call is in flight until the caller has its answer, so a
            // drain never races the reply.
            let response = until_down(control, reply).await?;
            Ok(hold(response, admitted))
        })
    }
}

/// The error for a call the worker thread will never answer. A worker drops
/// calls only once its process is down; if it is not, the thread ended
/// unexpectedly, and the process has crashed.
fn worker_gone(control: &Control) -> Error {
    if !control.is_down() {
        control.crash("its worker thread ended".into());
    }
    control.refusal()
}

/// The OS thread of a worker process.
pub(crate) struct WorkerThread {
    name: String,
    exit: Arc<Exit>,
}

/// How a worker thread's end is awaited: a flag its last act sets, and its handle.
#[derive(Default)]
struct Exit {
    ended: Mutex<bool>,
    ended_changed: Condvar,
    handle: Mutex<Option<JoinHandle<()>>>,
}

/// Sets the thread's `ended` flag when dropped: at the end of its code, or
/// when it unwinds.
struct Ended(Arc<Exit>);

impl Drop for Ended {
    fn drop(&mut self) {
        *lock(&self.0.ended) = true;
        self.0.ended_changed.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl WorkerThread {
    /// Waits for the thread to end and joins it, so that its thread-locals are
    /// gone too; gives up after `timeout` (a method still blocking the thread)
    /// and leaves the thread to end on its own. Returns whether it has ended.
    ///
    /// The wait is a blocking task, never the runtime's thread; being one, it
    /// also keeps a paused test clock from jumping to the timeout meanwhile.
    pub(crate) async fn join(&self, timeout: Duration) -> bool {
        let exit = self.exit.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let ended = lock(&exit.ended);
            let (ended, _) = exit
                .ended_changed
                .wait_timeout_while(ended, timeout, |ended| !*ended)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !*ended {
                return false;
            }
            drop(ended);
            // The thread's code has returned: joining waits only for its
            // thread-locals. The handle stays locked until then, so a second
            // joiner returns only once the first has joined.
            let mut handle = lock(&exit.handle);
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
            true
        });
        let ended = joined.await.unwrap_or(false);
        if !ended {
            tracing::warn!(thread = %self.name, "worker thread still busy after the shutdown timeout; leaving it to end on its own");
        }
        ended
    }
}

/// Starts process `T` on a worker thread of its own; returns once `#[init]`
/// has run there. The thread ends when `control` goes down, or, once every
/// caller is dropped, after a graceful stop of up to `drain`.
pub(crate) async fn spawn<T: Process>(
    id: ProcessId,
    control: Arc<Control>,
    recorder: Arc<CallRecorder>,
    config: T::Config,
    drain: Duration,
) -> Result<(WorkerCaller<T>, WorkerThread), Error> {
    let (ready, started) = oneshot::channel();
    let (calls, jobs) = mpsc::unbounded_channel();
    let exit = Arc::new(Exit::default());
    let name = format!("titan-worker-{}#{id}", T::NAME);
    let handle = {
        let (control, ended) = (control.clone(), Ended(exit.clone()));
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // Dropped last, when the thread's code returns or unwinds.
                let _ended = ended;
                run::<T>(control, config, ready, jobs, drain);
            })
            .map_err(|e| Error::Init {
                process: T::NAME.to_string(),
                reason: format!("could not start its worker thread: {e}"),
            })?
    };
    *lock(&exit.handle) = Some(handle);
    let thread = WorkerThread { name, exit };
    let started = started.await.unwrap_or_else(|_| {
        Err(Error::Init {
            process: T::NAME.to_string(),
            reason: "its worker thread ended before `#[init]` returned".into(),
        })
    });
    match started {
        Ok(()) => {
            let caller = WorkerCaller {
                calls,
                control,
                recorder: Some(recorder),
                process: PhantomData,
            };
            Ok((caller, thread))
        }
        Err(error) => {
            thread.join(drain).await;
            Err(error)
        }
    }
}

/// The worker thread's code: a runtime, `#[init]`, then calls until the end.
fn run<T: Process>(
    control: Arc<Control>,
    config: T::Config,
    mut ready: oneshot::Sender<Result<(), Error>>,
    jobs: mpsc::UnboundedReceiver<Job>,
    drain: Duration,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(Error::Init {
                process: T::NAME.to_string(),
                reason: format!("could not build its worker runtime: {e}"),
            }));
            return;
        }
    };
    runtime.block_on(async move {
        let state = tokio::select! {
            biased;
            () = ready.closed() => return, // the spawn was abandoned
            state = local::init::<T>(config) => state,
        };
        let state = match state {
            Ok(state) => Arc::new(state),
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return; // the spawn was abandoned
        }
        serve_jobs::<T>(control, state, jobs, drain).await;
    });
    // Dropping the runtime drops the calls still running (the process is down,
    // so their callers have their answer already) and the process itself.
}

/// Serves every job (as a task of its own if it waits) until the process goes down, or until
/// every caller is gone (then stops it gracefully, draining up to `drain`).
async fn serve_jobs<T: Process>(
    control: Arc<Control>,
    state: Arc<T::State>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    drain: Duration,
) {
    let _crash_on_exit = CrashOnExit(control.clone());
    {
        let mut down = std::pin::pin!(control.down());
        loop {
            let job = tokio::select! {
                biased;
                () = &mut down => break,
                job = jobs.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let (control, state) = (control.clone(), state.clone());
            let mut work = Box::pin(async move {
                let Job { request, mut reply } = job;
                // Pinned where it is built, so `select!` moves a pointer, not the future.
                let serving = std::pin::pin!(serve::<T>(&control, state, request));
                let outcome = tokio::select! {
                    biased;
                    () = reply.closed() => return, // the caller gave up: drop the work
                    outcome = serving => outcome,
                };
                let _ = reply.send(outcome.map(produce_here));
            });
            // Polled once here: a call that finishes at once (most do) costs
            // no task. One that waits becomes a task, whose first poll
            // registers its own waker in place of this one's.
            if futures::FutureExt::now_or_never(work.as_mut()).is_none() {
                tokio::spawn(work);
            }
        }
    }
    // Already down, unless every caller is gone: then in-flight calls finish first.
    control.stop(drain).await;
    // A graceful stop (not a kill or a crash) ends with `#[on_shutdown]`, here
    // on the worker's own thread, bounded by the join timeout of the stop.
    if control.status() == crate::manager::ProcessStatus::Stopped {
        T::on_shutdown(state).await;
    }
}

/// How many items a stream returned by a worker's method may run ahead of
/// its consumer on the caller's side.
const STREAM_BUFFER: usize = 16;

/// Keeps the producing of a returned stream on the worker thread: a task here
/// pulls its items into a bounded channel that the caller reads from the
/// other runtime. A slow consumer fills the channel and so stops the
/// producer; a dropped one closes it, and the producer is dropped with the task.
fn produce_here(mut response: Response) -> Response {
    let Some(mut items) = response.stream.take() else {
        return response;
    };
    let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                () = sender.closed() => return,
                item = futures::StreamExt::next(&mut items) => match item {
                    Some(item) => {
                        if sender.send(item).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
    });
    response.stream = Some(Box::pin(futures::stream::unfold(
        receiver,
        |mut receiver| async move {
            let item = receiver.recv().await?;
            Some((item, receiver))
        },
    )));
    response
}

/// Marks the process crashed if its worker thread unwinds while the process
/// still takes calls, so that it never looks alive when it is not.
struct CrashOnExit(Arc<Control>);

impl Drop for CrashOnExit {
    fn drop(&mut self) {
        if !self.0.is_down() {
            self.0.crash("its worker thread ended".into());
        }
    }
}
