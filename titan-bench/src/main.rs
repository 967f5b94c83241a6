//! `titan-bench`: what a Titan proxy costs over the transport under it, and
//! against tarpc, each scenario measured side by side with its baselines in
//! one run.
//!
//! ```sh
//! cargo run --release -p titan-bench                  # everything, under 3 minutes on 2 cores
//! cargo run --release -p titan-bench -- --quick       # a smoke run of every scenario
//! cargo run --release -p titan-bench -- --filter tcp  # only the rows whose key contains `tcp`
//! cargo run --release -p titan-bench -- --list        # the keys
//! ```
//!
//! One module per scenario family: [`local`], [`worker`], [`child`],
//! [`socket`] (unix and TCP, with the servers in [`server`] and the raw echo
//! in [`raw`]), [`tarpc_rows`] and [`spawn`]; [`measure`] is the harness,
//! [`placement`] pins the sides to vCPUs, [`report`] prints the table and
//! [`targets`] checks the goals. [`pool`] times a pool's pick per strategy.
//!
//! The binary is also its own servers and children: [`main`] first lets
//! `titan_core::child::host_if_child` host a `Bench` for `Isolation::Child`,
//! then becomes a server if [`server::ENV_SERVE`] says so.

#![warn(missing_docs)]

mod calibration;
mod child;
mod local;
mod measure;
mod placement;
mod pool;
mod raw;
mod report;
mod server;
mod service;
mod socket;
mod spawn;
mod targets;
mod tarpc_rows;
mod worker;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::measure::Settings;
use crate::placement::{Cpus, Placement};
use crate::report::{Case, Family, Implementation, Row};
use crate::server::Socket;

/// The small payload, in bytes: every scenario has it.
pub const SMALL: usize = 16;
/// The large payload, in bytes: the socket rows have it too.
pub const LARGE: usize = 1024;
/// The concurrencies measured, besides the local rows (concurrency 1 only).
const CONCURRENCIES: [usize; 2] = [1, 64];

/// Measures Titan's proxies against their baselines and prints a table.
#[derive(Debug, Parser)]
#[command(name = "titan-bench", version, about)]
struct Args {
    /// A smoke run: every scenario, briefly (numbers are not meaningful).
    #[arg(long)]
    quick: bool,
    /// Only the rows whose key contains this: `tcp`, `split`, `c64`, `titan`,
    /// `unix/same/16B/c1`, … (see `--list`).
    #[arg(long, value_name = "SUBSTRING")]
    filter: Option<String>,
    /// How long each row is measured after its warm-up: `1.5s`, `800ms`, or
    /// seconds (default 1.2 s, with `--quick` 0.1 s). The warm-up is a quarter of it.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Print a markdown table (with the date and the machine), to paste into
    /// the README, instead of aligned text.
    #[arg(long)]
    markdown: bool,
    /// List the row keys (after `--filter`) and exit.
    #[arg(long)]
    list: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let seconds: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `1.5s` or `800ms`"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("`{text}` is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds * scale))
}

/// What each family measures, in the table's order.
fn implementations(family: Family) -> Vec<Implementation> {
    use Implementation::{Direct, ForkExec, MpscOneshot, RawEcho, Tarpc, Titan};
    match family {
        Family::Local => vec![Direct, MpscOneshot, Tarpc, Titan],
        Family::Worker => vec![MpscOneshot, Titan],
        Family::Child => vec![RawEcho, Titan],
        Family::Unix | Family::Tcp => vec![RawEcho, Tarpc, Titan],
        Family::Spawn => vec![ForkExec, Titan],
        Family::Pool => pool::implementations(),
    }
}

/// Every group of rows, in the table's order.
fn plan(split: bool) -> Vec<Case> {
    let placements: &[Placement] = if split {
        &[Placement::Same, Placement::Split]
    } else {
        &[Placement::Same]
    };
    let case = |family, placement, payload, concurrency| Case {
        family,
        placement,
        payload,
        concurrency,
        implementations: implementations(family),
    };
    let mut plan = vec![
        case(Family::Local, None, SMALL, 1),
        case(Family::Pool, None, SMALL, 1),
    ];
    for family in [Family::Worker, Family::Child] {
        for &placement in placements {
            for concurrency in CONCURRENCIES {
                plan.push(case(family, Some(placement), SMALL, concurrency));
            }
        }
    }
    for family in [Family::Unix, Family::Tcp] {
        for &placement in placements {
            for payload in [SMALL, LARGE] {
                for concurrency in CONCURRENCIES {
                    plan.push(case(family, Some(placement), payload, concurrency));
                }
            }
        }
    }
    plan.push(case(Family::Spawn, None, SMALL, 1));
    plan
}

/// The plan, with only the rows whose key contains `filter`.
fn filtered(plan: Vec<Case>, filter: Option<&str>) -> Vec<Case> {
    let Some(filter) = filter.map(str::to_lowercase) else {
        return plan;
    };
    plan.into_iter()
        .filter_map(|mut case| {
            let keys: Vec<String> = case
                .implementations
                .iter()
                .map(|&implementation| case.row_key(implementation))
                .collect();
            let mut keys = keys.into_iter();
            case.implementations.retain(|_| {
                keys.next()
                    .is_some_and(|key| key.to_lowercase().contains(&filter))
            });
            (!case.implementations.is_empty()).then_some(case)
        })
        .collect()
}

fn main() -> ExitCode {
    // Started by `Isolation::Child` (the child rows): host the `Bench` and exit.
    titan_core::child::host_if_child();
    // Started as a socket row's server.
    if let Some((kind, listen)) = server::requested() {
        return server::run(&kind, &listen);
    }
    let args = Args::parse();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(bench(args)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("titan-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let machine = report::machine();
    let split = core_affinity::get_core_ids().is_some_and(|cores| cores.len() >= 2);
    let plan = filtered(plan(split), args.filter.as_deref());
    if args.list {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for case in &plan {
            for &implementation in &case.implementations {
                if writeln!(out, "{}", case.row_key(implementation)).is_err() {
                    return Ok(()); // the reader left (`| head`)
                }
            }
        }
        return Ok(());
    }
    anyhow::ensure!(!plan.is_empty(), "no row matches the filter (see --list)");
    if !split {
        eprintln!("titan-bench: fewer than two vCPUs here, so no split rows");
    }
    let duration = args.duration.unwrap_or(if args.quick {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(1200)
    });
    let settings = Settings {
        warmup: duration / 4,
        duration,
    };
    let started = std::time::Instant::now();
    let cases = |family, placement| -> Vec<Case> {
        plan.iter()
            .filter(|case| case.family == family && case.placement == placement)
            .cloned()
            .collect()
    };

    // First, before anything is pinned: spawning children.
    let mut spawn_rows = Vec::new();
    for case in cases(Family::Spawn, None) {
        spawn_rows.extend(progress(spawn::run(&settings, &case).await?));
    }

    let cpus = Cpus::pin_client()?;
    let mut rows: Vec<Row> = Vec::new();
    for case in cases(Family::Local, None) {
        rows.extend(progress(local::run(&settings, &case).await?));
    }
    for case in cases(Family::Pool, None) {
        rows.extend(progress(pool::run(&settings, &case)?));
    }
    for family in [Family::Worker, Family::Child, Family::Unix, Family::Tcp] {
        for placement in [Placement::Same, Placement::Split] {
            let cases = cases(family, Some(placement));
            if cases.is_empty() || !cpus.supports(placement) {
                continue;
            }
            rows.extend(progress(match family {
                Family::Worker => worker::run(&cpus, placement, &settings, &cases).await?,
                Family::Child => child::run(&cpus, placement, &settings, &cases).await?,
                Family::Unix => {
                    socket::run(Socket::Unix, &cpus, placement, &settings, &cases).await?
                }
                _ => socket::run(Socket::Tcp, &cpus, placement, &settings, &cases).await?,
            }));
        }
    }
    rows.extend(spawn_rows);
    eprintln!(
        "titan-bench: {} rows in {:.1} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );

    let targets = targets::check(&rows);
    if args.markdown {
        println!(
            "Measured {} on {machine} ({}: {:.2} s per row after a {:.2} s warm-up).\n",
            report::today(),
            if args.quick { "--quick" } else { "full run" },
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64(),
        );
        println!("{}", report::markdown(&rows));
        println!("{}", targets::markdown(&targets));
        println!("{}", calibration::markdown(&rows));
    } else {
        println!("{}", report::text(&rows));
        println!("{}", targets::text(&targets));
        println!("{}", calibration::text(&rows));
    }
    Ok(())
}

/// Reports rows on standard error as they come in, and passes them on.
fn progress(rows: Vec<Row>) -> Vec<Row> {
    for row in &rows {
        eprintln!(
            "titan-bench: {} [{}] {}: p50 {}, {}",
            row.scenario,
            [
                row.placement.map(|p| p.name().to_string()),
                row.payload.map(service::size_name),
                Some(format!("c={}", row.concurrency)),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
            row.label,
            report::latency(row.measured.p50()),
            report::throughput(row.measured.throughput()),
        );
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0").is_err());
    }

    fn keys(plan: &[Case]) -> Vec<String> {
        plan.iter()
            .flat_map(|case| {
                case.implementations
                    .iter()
                    .map(|&implementation| case.row_key(implementation))
            })
            .collect()
    }

    #[test]
    fn keys_are_distinct_and_filterable() {
        let all = keys(&plan(true));
        let distinct: std::collections::HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        for key in [
            "tcp/split/1KiB/c64/titan",
            "local/16B/c1/mpsc",
            "spawn/fork",
        ] {
            assert!(distinct.contains(&key.to_string()), "{key}");
        }
        assert!(keys(&plan(false)).iter().all(|key| !key.contains("split")));
    }

    #[test]
    fn the_filter_keeps_whole_groups_or_single_rows() {
        let tcp = filtered(plan(true), Some("TCP/same"));
        assert_eq!(tcp.len(), 4);
        assert!(tcp.iter().all(|case| case.implementations.len() == 3));
        let titan = filtered(plan(true), Some("16b/C64/titan"));
        assert!(
            titan
                .iter()
                .all(|case| case.implementations == [Implementation::Titan])
        );
        assert!(filtered(plan(true), Some("nothing")).is_empty());
    }
}
