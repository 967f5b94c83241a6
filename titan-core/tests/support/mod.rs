//! Helpers shared by the integration tests.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Polls `future` exactly once with the current task's waker, so a test can
/// start a call (it is then in flight, inside the method) and finish it later.
pub async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}
