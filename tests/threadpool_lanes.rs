//! The thread pool's default size fits blocking work, and name lookups do not queue behind
//! long jobs (issue 11, item 5).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use sprout::{spawn, spawn_blocking, threadpool, with_timeout};

/// 1,000 greenlets each run a 10 ms blocking job; returns the most jobs seen running at once
/// and the wall time.
fn thousand_jobs_of_10ms() -> (usize, Duration) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let hs: Vec<_> = (0..1000)
        .map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            spawn(move || {
                spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
        })
        .collect();
    assert!(sprout::joinall(&hs, Some(Duration::from_secs(60))));
    (peak.load(Ordering::SeqCst), t.elapsed())
}

#[test]
fn default_size_runs_many_blocking_jobs_at_once_and_lookups_have_their_own_lane() {
    // One test in this binary: the pool's settings are process-wide.
    assert_eq!(threadpool::max_threads(), threadpool::DEFAULT_MAX_THREADS);
    const { assert!(threadpool::DEFAULT_MAX_THREADS >= 64) };
    // Fill the main pool (lowered to 4 threads while it has none yet) with jobs that block
    // until released; a lookup still completes.
    threadpool::set_max_threads(4);
    let gate = Arc::new(Barrier::new(5));
    let started = Arc::new(AtomicUsize::new(0));
    let blockers: Vec<_> = (0..4)
        .map(|_| {
            let (gate, started) = (gate.clone(), started.clone());
            spawn(move || {
                spawn_blocking(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                })
            })
        })
        .collect();
    // The pool is not FIFO (a worker takes jobs in batches, siblings steal), so queue the
    // fifth job only once the blockers occupy all 4 threads.
    let until = Instant::now() + Duration::from_secs(30);
    while started.load(Ordering::SeqCst) < 4 {
        assert!(Instant::now() < until, "the 4 blockers started");
        sprout::sleep(Duration::from_millis(5));
    }
    let queued = spawn(|| spawn_blocking(|| "ran after the blockers"));
    sprout::sleep(Duration::from_millis(20));
    let looked_up = with_timeout(Duration::from_secs(10), || {
        sprout::net::lookup_host(("localhost", 80))
    });
    let ok = matches!(&looked_up, Ok(Ok(a)) if !a.is_empty());
    assert!(!queued.is_finished(), "the main pool was full meanwhile");
    // Release the blockers from a plain thread (the barrier would block the hub).
    let releaser = std::thread::spawn(move || {
        gate.wait();
    });
    assert!(sprout::joinall(&blockers, Some(Duration::from_secs(30))));
    releaser.join().unwrap();
    assert_eq!(queued.join().unwrap(), "ran after the blockers");
    assert!(ok, "lookup while the main pool was full: {looked_up:?}");
    assert_eq!(
        threadpool::resolver_threads_max(),
        threadpool::DEFAULT_RESOLVER_THREADS
    );

    threadpool::set_max_threads(threadpool::DEFAULT_MAX_THREADS);
    let (peak, _) = thousand_jobs_of_10ms();
    // With the old default (4 threads on this machine) the peak was 4.
    assert!(peak >= 32, "at most {peak} jobs ran at once");
}

/// The number of the issue, alternating the old default (4 threads here) and the new one in
/// the same run: `cargo test --release --test threadpool_lanes -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; prints numbers"]
fn measure_thousand_jobs_of_10ms() {
    // Each run starts with no thread: idle threads retire after 50 ms.
    threadpool::set_idle_timeout(Duration::from_millis(50));
    for round in 0..3 {
        for max in [4, threadpool::DEFAULT_MAX_THREADS] {
            while threadpool::threads() > 0 {
                sprout::sleep(Duration::from_millis(20));
            }
            threadpool::set_max_threads(max);
            let (peak, wall) = thousand_jobs_of_10ms();
            println!("round {round}: max_threads {max:>3}: {wall:?} (peak {peak} at once)");
        }
    }
}
