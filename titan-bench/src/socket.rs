//! Calls over a unix socket and over TCP: Titan's `connect` proxy against a
//! raw tokio echo and tarpc, each server in a child process of the bench.
//!
//! At concurrency `c`, `c` closed-loop callers share one connection: `c`
//! clones of one Titan proxy, `c` clones of one tarpc client, or `c` requests
//! kept in flight by the raw echo's one pipelining loop.

use crate::measure::{Callers, Contender, Lineup, Settings};
use crate::placement::{Cpus, Placement};
use crate::raw::RawEcho;
use crate::report::{Case, Implementation, Row};
use crate::server::{Kind, ServerProcess, Socket};
use crate::service::{Bench, TitanCall, payload};

/// Measures every case over `socket` in one placement: the raw echo, tarpc
/// and Titan, each against a server of its own. The servers run side by
/// side, so that each case's rows can take turns ([`Lineup`]).
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
    let implementations = [
        (Kind::Raw, Implementation::RawEcho, "raw tokio echo"),
        (Kind::Tarpc, Implementation::Tarpc, "tarpc, bincode"),
        (Kind::Titan, Implementation::Titan, "Titan proxy, `connect`"),
    ];
    let mut servers = Vec::new();
    for (kind, implementation, label) in implementations {
        if cases.iter().any(|case| case.wants(implementation)) {
            let server = ServerProcess::start(kind, socket, cpus, placement).await?;
            servers.push((kind, implementation, label, server));
        }
    }
    let measured = measure_cases(&servers, socket, scenario, settings, cases).await;
    for (_, _, _, server) in servers {
        server.stop().await;
    }
    measured
}

async fn measure_cases(
    servers: &[(Kind, Implementation, &'static str, ServerProcess)],
    socket: Socket,
    scenario: &str,
    settings: &Settings,
    cases: &[Case],
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for case in cases {
        let mut lineup = Lineup::default();
        for (kind, implementation, label, server) in servers {
            if case.wants(*implementation) {
                lineup.add(
                    *implementation,
                    label,
                    contender(server, *kind, socket, case).await?,
                );
            }
        }
        rows.extend(lineup.measure(settings, case.group(scenario)).await?);
    }
    Ok(rows)
}

/// One case's row against `server`, on a connection of its own.
async fn contender(
    server: &ServerProcess,
    kind: Kind,
    socket: Socket,
    case: &Case,
) -> anyhow::Result<Box<dyn Contender>> {
    let (size, concurrency) = (case.payload, case.concurrency);
    let data = payload(size);
    Ok(match (kind, socket) {
        (Kind::Raw, Socket::Unix) => {
            RawEcho::boxed(server.connect_unix().await?, size, concurrency)
        }
        (Kind::Raw, Socket::Tcp) => RawEcho::boxed(server.connect_tcp().await?, size, concurrency),
        (Kind::Tarpc, Socket::Unix) => Callers::boxed(
            crate::tarpc_rows::over(server.connect_unix().await?, data),
            concurrency,
        ),
        (Kind::Tarpc, Socket::Tcp) => Callers::boxed(
            crate::tarpc_rows::over(server.connect_tcp().await?, data),
            concurrency,
        ),
        (Kind::Titan, _) => {
            let proxy = titan_transport::connect::<Bench>(server.url.as_str()).await?;
            Callers::boxed(TitanCall::new(proxy, data), concurrency)
        }
    })
}
