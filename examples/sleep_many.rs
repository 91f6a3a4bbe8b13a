//! Spawns N greenlets that each sleep S seconds, on one OS thread.
//!
//! Run: `cargo run --release --example sleep_many -- --count 1000000 --secs 10`
//!
//! Prints one line: `count=N wall_ms=W rss_per_greenlet_bytes=B threads=T maps=M`, where B is
//! the growth of the process's resident memory while all N greenlets are parked, divided by N;
//! T is the number of OS threads of the process and M the number of lines of
//! `/proc/self/maps` at that moment. `--secs` defaults to 1 and `--count` to 10,000. If a
//! stack is refused (see `sprout::stack` on the headroom it keeps), it prints the error and
//! exits with code 1.

use std::time::{Duration, Instant};

fn main() {
    let (count, secs) = parse_args();
    let nap = Duration::from_secs(secs);
    let rss_before = status_field("VmRSS:");
    let start = Instant::now();
    let mut handles = Vec::with_capacity(count.min(1 << 20));
    for i in 0..count {
        match sprout::Builder::new().spawn(move || sprout::sleep(nap)) {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!(
                    "sleep_many: could not spawn greenlet {} of {count}: {e}",
                    i + 1
                );
                std::process::exit(1);
            }
        }
    }
    // Let every greenlet start and park in its sleep, then measure.
    sprout::yield_now();
    let rss_parked = status_field("VmRSS:");
    let threads = status_field("Threads:");
    let maps = maps_lines();
    let finished = sprout::joinall(&handles, Some(nap.saturating_add(Duration::from_secs(120))));
    let wall_ms = start.elapsed().as_millis();
    assert!(finished, "all sleepers finish");
    let per = (rss_parked.saturating_sub(rss_before) * 1024) / count.max(1) as u64;
    println!(
        "count={count} wall_ms={wall_ms} rss_per_greenlet_bytes={per} threads={threads} maps={maps}"
    );
}

/// A numeric field of /proc/self/status (kB for memory fields).
fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Entries in this process's memory map.
fn maps_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

#[path = "support/args.rs"]
mod args;

/// The most greenlets asked for (each one needs a stack; see `sprout::stack`).
const MAX_COUNT: usize = 100_000_000;
/// The longest nap, in seconds (a year).
const MAX_SECS: u64 = 365 * 86_400;

fn parse_args() -> (usize, u64) {
    let mut args = args::Args::new("sleep_many", "sleep_many [--count N] [--secs S]");
    let (mut count, mut secs) = (10_000, 1);
    while let Some(a) = args.next_arg() {
        match a.as_str() {
            "--count" => count = args.number(&a, 0, MAX_COUNT),
            "--secs" => secs = args.number(&a, 0, MAX_SECS),
            other => args.unknown(other),
        }
    }
    (count, secs)
}
