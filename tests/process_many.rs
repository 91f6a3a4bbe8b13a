//! 100 greenlets each waiting for a `sleep 0.2` child finish together, on one OS thread:
//! waits park on pidfds. Alone in its binary, so its thread count means something.

use std::time::{Duration, Instant};

use sprout::process::Command;

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_hundred_children_sleeping_in_parallel_on_one_thread() {
    let threads = threads_of_this_process();
    let pool_threads = sprout::threadpool::threads();
    let started = Instant::now();
    let children: Vec<_> = (0..100)
        .map(|_| sprout::spawn(|| Command::new("sleep").arg("0.2").status()))
        .collect();
    for c in children {
        assert!(c.join().unwrap().unwrap().success());
    }
    let wall = started.elapsed();
    eprintln!("100 x `sleep 0.2` on one thread: {wall:?}");
    // Serial would be 20 s; generous for a loaded machine.
    assert!(wall < Duration::from_millis(1500), "took {wall:?}");
    assert_eq!(
        sprout::threadpool::threads(),
        pool_threads,
        "no pool thread was used"
    );
    assert!(
        threads_of_this_process() <= threads,
        "no thread was started"
    );
}
