//! What every row calls: an echo of a byte payload.
//!
//! The Titan side is the [`Bench`] process; each baseline implements the same
//! echo its own way (a plain `async fn`, a channel, a raw socket, tarpc).
//! Payloads are [`Bytes`], which Titan's postcard, tarpc's bincode and the raw
//! echo all carry as one length and the bytes, and which a local call moves by
//! bumping a reference count.

use bytes::Bytes;
use titan_core::prelude::*;

/// The Titan process every Titan row calls.
#[derive(Debug, Default)]
pub struct Bench;

/// Echoes payloads back, as fast as it can.
#[process(name = "bench", version = "1.0.0")]
impl Bench {
    /// Returns `data` as it came.
    #[public]
    pub async fn echo(&self, data: Bytes) -> Bytes {
        data
    }
}

/// A payload of `size` bytes.
pub fn payload(size: usize) -> Bytes {
    Bytes::from(vec![0xa5; size])
}

/// How a payload size reads in the table: `16 B`, `1 KiB`.
pub fn size_name(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Checks that an echo came back whole.
pub fn check_echo(sent: &Bytes, received: &Bytes) -> anyhow::Result<()> {
    anyhow::ensure!(
        received.len() == sent.len(),
        "the echo came back with {} bytes instead of {}",
        received.len(),
        sent.len()
    );
    Ok(())
}

/// A closed-loop Titan caller: a clone of a proxy, echoing one payload.
#[derive(Debug, Clone)]
pub struct TitanCall {
    proxy: BenchProxy,
    data: Bytes,
}

impl TitanCall {
    /// A caller through `proxy`, echoing `data`.
    pub fn new(proxy: BenchProxy, data: Bytes) -> TitanCall {
        TitanCall { proxy, data }
    }
}

impl crate::measure::Call for TitanCall {
    async fn call(&mut self) -> anyhow::Result<()> {
        let echoed = self.proxy.echo(self.data.clone()).await?;
        check_echo(&self.data, &echoed)
    }
}
