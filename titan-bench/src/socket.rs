//! Calls over a unix socket and over TCP: Titan's `connect` proxy against a
//! raw tokio echo and tarpc, each server in a child process of the bench.
//!
//! At concurrency `c`, `c` closed-loop callers share one connection: `c`
//! clones of one Titan proxy, `c` clones of one tarpc client, or `c` requests
//! kept in flight by the raw echo's one pipelining loop.

use crate::measure::{Measurement, Settings, closed_loop};
use crate::placement::{Cpus, Placement};
use crate::report::{Case, Group, Implementation, Row};
use crate::server::{Kind, ServerProcess, Socket};
use crate::service::{Bench, TitanCall, payload};

/// Measures every case over `socket` in one placement: the raw echo, tarpc
/// and Titan, each against a server of its own.
pub async fn run(
    socket: Socket,
    cpus: &Cpus,
    placement: Placement,
    settings: &Settings,
    cases: &[Case],
) -> anyhow::Result<Vec<Row>> {
    let scenario = match socket {
        Socket::Unix => "unix socket",
        Socket::Tcp => "TCP 127.0.0.1, nodelay",
    };
    let mut groups: Vec<Group> = cases.iter().map(|case| case.group(scenario)).collect();
    let implementations = [
        (Kind::Raw, Implementation::RawEcho, "raw tokio echo"),
        (Kind::Tarpc, Implementation::Tarpc, "tarpc, bincode"),
        (Kind::Titan, Implementation::Titan, "Titan proxy, `connect`"),
    ];
    for (kind, implementation, label) in implementations {
        if !cases.iter().any(|case| case.wants(implementation)) {
            continue;
        }
        let server = ServerProcess::start(kind, socket, cpus, placement).await?;
        for (case, group) in cases.iter().zip(&mut groups) {
            if case.wants(implementation) {
                let measured = measure(&server, kind, socket, case, settings).await?;
                group.push(implementation, label, measured);
            }
        }
        server.stop().await;
    }
    Ok(groups.into_iter().flat_map(Group::finish).collect())
}

/// Measures one case against `server`, on a connection of its own.
async fn measure(
    server: &ServerProcess,
    kind: Kind,
    socket: Socket,
    case: &Case,
    settings: &Settings,
) -> anyhow::Result<Measurement> {
    let (size, concurrency) = (case.payload, case.concurrency);
    let data = payload(size);
    match (kind, socket) {
        (Kind::Raw, Socket::Unix) => {
            crate::raw::measure(server.connect_unix().await?, size, concurrency, settings).await
        }
        (Kind::Raw, Socket::Tcp) => {
            crate::raw::measure(server.connect_tcp().await?, size, concurrency, settings).await
        }
        (Kind::Tarpc, Socket::Unix) => {
            let caller = crate::tarpc_rows::over(server.connect_unix().await?, data);
            closed_loop(settings, concurrency, caller).await
        }
        (Kind::Tarpc, Socket::Tcp) => {
            let caller = crate::tarpc_rows::over(server.connect_tcp().await?, data);
            closed_loop(settings, concurrency, caller).await
        }
        (Kind::Titan, _) => {
            let proxy = titan_transport::connect::<Bench>(server.url.as_str()).await?;
            closed_loop(settings, concurrency, TitanCall::new(proxy, data)).await
        }
    }
}
