//! Signal handlers across `fork`: after `sprout::fork` (or a plain `libc::fork`) a signal runs
//! the handlers of the process it was sent to only, never the other process's, although both
//! keep the same installed handler. Alone in its binary (one test: it forks).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::signal::{SIGUSR1, SIGUSR2, SIGWINCH};

/// How many signals each phase sends.
const N: u32 = 10;

/// Runs the hub until `count` reaches `want` or `limit` has passed.
fn run_until(count: &Cell<u32>, want: u32, limit: Duration) {
    let end = Instant::now() + limit;
    while count.get() < want && Instant::now() < end {
        sprout::sleep(Duration::from_millis(2));
    }
}

/// Sends `sig` to this process `N` times, each after the previous one was handled (standard
/// signals coalesce), and then runs the hub a little longer to catch any extra run.
fn send_to_self(sig: i32, count: &Cell<u32>) {
    let start = count.get();
    for i in 1..=N {
        // SAFETY: kill with our own pid and a valid signal number.
        unsafe { libc::kill(libc::getpid(), sig) };
        run_until(count, start + i, Duration::from_secs(5));
    }
    sprout::sleep(Duration::from_millis(200));
}

/// Installs a counting handler for `sig`, forks with `fork`, and makes `sender` (the parent
/// or the child) send `N` signals to itself. Returns (parent's runs, child's runs).
fn phase(sig: i32, plain: bool, child_sends: bool) -> (u32, u32) {
    let count = Rc::new(Cell::new(0u32));
    let c = count.clone();
    let handler = sprout::signal_handler(sig, move || c.set(c.get() + 1)).unwrap();
    let pid = if plain {
        // SAFETY: this test's process runs only this thread's hub code in the child.
        unsafe { libc::fork() as u32 }
    } else {
        sprout::fork().unwrap()
    };
    if pid == 0 {
        if child_sends {
            send_to_self(sig, &count);
        } else {
            // Stay alive (and reading) while the parent gets its signals.
            run_until(&count, u32::MAX, Duration::from_millis(1500));
        }
        std::process::exit(count.get() as i32);
    }
    if child_sends {
        run_until(&count, u32::MAX, Duration::from_millis(300));
    } else {
        send_to_self(sig, &count);
    }
    let status = sprout::process::wait_pid(pid).unwrap();
    // Anything a late delivery could still run.
    sprout::sleep(Duration::from_millis(100));
    drop(handler);
    (count.get(), status.code().expect("child exited") as u32)
}

#[test]
fn a_signal_runs_only_the_handlers_of_the_process_it_was_sent_to() {
    // sprout::fork, signals sent to the parent: the child's copy of the handler never runs.
    assert_eq!(
        phase(SIGUSR1, false, false),
        (N, 0),
        "parent sends, sprout::fork"
    );
    // sprout::fork, signals sent to the child: the parent's handler never runs.
    assert_eq!(
        phase(SIGUSR2, false, true),
        (0, N),
        "child sends, sprout::fork"
    );
    // A plain libc::fork, both directions.
    assert_eq!(
        phase(SIGWINCH, true, false),
        (N, 0),
        "parent sends, libc::fork"
    );
    assert_eq!(
        phase(SIGWINCH, true, true),
        (0, N),
        "child sends, libc::fork"
    );
}
