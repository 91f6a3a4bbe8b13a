//! Hub threads that used cross-thread wake-ups leave no fd behind (each hub's epoll instance
//! and notifier close with its thread). The only test in its binary, so the process's fd
//! count is this test's alone.

use std::time::Duration;

use sprout::sync::ThreadEvent;
use sprout::{spawn, spawn_blocking};

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn hub_threads_close_their_epoll_and_notifier_fds() {
    let before = fd_count();
    for _ in 0..3 {
        let go = ThreadEvent::new();
        let parked = ThreadEvent::new();
        let hubs = {
            let (go, parked) = (go.clone(), parked.clone());
            std::thread::spawn(move || {
                sprout::run_threads(2, |i| {
                    let go = go.clone();
                    let waiter = spawn(move || go.wait_timeout(Duration::from_secs(20)));
                    sprout::yield_now();
                    parked.set();
                    let job = spawn(move || spawn_blocking(move || i * 2));
                    (waiter.join().unwrap(), job.join().unwrap())
                })
            })
        };
        parked.wait_timeout(Duration::from_secs(20)).unwrap();
        go.set();
        assert_eq!(hubs.join().unwrap(), vec![(Ok(()), 0), (Ok(()), 2)]);
    }
    assert_eq!(fd_count(), before, "fds leaked by hub threads");
}
