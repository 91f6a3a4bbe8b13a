//! Spawns N greenlets that each sleep one second, on one OS thread.
//!
//! Run: `cargo run --release --example sleep_many -- --count 10000`
//!
//! Prints one line: `count=N wall_ms=W rss_per_greenlet_bytes=B threads=T`, where B is the
//! growth of the process's resident memory while all N greenlets are parked, divided by N,
//! and T is the number of OS threads of the process at that moment. If the kernel refuses a
//! stack (see `vm.max_map_count` in the README), it prints the error and exits with code 1.

use std::time::{Duration, Instant};

fn main() {
    let count = parse_count();
    let rss_before = status_field("VmRSS:");
    let start = Instant::now();
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        match sprout::Builder::new().spawn(|| sprout::sleep(Duration::from_secs(1))) {
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
    let finished = sprout::joinall(&handles, Some(Duration::from_secs(60)));
    let wall_ms = start.elapsed().as_millis();
    assert!(finished, "all sleepers finish");
    let per = (rss_parked.saturating_sub(rss_before) * 1024) / count.max(1) as u64;
    println!("count={count} wall_ms={wall_ms} rss_per_greenlet_bytes={per} threads={threads}");
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

fn parse_count() -> usize {
    let mut args = std::env::args().skip(1);
    let mut count = 10_000;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--count" => {
                let v = args.next().unwrap_or_default();
                count = v
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --count value {v:?}")));
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    count
}

fn usage(msg: &str) -> ! {
    eprintln!("sleep_many: {msg}\nusage: sleep_many [--count N]");
    std::process::exit(2)
}
