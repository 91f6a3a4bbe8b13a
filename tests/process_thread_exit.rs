//! A running `process::Child` dropped on a thread that then exits is still reaped (by the
//! process-wide reaper thread, since the thread's reaper greenlet dies with its hub): no
//! zombie is left (usertry #3).

use std::time::{Duration, Instant};

use sprout::process::Command;

/// The state letter of process `pid`, or None if it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Waits (bounded) until `pid` is gone; returns its last state if it is not.
fn gone_within(pid: u32, limit: Duration) -> Option<char> {
    let end = Instant::now() + limit;
    loop {
        let s = state(pid);
        if s.is_none() || Instant::now() > end {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_child_dropped_on_an_exiting_thread_is_reaped() {
    let pid = std::thread::spawn(|| {
        let c = Command::new("sleep").arg("0.2").spawn().unwrap();
        c.id()
        // `c` is dropped running, then the thread (and its hub) ends.
    })
    .join()
    .unwrap();
    assert_eq!(
        gone_within(pid, Duration::from_millis(1500)),
        None,
        "child {pid}"
    );
}

#[test]
fn a_child_dropped_before_a_greenlet_sleeps_on_an_exiting_thread_is_reaped() {
    let pid = std::thread::spawn(|| {
        let c = Command::new("sleep").arg("0.2").spawn().unwrap();
        let pid = c.id();
        drop(c);
        sprout::sleep(Duration::from_millis(10));
        pid
    })
    .join()
    .unwrap();
    assert_eq!(
        gone_within(pid, Duration::from_millis(1500)),
        None,
        "child {pid}"
    );
}

#[test]
fn many_children_dropped_on_exiting_threads_are_all_reaped() {
    let pids: Vec<u32> = (0..5)
        .map(|i| {
            std::thread::spawn(move || {
                let secs = format!("0.{}", i + 1);
                Command::new("sleep").arg(secs).spawn().unwrap().id()
            })
            .join()
            .unwrap()
        })
        .collect();
    for pid in pids {
        assert_eq!(
            gone_within(pid, Duration::from_millis(2500)),
            None,
            "child {pid}"
        );
    }
}
