//! The local caller: a process in the caller's own runtime.
//!
//! A call runs the method on the calling task with its arguments moved, never
//! serialised, so a local call costs little more than the method itself.
//! Around it, a [`Control`] keeps the process's lifecycle: it counts calls in
//! flight (for draining), fails every in-flight call at once when the process
//! is killed, and turns a panic in a method into a crash of the process.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, Request, Response};
use crate::definition::ServiceDefinition;
use crate::error::Error;
use crate::manager::ProcessStatus;
use crate::metrics::{CallRecorder, CallTimer};
use crate::process::Process;

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const DOWN: u8 = 2;

/// The lifecycle of one running instance, shared by its callers and its manager.
pub(crate) struct Control {
    label: String,
    /// Hot-path copy of whether calls are accepted.
    phase: AtomicU8,
    status: Mutex<ProcessStatus>,
    in_flight: AtomicUsize,
    drained: Notify,
    /// Fired when the process goes down: in-flight calls fail at once.
    down: CancellationToken,
}

impl Control {
    pub(crate) fn new(label: String) -> Control {
        Control {
            label,
            phase: AtomicU8::new(RUNNING),
            status: Mutex::new(ProcessStatus::Running),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            down: CancellationToken::new(),
        }
    }

    pub(crate) fn status(&self) -> ProcessStatus {
        self.lock_status().clone()
    }

    /// The status, locked. Phase changes happen under this lock, so the status
    /// and the phase always agree: a call refused because of the phase reads
    /// the status that goes with it.
    fn lock_status(&self) -> MutexGuard<'_, ProcessStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Whether the process takes calls: neither stopping nor down.
    pub(crate) fn is_running(&self) -> bool {
        self.phase.load(Ordering::Acquire) == RUNNING
    }

    /// Whether the process is down (stopped, killed or crashed).
    pub(crate) fn is_down(&self) -> bool {
        self.phase.load(Ordering::Acquire) == DOWN
    }

    /// Resolves when the process goes down.
    pub(crate) fn down(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.down.cancelled()
    }

    /// The error a call gets when the process no longer takes calls.
    pub(crate) fn refusal(&self) -> Error {
        match self.status() {
            ProcessStatus::Crashed { reason } => Error::ProcessCrashed {
                process: self.label.clone(),
                reason,
            },
            ProcessStatus::Killed => Error::ProcessStopped {
                process: self.label.clone(),
                reason: "killed".into(),
            },
            _ => Error::ProcessStopped {
                process: self.label.clone(),
                reason: "shut down".into(),
            },
        }
    }

    /// Admits a call, or refuses it when the process is stopping or down.
    fn enter(self: &Arc<Self>) -> Result<InFlight, Error> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        // Checked after counting, so a concurrent drain never misses this call.
        if self.phase.load(Ordering::Acquire) != RUNNING {
            InFlight(self.clone(), None).finish();
            return Err(self.refusal());
        }
        Ok(InFlight(self.clone(), None))
    }

    /// Kills the process: no new calls, in-flight calls fail now.
    pub(crate) fn kill(&self) {
        self.go_down(ProcessStatus::Killed);
    }

    /// Marks the process crashed (a method panicked, its worker thread or
    /// child OS process died): every call fails from now on.
    ///
    /// Every isolation reports a crash here and nowhere else, which makes this
    /// the one place a restart policy needs to watch.
    pub(crate) fn crash(&self, reason: String) {
        tracing::error!(process = %self.label, %reason, "process crashed");
        self.go_down(ProcessStatus::Crashed { reason });
    }

    fn go_down(&self, status: ProcessStatus) {
        {
            let mut current = self.lock_status();
            if self.phase.load(Ordering::Acquire) == DOWN {
                return; // the first reason to go down wins
            }
            *current = status;
            self.phase.store(DOWN, Ordering::Release);
        }
        self.down.cancel();
    }

    /// Graceful stop: refuse new calls, wait for in-flight ones up to `timeout`,
    /// then fail whatever is left. Returns how many calls had to be cut off.
    ///
    /// A stop that finds the process already stopping (a `stop` and a
    /// `shutdown`, or two shutdowns) drains alongside the first one rather than
    /// returning early: when any of them returns, the process is down.
    pub(crate) async fn stop(&self, timeout: Duration) -> usize {
        {
            let mut status = self.lock_status();
            match self.phase.load(Ordering::Acquire) {
                RUNNING => {
                    *status = ProcessStatus::Stopping;
                    self.phase.store(STOPPING, Ordering::SeqCst);
                }
                STOPPING => {}
                _ => return 0, // already down
            }
        }
        let drained = async {
            loop {
                let notified = self.drained.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let cut_off = tokio::select! {
            biased;
            // Another stop cut the calls off, or the process was killed or crashed.
            () = self.down.cancelled() => 0,
            drained = tokio::time::timeout(timeout, drained) => match drained {
                Ok(()) => 0,
                Err(_) => self.in_flight(),
            },
        };
        if cut_off > 0 {
            tracing::warn!(process = %self.label, cut_off, "shutdown timeout: failing calls still in flight");
        }
        self.go_down(ProcessStatus::Stopped);
        cut_off
    }
}

/// One admitted call; dropping it ends the call's count. It carries the
/// call's metrics timer, if the call is recorded: [`hold`] finishes it as a
/// success, and a call dropped before (an error, a caller that gave up)
/// counts as failed.
pub(crate) struct InFlight(pub(crate) Arc<Control>, Option<CallTimer>);

impl InFlight {
    fn finish(self) {}

    /// The call has its reply: it succeeded, however long a stream it returns runs.
    fn succeeded(&mut self) {
        if let Some(timer) = self.1.take() {
            timer.finish(true);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Only a stop waits for the count to reach zero, and it marks the
        // process stopping first (then checks the count): while it runs, no
        // one needs waking. SeqCst on both sides orders the count against
        // the phase, so a stop that begins meanwhile sees zero itself.
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.phase.load(Ordering::SeqCst) != RUNNING
        {
            self.0.drained.notify_waiters();
        }
    }
}

/// Calls a process that lives in this OS process.
pub(crate) struct LocalCaller<T: Process> {
    pub(crate) state: Arc<T::State>,
    pub(crate) control: Arc<Control>,
    /// Where its calls are counted, unless it is the unrecorded twin that
    /// health probes and waiting callers use.
    pub(crate) recorder: Option<Arc<CallRecorder>>,
}

impl<T: Process> Caller for LocalCaller<T> {
    fn call(&self, request: Request) -> BoxFuture<'static, Result<Response, Error>> {
        let admitted = match admit::<T>(&self.control, &request, self.recorder.as_ref()) {
            Ok(admitted) => admitted,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let state = self.state.clone();
        Box::pin(async move {
            let control = admitted.0.clone();
            // Pinned where it is built: the wrappers around it then move a
            // pointer, not the whole (large) future of the method.
            let serving = std::pin::pin!(serve::<T>(&control, state, request));
            let response = until_down(&control, serving).await?;
            Ok(hold(response, admitted))
        })
    }
}

/// Admits a call to a `T`, or refuses it: a request for another service, or
/// one that comes when the process takes no calls. The call counts as in
/// flight while the returned guard lives, and in `recorder`'s metrics (a
/// refused call as an error).
pub(crate) fn admit<T: Process>(
    control: &Arc<Control>,
    request: &Request,
    recorder: Option<&Arc<CallRecorder>>,
) -> Result<InFlight, Error> {
    let timer = recorder.map(CallRecorder::begin);
    // An associated const may be a different copy at each use site, so the
    // pointer check is only a shortcut; the same name and version is the usual case.
    let asked = request.service;
    let same = std::ptr::eq(asked, T::DEFINITION)
        || (asked.name == T::NAME && asked.version == T::VERSION);
    if !same {
        check_service(asked, T::DEFINITION)?;
    }
    let mut admitted = control.enter()?;
    admitted.1 = timer;
    Ok(admitted)
}

/// Runs an admitted call on the current task, up to its deadline; a panic in
/// the method crashes the process.
pub(crate) async fn serve<T: Process>(
    control: &Control,
    state: Arc<T::State>,
    request: Request,
) -> Result<Response, Error> {
    let method = request.method.name;
    let deadline = request.deadline;
    // Pinned where it is built, so the wrappers move a pointer, not the future.
    let work = std::pin::pin!(T::dispatch(
        state,
        request.method.id,
        request.payload,
        request.stream,
    ));
    match with_deadline(deadline, AssertUnwindSafe(work).catch_unwind()).await? {
        Ok(reply) => reply,
        Err(panic) => {
            let message = panic_message(&*panic);
            control.crash(format!("method `{method}` panicked: {message}"));
            Err(control.refusal())
        }
    }
}

/// Keeps a call in flight for as long as the stream of its reply, if it has
/// one: a graceful stop waits for the stream to end, and when the process goes
/// down the stream ends with the reason. A panic while producing an item
/// crashes the process.
pub(crate) fn hold(mut response: Response, mut admitted: InFlight) -> Response {
    admitted.succeeded();
    let Some(stream) = response.stream.take() else {
        return response;
    };
    let held = futures::stream::unfold(Some((stream, admitted)), |state| async move {
        let (mut stream, admitted) = state?;
        let control = admitted.0.clone();
        let next = AssertUnwindSafe(futures::StreamExt::next(&mut stream)).catch_unwind();
        tokio::select! {
            biased;
            () = control.down() => Some((Err(control.refusal()), None)),
            item = next => match item {
                Ok(Some(Ok(item))) => Some((Ok(item), Some((stream, admitted)))),
                Ok(Some(Err(error))) => Some((Err(error), None)),
                Ok(None) => None,
                Err(panic) => {
                    let message = panic_message(&*panic);
                    control.crash(format!("a stream it returned panicked: {message}"));
                    Some((Err(control.refusal()), None))
                }
            },
        }
    });
    response.stream = Some(Box::pin(held));
    response
}

/// `call`, unless the process goes down first: then the call fails at once.
pub(crate) async fn until_down(
    control: &Control,
    call: impl std::future::Future<Output = Result<Response, Error>>,
) -> Result<Response, Error> {
    // The call first: one that completes at once never registers with the
    // down signal (a lock and an unlock), and a process that goes down still
    // wakes every call that waits.
    tokio::select! {
        biased;
        outcome = call => outcome,
        () = control.down() => Err(control.refusal()),
    }
}

/// Builds an instance of `T`. A constructor that panics fails like one that
/// returns `Err` (as it would in a child process), rather than unwinding into
/// the caller.
pub(crate) async fn init<T: Process>(config: T::Config) -> Result<T::State, Error> {
    match AssertUnwindSafe(T::init(config)).catch_unwind().await {
        Ok(state) => state,
        Err(panic) => Err(Error::Init {
            process: T::NAME.to_string(),
            reason: format!("`#[init]` panicked: {}", panic_message(&*panic)),
        }),
    }
}

/// A request built for another service (a proxy made from the wrong client)
/// is refused by name or by major version, never dispatched by id alone.
fn check_service(
    asked: &ServiceDefinition,
    served: &'static ServiceDefinition,
) -> Result<(), Error> {
    if asked.name != served.name {
        return Err(Error::ServiceNotFound {
            service: format!("{asked} (this process serves {served})"),
        });
    }
    if !served.accepts(asked.version) {
        return Err(Error::VersionMismatch {
            service: served.name.to_string(),
            expected: asked.version.to_string(),
            found: served.version.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn with_deadline<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    work: F,
) -> Result<F::Output, Error> {
    match deadline {
        None => Ok(work.await),
        // Boxed: a timer is large, and most calls have no deadline; inline,
        // it would make every call's future (moved into its box) that much
        // larger.
        Some(at) => Box::pin(tokio::time::timeout_at(at, work))
            .await
            .map_err(|_| Error::Timeout),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}
