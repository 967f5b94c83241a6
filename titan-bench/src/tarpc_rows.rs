//! tarpc, the established Rust RPC framework, doing the same echo.
//!
//! In process it runs over `tarpc::transport::channel`; over unix sockets and
//! TCP over `tarpc::serde_transport` with bincode, the lightest of its codecs,
//! on the same length-delimited framing as Titan. The server runs each
//! request as a task of its own, as tarpc's own examples do (and as Titan's
//! host does).

use bytes::Bytes;
use futures::StreamExt;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::{Framed, LengthDelimitedCodec};
use tarpc::{client, context};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::measure::Call;
use crate::service::check_echo;

/// The echo service, as tarpc defines services.
#[tarpc::service]
pub trait EchoRpc {
    /// Returns `data` as it came.
    async fn echo(data: Bytes) -> Bytes;
}

/// The tarpc server's implementation.
#[derive(Debug, Clone, Copy)]
struct EchoServer;

impl EchoRpc for EchoServer {
    async fn echo(self, _: context::Context, data: Bytes) -> Bytes {
        data
    }
}

/// A closed-loop tarpc caller: a clone of the client, one call at a time.
#[derive(Clone)]
pub struct TarpcCall {
    client: EchoRpcClient,
    data: Bytes,
}

impl Call for TarpcCall {
    async fn call(&mut self) -> anyhow::Result<()> {
        let echoed = self
            .client
            .echo(context::current(), self.data.clone())
            .await?;
        check_echo(&self.data, &echoed)
    }
}

/// A tarpc client and server joined by tarpc's in-process channel, the
/// server's requests running as tasks of the current runtime.
pub fn in_process(data: Bytes) -> TarpcCall {
    let (client_side, server_side) = tarpc::transport::channel::unbounded();
    let server = BaseChannel::with_defaults(server_side);
    tokio::spawn(
        server
            .execute(EchoServer.serve())
            .for_each(|request| async move {
                tokio::spawn(request);
            }),
    );
    let client = EchoRpcClient::new(client::Config::default(), client_side).spawn();
    TarpcCall { client, data }
}

/// A tarpc client over a connected socket.
pub fn over<S>(stream: S, data: Bytes) -> TarpcCall
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let transport = tarpc::serde_transport::new(
        Framed::new(stream, LengthDelimitedCodec::new()),
        Bincode::default(),
    );
    let client = EchoRpcClient::new(client::Config::default(), transport).spawn();
    TarpcCall { client, data }
}

/// Serves the echo on one accepted connection until the client goes.
pub async fn serve<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let transport = tarpc::serde_transport::new(
        Framed::new(stream, LengthDelimitedCodec::new()),
        Bincode::default(),
    );
    BaseChannel::with_defaults(transport)
        .execute(EchoServer.serve())
        .for_each(|request| async move {
            tokio::spawn(request);
        })
        .await;
}
