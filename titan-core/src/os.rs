//! Resource usage of child processes, read from the OS.
//!
//! Linux only, from `/proc/<pid>/stat` and `/proc/<pid>/status`; elsewhere
//! [`usage`] answers [`io::ErrorKind::Unsupported`]. The parsers are plain
//! functions over text so that they can be tested on any platform.

// Without `/proc`, the parsers are only used by the tests.
#![cfg_attr(
    not(target_os = "linux"),
    allow(dead_code, reason = "the parsers only serve Linux")
)]

use std::io;
use std::time::{Duration, Instant};

/// What a process has used so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Time spent on a CPU, user and system, all threads, since it started.
    pub(crate) cpu_time: Duration,
    /// Resident memory, in bytes.
    pub(crate) rss_bytes: u64,
}

/// The CPU time and resident memory of process `pid`.
///
/// CPU time is `utime + stime` from `/proc/<pid>/stat`: all threads, live
/// and exited, in clock ticks of 10 ms (the 100 Hz `USER_HZ` Linux reports
/// to user space on every mainstream architecture). `/proc/<pid>/schedstat`
/// would give nanoseconds, but only for the main thread, which is wrong for
/// a multi-threaded child such as a tokio runtime; 10 ms is plenty for a CPU
/// percentage sampled every second or so. Resident memory is the `VmRSS:`
/// line of `/proc/<pid>/status` (0 for a zombie or a kernel thread, which
/// have none).
///
/// A process that does not exist is [`io::ErrorKind::NotFound`]; a file that
/// cannot be parsed is [`io::ErrorKind::InvalidData`].
#[cfg(target_os = "linux")]
pub(crate) fn usage(pid: u32) -> io::Result<Usage> {
    let dir = format!("/proc/{pid}");
    let rss_bytes = parse_status_rss(&std::fs::read_to_string(format!("{dir}/status"))?)?;
    let cpu_time = parse_stat_cpu(&std::fs::read_to_string(format!("{dir}/stat"))?)?;
    Ok(Usage {
        cpu_time,
        rss_bytes,
    })
}

/// Not available: only Linux's `/proc` is read.
#[cfg(not(target_os = "linux"))]
pub(crate) fn usage(pid: u32) -> io::Result<Usage> {
    let _ = pid;
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "process resource usage is only read on Linux",
    ))
}

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`).
const CLOCK_TICKS_PER_SEC: u64 = 100;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// `utime + stime` (fields 14 and 15) of `/proc/<pid>/stat`.
///
/// Field 2, `(comm)`, is the executable's name and may itself contain spaces
/// and parentheses, so the fields are counted from after the *last* `)`.
fn parse_stat_cpu(text: &str) -> io::Result<Duration> {
    let malformed = || invalid("malformed /proc/<pid>/stat");
    let (_, rest) = text.rsplit_once(')').ok_or_else(malformed)?;
    // `rest` starts at field 3 (state), so utime (14) is its 12th field.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let mut ticks = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|field| field.parse::<u64>().ok())
            .ok_or_else(malformed)
    };
    let (utime, stime) = (ticks()?, ticks()?);
    let total = utime.saturating_add(stime);
    let secs = total / CLOCK_TICKS_PER_SEC;
    let nanos = (total % CLOCK_TICKS_PER_SEC) * (1_000_000_000 / CLOCK_TICKS_PER_SEC);
    Ok(Duration::new(secs, nanos as u32))
}

/// The `VmRSS:` line of `/proc/<pid>/status`, in bytes.
///
/// A status without that line but with a `State:` line is a process with no
/// memory of its own (a zombie or a kernel thread): 0.
fn parse_status_rss(text: &str) -> io::Result<u64> {
    let malformed = || invalid("malformed /proc/<pid>/status");
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("VmRSS:") {
            let mut parts = value.split_ascii_whitespace();
            let kb = parts
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(malformed)?;
            return match parts.next() {
                Some("kB") | None => Ok(kb.saturating_mul(1024)),
                Some(_) => Err(malformed()),
            };
        }
    }
    if text.lines().any(|line| line.starts_with("State:")) {
        Ok(0)
    } else {
        Err(malformed())
    }
}

/// Turns successive samples of a process's CPU time into a CPU percentage.
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuMeter {
    last: Option<(Instant, Duration)>,
}

impl CpuMeter {
    /// A meter with no sample yet.
    pub(crate) fn new() -> Self {
        Self { last: None }
    }

    /// CPU % since the previous sample (100 % = one core fully busy, so a
    /// process busy on four cores reads 400 %); `None` on the first sample.
    ///
    /// A sample taken no later than the previous one gives `None` and is
    /// ignored; CPU time that went backwards (the pid was reused) counts as 0.
    pub(crate) fn sample(&mut self, now: Instant, cpu_time: Duration) -> Option<f64> {
        let Some((then, cpu_then)) = self.last else {
            self.last = Some((now, cpu_time));
            return None;
        };
        let wall = now.saturating_duration_since(then);
        if wall.is_zero() {
            return None;
        }
        self.last = Some((now, cpu_time));
        let busy = cpu_time.saturating_sub(cpu_then);
        Some(busy.as_secs_f64() / wall.as_secs_f64() * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (my (weird) prog) S 1 4242 4242 0 -1 4194560 1234 0 5 0 \
                        250 37 0 0 20 0 4 0 123456 2000000 500 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

    const STATUS: &str = "Name:\tmy prog\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n\
                          VmPeak:\t  12000 kB\nVmSize:\t  11000 kB\nVmRSS:\t    5120 kB\n\
                          RssAnon:\t    1000 kB\nThreads:\t4\n";

    #[test]
    fn stat_parser_counts_fields_after_the_last_paren() {
        // utime 250 + stime 37 ticks at 100 Hz.
        assert_eq!(parse_stat_cpu(STAT).ok(), Some(Duration::from_millis(2870)));
        let tricky = STAT.replace("my (weird) prog", ") 1 2 3 4 5 6 7 8 9 10 11 12 13 (");
        assert_eq!(
            parse_stat_cpu(&tricky).ok(),
            Some(Duration::from_millis(2870))
        );
    }

    #[test]
    fn status_parser_reads_vmrss_in_bytes() {
        assert_eq!(parse_status_rss(STATUS).ok(), Some(5120 * 1024));
        let zombie = "Name:\tgone\nState:\tZ (zombie)\nThreads:\t1\n";
        assert_eq!(parse_status_rss(zombie).ok(), Some(0));
    }

    #[test]
    fn parsers_reject_garbage_without_panicking() {
        let garbage = [
            "",
            " ",
            "\n",
            ")",
            "((((",
            "4242 (prog) S 1 2",
            "4242 (prog) S 1 2 3 4 5 6 7 8 9 x 37",
            "4242 (prog) S 1 2 3 4 5 6 7 8 9 -5 37",
            "VmRSS:",
            "VmRSS:\tlots kB",
            "VmRSS:\t12 MB",
            "VmRSS:\t-12 kB",
            "Name:\tno state, no rss",
            "not a number",
            "-1 2 3",
            "18446744073709551616 0 0",
            "\u{fffd}\u{0}\u{7f} ) ) )",
        ];
        for text in garbage {
            for result in [
                parse_stat_cpu(text).map(|_| ()),
                parse_status_rss(text).map(|_| ()),
            ] {
                let err = result.expect_err(text);
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{text:?}");
            }
        }
    }

    #[test]
    fn huge_tick_counts_saturate() {
        let stat = STAT.replace(" 250 37 ", " 18446744073709551615 18446744073709551615 ");
        let cpu = parse_stat_cpu(&stat).expect("parses");
        assert_eq!(cpu.as_secs(), u64::MAX / 100);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn usage_of_this_process() {
        let before = usage(std::process::id()).expect("reads /proc/self");
        assert!(before.rss_bytes > 0, "{before:?}");
        // Busy (on this thread, not the main one: the whole process counts)
        // until a few clock ticks show, giving up after a generous deadline.
        let start = Instant::now();
        let mut x = 0u64;
        let after = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let now = usage(std::process::id()).expect("reads /proc/self");
            if now.cpu_time >= before.cpu_time + Duration::from_millis(30)
                || start.elapsed() > Duration::from_secs(20)
            {
                break now;
            }
        };
        assert!(
            after.cpu_time >= before.cpu_time + Duration::from_millis(30),
            "{before:?} {after:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn usage_of_a_missing_process_is_not_found() {
        // Beyond the kernel's largest pid_max (2^22).
        let err = usage(u32::MAX).expect_err("no such pid");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn usage_is_unsupported_elsewhere() {
        let err = usage(std::process::id()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn cpu_meter_turns_cpu_time_into_a_percentage() {
        let mut meter = CpuMeter::new();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(meter.sample(t0, s(10)), None);
        // Half a core for two seconds.
        assert_eq!(meter.sample(t0 + s(2), s(11)), Some(50.0));
        // Same instant again: no reading, and the previous sample is kept.
        assert_eq!(meter.sample(t0 + s(2), s(12)), None);
        // Four cores busy for one second.
        assert_eq!(meter.sample(t0 + s(3), s(15)), Some(400.0));
        // Idle.
        assert_eq!(meter.sample(t0 + s(4), s(15)), Some(0.0));
        // CPU time went backwards (pid reused): 0, then measured from there.
        assert_eq!(meter.sample(t0 + s(5), s(1)), Some(0.0));
        assert_eq!(meter.sample(t0 + s(9), s(3)), Some(50.0));
        // A sample from before the last one is ignored.
        assert_eq!(meter.sample(t0 + s(1), s(100)), None);
        assert_eq!(meter.sample(t0 + s(10), s(4)), Some(100.0));
    }
}
