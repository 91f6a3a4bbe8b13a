//! `sprout::fork` gives the child's signal handlers pipes of their own: a signal sent to the
//! child never runs the parent's handler. Alone in its binary: it forks and raises signals.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn a_signal_sent_to_a_forked_child_never_runs_the_parents_handler() {
    let count = Rc::new(Cell::new(0u32));
    let c = count.clone();
    let _h = sprout::signal_handler(libc::SIGUSR1, move || c.set(c.get() + 1)).unwrap();

    let pid = sprout::fork().unwrap();
    if pid == 0 {
        // signal-hook's handler writes its byte before raise returns; the child then exits
        // without running its hub, so only a reader in the parent could see that byte.
        // SAFETY: raises a handled signal in this child, then ends it without the harness.
        unsafe {
            libc::raise(libc::SIGUSR1);
            libc::_exit(0);
        }
    }
    let status = sprout::process::wait_pid(pid).unwrap();
    assert_eq!(status.code(), Some(0));
    sprout::sleep(Duration::from_millis(200));
    assert_eq!(
        count.get(),
        0,
        "the child's signal ran the parent's handler"
    );

    // The parent's own deliveries still run its handler.
    // SAFETY: raises a handled signal in this process.
    unsafe { libc::raise(libc::SIGUSR1) };
    let until = Instant::now() + Duration::from_secs(10);
    while count.get() == 0 && Instant::now() < until {
        sprout::sleep(Duration::from_millis(5));
    }
    assert_eq!(count.get(), 1);
}
