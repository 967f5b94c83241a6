//! Streams across process boundaries: [`Stream<T>`].
//!
//! A `#[public]` method may take one `Stream<T>` argument (the caller sends
//! items) and may return `Stream<T>` or `impl Stream<Item = T>` (the process
//! sends items). Items are moved within an OS process and travel as frames
//! across one, with backpressure either way: a sender runs at most a window
//! of items ahead of its receiver, so a slow consumer slows the producer and
//! memory stays bounded. Dropping a stream stops its producer.
//!
//! ```
//! use titan_core::prelude::*;
//! use futures::StreamExt;
//!
//! #[derive(Default)]
//! struct Counter;
//!
//! #[process]
//! impl Counter {
//!     /// Counts from 1 to `n`.
//!     #[public]
//!     fn count(&self, n: u32) -> Stream<u32> {
//!         Stream::iter(1..=n)
//!     }
//!
//!     /// Adds up what it is sent.
//!     #[public]
//!     async fn total(&self, mut values: Stream<u32>) -> u32 {
//!         let mut total = 0;
//!         while let Some(value) = values.next().await {
//!             total += value;
//!         }
//!         total
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> anyhow::Result<()> {
//! let pm = ProcessManager::new();
//! let counter = pm.spawn::<Counter>().await?;
//! let items: Vec<u32> = counter.count(3).await?.map(|item| item.unwrap()).collect().await;
//! assert_eq!(items, [1, 2, 3]);
//! assert_eq!(counter.total(Stream::iter(vec![1, 2, 3])).await?, 6);
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed, `Send` stream of `T`: what streaming methods take and return.
pub struct Stream<T> {
    inner: Pin<Box<dyn futures::Stream<Item = T> + Send + 'static>>,
}

impl<T> Stream<T> {
    /// Wraps any `Send` stream.
    pub fn new(stream: impl futures::Stream<Item = T> + Send + 'static) -> Stream<T> {
        Stream {
            inner: Box::pin(stream),
        }
    }

    /// The items of an iterator.
    pub fn iter<I>(items: I) -> Stream<T>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Stream::new(futures::stream::iter(items))
    }

    /// A stream with no items.
    pub fn empty() -> Stream<T>
    where
        T: Send + 'static,
    {
        Stream::new(futures::stream::empty())
    }
}

impl<T> futures::Stream for Stream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stream(..)")
    }
}

impl<T: Send + 'static> From<Vec<T>> for Stream<T> {
    fn from(items: Vec<T>) -> Stream<T> {
        Stream::iter(items)
    }
}
