//! The pool's threads start on demand and retire when idle. The only test in its binary, so
//! the process's thread count is this test's alone.

use std::time::{Duration, Instant};

use sprout::{spawn, spawn_blocking, threadpool};

mod support;

#[test]
fn pool_threads_start_on_demand_and_retire_when_idle() {
    let pid = std::process::id();
    let before = support::thread_count(pid);
    assert_eq!(threadpool::threads(), 0, "no thread before the first job");
    threadpool::set_idle_timeout(Duration::from_millis(100));
    threadpool::set_max_threads(4);
    assert_eq!(threadpool::max_threads(), 4);
    assert_eq!(threadpool::idle_timeout(), Duration::from_millis(100));

    let jobs: Vec<_> = (0..8)
        .map(|i| {
            spawn(move || {
                spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    i
                })
            })
        })
        .collect();
    sprout::sleep(Duration::from_millis(30));
    let during = support::thread_count(pid);
    assert!(
        during > before && during <= before + 4,
        "{before} threads before, {during} during (max 4)"
    );
    assert_eq!(jobs.into_iter().map(|h| h.join().unwrap()).sum::<i32>(), 28);

    // Idle for 100 ms, each thread exits; allow a noisy machine plenty of time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threadpool::threads() > 0 || support::thread_count(pid) > before {
        assert!(
            Instant::now() < deadline,
            "pool threads did not retire: {} live, {} in the process (was {before})",
            threadpool::threads(),
            support::thread_count(pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // And the pool starts again on demand.
    assert_eq!(spawn(|| spawn_blocking(|| 1)).join().unwrap(), 1);
}
