//! The blocking monitor, in child processes (it is process-wide and prints on stderr): a
//! greenlet that busy-loops is reported with its name, spawn location and durations; greenlets
//! that yield are never reported; a greenlet that swallows a kill is reported.
//!
//! Each test re-runs this test binary with `SPROUT_MONITOR_CHILD` naming the child body to
//! run, and `SPROUT_MAX_BLOCKING_TIME=100ms`.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the child body `which` in a fresh process with the monitor on; returns its stderr.
fn run_child(which: &str, test: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("SPROUT_MONITOR_CHILD", which)
        .env("SPROUT_MAX_BLOCKING_TIME", "100ms")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child {which} failed: {}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn is_child(which: &str) -> bool {
    std::env::var("SPROUT_MONITOR_CHILD").as_deref() == Ok(which)
}

/// The number just before `ms` after `prefix` in `line`.
fn millis_after(line: &str, prefix: &str) -> u64 {
    let rest = &line[line
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in {line:?}"))
        + prefix.len()..];
    let end = rest.find("ms").expect("a duration in ms");
    rest[..end].parse().expect("a number of milliseconds")
}

#[test]
fn hog_is_reported_with_name_location_and_durations() {
    if is_child("hog") {
        let hog = sprout::Builder::new()
            .name("hog")
            .spawn(|| {
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_millis(400) {
                    std::hint::spin_loop();
                }
            })
            .unwrap();
        hog.join().unwrap();
        // Give the monitor time to notice the end of the episode.
        sprout::sleep(Duration::from_millis(300));
        return;
    }
    let err = run_child("hog", "hog_is_reported_with_name_location_and_durations");
    let blocked: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" blocked for "))
        .collect();
    assert_eq!(blocked.len(), 1, "one report per episode:\n{err}");
    let line = blocked[0];
    assert!(
        line.starts_with("sprout monitor: hub of thread '"),
        "{line}"
    );
    assert!(line.contains("'hog'"), "names the greenlet: {line}");
    let so_far = millis_after(line, " blocked for ");
    assert!((100..=800).contains(&so_far), "so far {so_far}ms: {line}");
    // The spawn location is this file, at the line of the `Builder::spawn` call.
    let at = line.split(" spawned at ").nth(1).expect("a spawn location");
    let mut parts = at.split(':');
    assert_eq!(parts.next(), Some("tests/monitor_blocking.rs"), "{line}");
    let lineno: usize = parts.next().unwrap().parse().unwrap();
    let src = include_str!("monitor_blocking.rs")
        .lines()
        .nth(lineno - 1)
        .unwrap();
    assert!(src.contains("spawn"), "line {lineno} is {src:?}");
    // The end of the episode, with its total (the loop ran 400 ms of wall time).
    let ended: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" unblocked after "))
        .collect();
    assert_eq!(ended.len(), 1, "{err}");
    assert!(ended[0].contains("'hog'"), "{}", ended[0]);
    let total = millis_after(ended[0], " unblocked after ");
    // Generous upper bound: the machine is loaded and the monitor samples every 25 ms.
    assert!(
        (300..=2000).contains(&total),
        "total {total}ms: {}",
        ended[0]
    );
}

#[test]
fn greenlets_that_yield_are_never_reported() {
    if is_child("polite") {
        let workers: Vec<_> = (0..3)
            .map(|i| {
                sprout::Builder::new()
                    .name(format!("polite-{i}"))
                    .spawn(move || {
                        let t0 = Instant::now();
                        let mut n = 0u64;
                        // ~400 ms of work in small slices, yielding between them.
                        while t0.elapsed() < Duration::from_millis(400) && n < 1_000_000 {
                            let slice = Instant::now();
                            while slice.elapsed() < Duration::from_millis(1) {
                                std::hint::spin_loop();
                            }
                            sprout::yield_now();
                            n += 1;
                        }
                        sprout::sleep(Duration::from_millis(20));
                        n
                    })
                    .unwrap()
            })
            .collect();
        for w in workers {
            assert!(w.join().unwrap() > 0);
        }
        sprout::sleep(Duration::from_millis(150));
        return;
    }
    let err = run_child("polite", "greenlets_that_yield_are_never_reported");
    assert!(!err.contains("sprout monitor"), "nothing to report:\n{err}");
}

#[test]
fn a_swallowed_kill_is_reported() {
    if is_child("stubborn") {
        let stubborn = sprout::Builder::new()
            .name("stubborn")
            .spawn(|| {
                let r = std::panic::catch_unwind(|| sprout::sleep(Duration::from_secs(10)));
                assert!(r.is_err(), "the kill unwound the sleep");
                // Swallowed: carry on, yielding all the time, for 400 ms.
                for _ in 0..40 {
                    sprout::sleep(Duration::from_millis(10));
                }
            })
            .unwrap();
        sprout::sleep(Duration::from_millis(20));
        stubborn.kill_nowait();
        let _ = stubborn.join();
        return;
    }
    let err = run_child("stubborn", "a_swallowed_kill_is_reported");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("after a kill")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("'stubborn'"), "{}", lines[0]);
    assert!(
        lines[0].contains("tests/monitor_blocking.rs:"),
        "{}",
        lines[0]
    );
    assert!(!err.contains(" blocked for "), "it yields: {err}");
}

#[test]
fn bad_thresholds_are_refused() {
    let e = sprout::monitor::start(Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    for sig in [libc::SIGKILL, libc::SIGSEGV, 0, -3, 100_000] {
        let e = sprout::monitor::dump_on_signal(sig).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "signal {sig}");
    }
}

#[test]
fn a_bad_env_value_is_reported_and_ignored() {
    if is_child("badenv") {
        sprout::spawn(|| ()).join().unwrap();
        assert_eq!(sprout::monitor::max_blocking_time(), None);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_bad_env_value_is_reported_and_ignored",
            "--nocapture",
        ])
        .env("SPROUT_MONITOR_CHILD", "badenv")
        .env("SPROUT_MAX_BLOCKING_TIME", "soon")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("ignoring SPROUT_MAX_BLOCKING_TIME=\"soon\""),
        "{err}"
    );
}

#[test]
fn a_dump_during_an_episode_reports_the_blocked_hub_then_dumps() {
    if is_child("dumpblocked") {
        let hog = sprout::Builder::new()
            .name("hog")
            .spawn(|| {
                let t0 = Instant::now();
                let mut raised = false;
                while t0.elapsed() < Duration::from_millis(500) {
                    if !raised && t0.elapsed() > Duration::from_millis(200) {
                        // SAFETY: raise(3) with a signal the monitor installed a handler for.
                        unsafe { libc::raise(libc::SIGUSR1) };
                        raised = true;
                    }
                    std::hint::spin_loop();
                }
            })
            .unwrap();
        hog.join().unwrap();
        sprout::sleep(Duration::from_millis(200));
        return;
    }
    let err = run_child(
        "dumpblocked",
        "a_dump_during_an_episode_reports_the_blocked_hub_then_dumps",
    );
    let blocked_at = err
        .find("; its run info follows when it switches")
        .unwrap_or_else(|| panic!("the blocked hub is reported at the dump:\n{err}"));
    assert!(err[..blocked_at].contains("'hog'"), "{err}");
    let dump_at = err
        .find("sprout run info: hub of thread")
        .unwrap_or_else(|| panic!("the dump follows:\n{err}"));
    assert!(blocked_at < dump_at, "{err}");
}

#[test]
fn start_and_a_reporter_callback_replace_the_env_and_stderr() {
    use sprout::monitor::{Report, ReportKind};
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    if is_child("callback") {
        sprout::monitor::set_reporter(|r: &Report| SEEN.lock().unwrap().push(r.clone()));
        sprout::monitor::start(Duration::from_millis(50)).unwrap();
        assert_eq!(
            sprout::monitor::max_blocking_time(),
            Some(Duration::from_millis(50))
        );
        let g = sprout::Builder::new()
            .name("cb")
            .spawn(|| {
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_millis(250) {
                    std::hint::spin_loop();
                }
            })
            .unwrap();
        let id = g.id();
        g.join().unwrap();
        sprout::sleep(Duration::from_millis(200));
        let seen = SEEN.lock().unwrap().clone();
        let kinds: Vec<ReportKind> = seen.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [ReportKind::Blocking, ReportKind::BlockingEnded],
            "{seen:?}"
        );
        for r in &seen {
            assert_eq!(r.greenlet, id);
            assert_eq!(r.name.as_deref(), Some("cb"));
            assert_eq!(r.location.unwrap().file(), "tests/monitor_blocking.rs");
        }
        assert!(seen[0].duration >= Duration::from_millis(50));
        assert!(seen[1].duration >= seen[0].duration);
        println!("callback child ok");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "start_and_a_reporter_callback_replace_the_env_and_stderr",
            "--nocapture",
        ])
        .env("SPROUT_MONITOR_CHILD", "callback")
        .env_remove("SPROUT_MAX_BLOCKING_TIME")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(stdout.contains("callback child ok"), "{stdout}");
    assert!(
        !err.contains("sprout monitor"),
        "reports went to the callback: {err}"
    );
}
