//! The results: rows, their ratios to their baselines, and the table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::Measurement;
use crate::placement::Placement;

/// Which scenario family a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A call within one runtime.
    Local,
    /// A call to a worker thread.
    Worker,
    /// A call to a child process over its socket pair.
    Child,
    /// A call over a unix socket.
    Unix,
    /// A call over TCP on 127.0.0.1.
    Tcp,
    /// Starting a child process.
    Spawn,
    /// Picking a pool's worker.
    Pool,
}

/// What was measured in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// A Titan proxy: the subject of every scenario.
    Titan,
    /// A direct `async fn` call.
    Direct,
    /// A tokio mpsc send with a oneshot for the reply.
    MpscOneshot,
    /// A raw length-prefixed echo.
    RawEcho,
    /// tarpc (in-process channel or socket).
    Tarpc,
    /// fork/exec of `/bin/true`, and wait.
    ForkExec,
    /// A pool's pick under the strategy so named (round-robin is the baseline).
    Pool(&'static str),
}

impl Implementation {
    /// Its name in row keys (what `--filter` matches).
    pub fn key(self) -> &'static str {
        match self {
            Implementation::Titan => "titan",
            Implementation::Direct => "direct",
            Implementation::MpscOneshot => "mpsc",
            Implementation::RawEcho => "raw",
            Implementation::Tarpc => "tarpc",
            Implementation::ForkExec => "fork",
            Implementation::Pool(strategy) => strategy,
        }
    }

    /// Whether it is a baseline (the floor), a reference (another framework)
    /// or the subject.
    fn role(self) -> Role {
        match self {
            Implementation::Titan => Role::Subject,
            Implementation::Tarpc => Role::Reference,
            Implementation::Pool(strategy)
                if strategy != titan_core::pool::Strategy::RoundRobin.name() =>
            {
                Role::Subject
            }
            _ => Role::Baseline,
        }
    }

    /// A short name for ratios.
    fn short(self) -> &'static str {
        match self {
            Implementation::Titan => "Titan",
            Implementation::Direct => "direct fn",
            Implementation::MpscOneshot => "mpsc+oneshot",
            Implementation::RawEcho => "raw echo",
            Implementation::Tarpc => "tarpc",
            Implementation::ForkExec => "fork/exec",
            Implementation::Pool(strategy) => strategy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Baseline,
    Reference,
    Subject,
}

/// One group of rows to measure: a scenario family at one placement,
/// payload and concurrency, and which implementations to run in it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The scenario family.
    pub family: Family,
    /// Where the two sides run (`None`: one thread, or not pinned).
    pub placement: Option<Placement>,
    /// Bytes echoed per call.
    pub payload: usize,
    /// Closed-loop callers.
    pub concurrency: usize,
    /// What to measure, in the table's order.
    pub implementations: Vec<Implementation>,
}

impl Case {
    /// The group's key: `tcp/split/1KiB/c64`, `local/16B/c1`, `spawn`.
    pub fn key(&self) -> String {
        let family = match self.family {
            Family::Local => "local",
            Family::Worker => "worker",
            Family::Child => "child",
            Family::Unix => "unix",
            Family::Tcp => "tcp",
            Family::Spawn => return "spawn".into(),
            Family::Pool => return "pool".into(),
        };
        let mut key = family.to_string();
        if let Some(placement) = self.placement {
            key.push('/');
            key.push_str(placement.name());
        }
        let payload = crate::service::size_name(self.payload).replace(' ', "");
        format!("{key}/{payload}/c{}", self.concurrency)
    }

    /// A row's key: the group's, then the implementation's (`tcp/split/1KiB/c64/titan`).
    pub fn row_key(&self, implementation: Implementation) -> String {
        format!("{}/{}", self.key(), implementation.key())
    }

    /// Whether `implementation` is to be measured.
    pub fn wants(&self, implementation: Implementation) -> bool {
        self.implementations.contains(&implementation)
    }

    /// An empty group for this case, named `scenario` in the table.
    pub fn group(&self, scenario: &str) -> Group {
        Group::new(
            self.family,
            scenario,
            self.placement,
            Some(self.payload),
            self.concurrency,
        )
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario family.
    pub family: Family,
    /// The scenario, as the table shows it.
    pub scenario: String,
    /// What was measured.
    pub implementation: Implementation,
    /// How the table names it.
    pub label: String,
    /// Where the two sides ran (`None`: one thread, or does not apply).
    pub placement: Option<Placement>,
    /// The payload size in bytes (`None`: not a payload row).
    pub payload: Option<usize>,
    /// Closed-loop callers.
    pub concurrency: usize,
    /// The measurement.
    pub measured: Measurement,
    /// The row against its baselines, filled in by [`Group::finish`].
    pub ratio: String,
}

/// The rows of one scenario measured together with their baselines.
#[derive(Debug)]
pub struct Group {
    family: Family,
    scenario: String,
    placement: Option<Placement>,
    payload: Option<usize>,
    concurrency: usize,
    rows: Vec<Row>,
}

impl Group {
    /// A group for one scenario, placement, payload and concurrency.
    pub fn new(
        family: Family,
        scenario: impl Into<String>,
        placement: Option<Placement>,
        payload: Option<usize>,
        concurrency: usize,
    ) -> Group {
        Group {
            family,
            scenario: scenario.into(),
            placement,
            payload,
            concurrency,
            rows: Vec::new(),
        }
    }

    /// Adds a measured implementation, labelled `label` in the table.
    pub fn push(
        &mut self,
        implementation: Implementation,
        label: impl Into<String>,
        measured: Measurement,
    ) {
        self.rows.push(Row {
            family: self.family,
            scenario: self.scenario.clone(),
            implementation,
            label: label.into(),
            placement: self.placement,
            payload: self.payload,
            concurrency: self.concurrency,
            measured,
            ratio: String::new(),
        });
    }

    /// The rows, each with its ratios: the subject against every baseline and
    /// reference, a reference against every baseline. At concurrency 1 the
    /// ratio is of p50 latencies (lower is better), above it of throughputs
    /// (higher is better).
    pub fn finish(mut self) -> Vec<Row> {
        let latency = self.concurrency == 1;
        let metric = |row: &Row| {
            if latency {
                row.measured.p50().as_secs_f64()
            } else {
                row.measured.throughput()
            }
        };
        let ratios: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let role = row.implementation.role();
                let against: Vec<String> = self
                    .rows
                    .iter()
                    .filter(|other| match role {
                        Role::Baseline => false,
                        Role::Reference => other.implementation.role() == Role::Baseline,
                        Role::Subject => other.implementation.role() != Role::Subject,
                    })
                    .map(|other| {
                        let ratio = metric(row) / metric(other).max(f64::MIN_POSITIVE);
                        format!("{} {ratio:.2}×", other.implementation.short())
                    })
                    .collect();
                match (role, against.is_empty()) {
                    (Role::Baseline, _) => "baseline".to_string(),
                    (_, true) => "—".to_string(),
                    _ => format!(
                        "{}: {}",
                        if latency { "p50" } else { "calls/s" },
                        against.join(", ")
                    ),
                }
            })
            .collect();
        for (row, ratio) in self.rows.iter_mut().zip(ratios) {
            row.ratio = ratio;
        }
        self.rows
    }
}

/// Formats a latency: `850 ns`, `12.3 µs`, `1.25 ms`.
pub fn latency(duration: Duration) -> String {
    let nanos = duration.as_nanos() as f64;
    if nanos < 1_000.0 {
        format!("{nanos:.0} ns")
    } else if nanos < 1_000_000.0 {
        format!("{:.1} µs", nanos / 1e3)
    } else {
        format!("{:.2} ms", nanos / 1e6)
    }
}

/// Formats a throughput: `1.52 M/s`, `245 k/s`, `312 /s`.
pub fn throughput(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.0} k/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} /s")
    }
}

const HEADER: [&str; 9] = [
    "scenario",
    "implementation",
    "placement",
    "payload",
    "conc.",
    "p50",
    "p99",
    "throughput",
    "vs baseline",
];

fn cells(row: &Row) -> [String; 9] {
    [
        row.scenario.clone(),
        row.label.clone(),
        row.placement
            .map_or_else(|| "—".to_string(), |p| p.name().to_string()),
        row.payload
            .map_or_else(|| "—".to_string(), crate::service::size_name),
        row.concurrency.to_string(),
        // No call finished inside the window (a window shorter than one call).
        if row.measured.calls == 0 {
            "—".to_string()
        } else {
            latency(row.measured.p50())
        },
        if row.measured.calls == 0 {
            "—".to_string()
        } else {
            latency(row.measured.p99())
        },
        throughput(row.measured.throughput()),
        row.ratio.clone(),
    ]
}

/// The rows as a markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        HEADER
            .iter()
            .enumerate()
            .map(|(i, _)| if (4..8).contains(&i) {
                " ---: |"
            } else {
                " --- |"
            })
            .collect::<String>()
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", cells(row).join(" | "));
    }
    out
}

/// The rows as a plain table with aligned columns, for a terminal.
pub fn text(rows: &[Row]) -> String {
    let all: Vec<[String; 9]> = rows.iter().map(cells).collect();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for cells in &all {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            let pad = width - cell.chars().count();
            if (4..8).contains(&i) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push_str("  ");
        }
        line.trim_end().to_string()
    };
    let mut out = String::new();
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(out, "{}", line(&header));
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for cells in &all {
        let _ = writeln!(out, "{}", line(cells));
    }
    out
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs() / 86_400)
        .unwrap_or(0);
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The CPU model and how many vCPUs the machine has (`nproc` before pinning).
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map_or("an unknown CPU", |(_, model)| model.trim());
    let cpus = info
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    format!("{model}, {cpus} vCPUs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::constant as measured;

    #[test]
    fn latency_ratios_at_concurrency_one() {
        let mut group = Group::new(Family::Tcp, "TCP", Some(Placement::Same), Some(16), 1);
        group.push(
            Implementation::RawEcho,
            "raw",
            measured(Duration::from_micros(10), 10),
        );
        group.push(
            Implementation::Tarpc,
            "tarpc",
            measured(Duration::from_micros(30), 10),
        );
        group.push(
            Implementation::Titan,
            "titan",
            measured(Duration::from_micros(15), 10),
        );
        let rows = group.finish();
        assert_eq!(rows[0].ratio, "baseline");
        assert_eq!(rows[1].ratio, "p50: raw echo 3.00×");
        assert_eq!(rows[2].ratio, "p50: raw echo 1.50×, tarpc 0.50×");
    }

    #[test]
    fn throughput_ratios_above_it() {
        let mut group = Group::new(Family::Unix, "unix", Some(Placement::Split), Some(16), 64);
        group.push(
            Implementation::RawEcho,
            "raw",
            measured(Duration::from_micros(10), 400),
        );
        group.push(
            Implementation::Titan,
            "titan",
            measured(Duration::from_micros(15), 100),
        );
        let rows = group.finish();
        assert_eq!(rows[1].ratio, "calls/s: raw echo 0.25×");
    }

    #[test]
    fn dates_and_units() {
        assert_eq!(today().len(), 10);
        assert_eq!(latency(Duration::from_nanos(850)), "850 ns");
        assert_eq!(latency(Duration::from_nanos(12_340)), "12.3 µs");
        assert_eq!(latency(Duration::from_micros(1_250)), "1.25 ms");
        assert_eq!(throughput(1_520_000.0), "1.52 M/s");
        assert_eq!(throughput(245_000.0), "245 k/s");
    }
}
