//! Serves a calculator over TCP until Ctrl-C (or for `--for-secs N` seconds):
//!
//! ```sh
//! cargo run -p titan-examples --example tcp_server                 # tcp://127.0.0.1:7000
//! cargo run -p titan-examples --example tcp_server -- unix:///tmp/calc.sock --for-secs 30
//! ```
//!
//! Then, in another terminal, `cargo run -p titan-examples --example tcp_client`.

use std::time::Duration;

use anyhow::Context;
use titan_core::prelude::*;
use titan_examples::calculator::Calculator;
use titan_transport::Server;

/// Where the server listens unless told otherwise.
pub const DEFAULT_URL: &str = "tcp://127.0.0.1:7000";

const USAGE: &str = "usage: tcp_server [URL] [--for-secs N]
  URL            tcp://HOST:PORT or unix:///PATH (default tcp://127.0.0.1:7000)
  --for-secs N   stop after N seconds instead of waiting for Ctrl-C";

#[titan_core::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = Args::parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let pm = ProcessManager::new();
    let server = start(&pm, &args.url).await?;
    println!("serving calculator on {}", server.local_addr());

    let ctrl_c = tokio::signal::ctrl_c();
    match args.for_secs {
        Some(secs) => {
            println!("stopping in {secs} s (or on Ctrl-C)");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(secs)) => {}
                signal = ctrl_c => signal.context("listening for Ctrl-C")?,
            }
        }
        None => {
            println!("press Ctrl-C to stop");
            ctrl_c.await.context("listening for Ctrl-C")?;
        }
    }

    println!("shutting down: letting calls in flight finish");
    server.shutdown().await;
    pm.shutdown().await?;
    println!("shut down cleanly");
    Ok(())
}

/// Spawns a calculator and serves it on `url`; the server's
/// [`local_addr`](Server::local_addr) is the URL clients connect to.
pub async fn start(pm: &ProcessManager, url: &str) -> anyhow::Result<Server> {
    let calc = pm.spawn::<Calculator>().await?;
    let server = Server::builder()
        .serve::<Calculator>(&calc)
        .bind(url)
        .await
        .with_context(|| format!("starting the server on {url}"))?;
    Ok(server)
}

/// The command line.
struct Args {
    url: String,
    for_secs: Option<u64>,
}

impl Args {
    /// The arguments, or `None` when help was asked for.
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
        let mut url = None;
        let mut for_secs = None;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--for-secs" => {
                    let value = args.next().context("--for-secs needs a number")?;
                    let secs = value
                        .parse()
                        .with_context(|| format!("--for-secs {value}: not a number of seconds"))?;
                    for_secs = Some(secs);
                }
                flag if flag.starts_with('-') => anyhow::bail!("unknown option {flag}\n{USAGE}"),
                _ if url.is_some() => anyhow::bail!("more than one URL given\n{USAGE}"),
                _ => url = Some(arg),
            }
        }
        Ok(Some(Args {
            url: url.unwrap_or_else(|| DEFAULT_URL.to_string()),
            for_secs,
        }))
    }
}
