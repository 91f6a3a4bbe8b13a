//! `sprout::signal_handler` and `sprout::signal::wait`: deliveries run handlers in greenlets
//! of the installing hub while other greenlets keep running; bad signal numbers are errors.
//! Each test uses its own signal: the test threads share the process.

mod support;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn raise_later(sig: libc::c_int, times: usize, gap: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for _ in 0..times {
            std::thread::sleep(gap);
            // SAFETY: sends a signal this test has a handler for to its own process.
            assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
        }
    })
}

fn ticker() -> (Rc<Cell<u32>>, sprout::JoinHandle<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let h = sprout::spawn(move || loop {
        sprout::sleep(Duration::from_millis(5));
        t.set(t.get() + 1);
    });
    (ticks, h)
}

#[test]
fn handler_runs_once_per_delivery_in_a_greenlet_and_cancel_stops_it() {
    let runs = Rc::new(Cell::new(0u32));
    let in_greenlet = Rc::new(Cell::new(true));
    let (r, g) = (runs.clone(), in_greenlet.clone());
    let mut handler = sprout::signal_handler(libc::SIGUSR1, move || {
        r.set(r.get() + 1);
        g.set(g.get() && sprout::current_id() != 0);
    })
    .unwrap();
    assert_eq!(handler.signum(), libc::SIGUSR1);
    let (ticks, t) = ticker();
    let sender = raise_later(libc::SIGUSR1, 3, Duration::from_millis(50));
    let until = Instant::now() + Duration::from_secs(10);
    let mut ticks_at_runs = Vec::new();
    while runs.get() < 3 && Instant::now() < until {
        let before = runs.get();
        sprout::sleep(Duration::from_millis(2));
        if runs.get() != before {
            ticks_at_runs.push(ticks.get());
        }
    }
    sender.join().unwrap();
    sprout::sleep(Duration::from_millis(100));
    assert_eq!(runs.get(), 3, "one handler run per delivery");
    assert!(in_greenlet.get(), "handlers run in spawned greenlets");
    assert!(
        ticks_at_runs.windows(2).all(|w| w[1] > w[0]),
        "the ticker kept ticking between deliveries: {ticks_at_runs:?}"
    );

    // A second handler keeps the signal caught, so the process survives the next delivery.
    let other_runs = Rc::new(Cell::new(0u32));
    let o = other_runs.clone();
    let _other = sprout::signal_handler(libc::SIGUSR1, move || o.set(o.get() + 1)).unwrap();
    handler.cancel();
    // SAFETY: as above; `_other` handles it.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
    let until = Instant::now() + Duration::from_secs(5);
    while other_runs.get() == 0 && Instant::now() < until {
        sprout::sleep(Duration::from_millis(5));
    }
    assert_eq!(other_runs.get(), 1, "the remaining handler runs");
    sprout::sleep(Duration::from_millis(50));
    assert_eq!(runs.get(), 3, "a cancelled handler does not run");
    t.kill();
}

#[test]
fn uncatchable_and_invalid_signals_are_clear_errors() {
    for sig in [libc::SIGKILL, libc::SIGSTOP, 0, -1, 1000, libc::SIGSEGV] {
        let err = sprout::signal_handler(sig, || {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "signal {sig}");
        assert!(err.to_string().contains("sprout:"), "{err}");
    }
    let err = sprout::signal_handler(libc::SIGKILL, || {}).unwrap_err();
    assert!(err.to_string().contains("cannot be caught"), "{err}");
    assert_eq!(
        sprout::signal::wait(&[libc::SIGSTOP]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn wait_parks_only_the_caller_until_one_of_the_signals() {
    let (ticks, t) = ticker();
    let sender = sprout::spawn(|| {
        sprout::sleep(Duration::from_millis(100));
        // SAFETY: SIGUSR2 is being waited for by this test.
        unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
    });
    let sig = sprout::signal::wait(&[libc::SIGUSR2, libc::SIGURG]).unwrap();
    assert_eq!(sig, libc::SIGUSR2);
    assert!(
        ticks.get() >= 5,
        "the ticker ran while waiting: {}",
        ticks.get()
    );
    sender.join().unwrap();
    t.kill();
}

#[test]
fn signals_queue_deliveries_for_an_iterating_greenlet() {
    let mut signals = sprout::signal::Signals::new(&[libc::SIGWINCH]).unwrap();
    let sender = raise_later(libc::SIGWINCH, 2, Duration::from_millis(50));
    let got: Vec<i32> = (&mut signals).take(2).collect();
    assert_eq!(got, [libc::SIGWINCH, libc::SIGWINCH]);
    sender.join().unwrap();
}

/// In a child process (`run_self`): the default action of SIGTERM is back once its last
/// handler is cancelled, so raising it terminates the process.
#[test]
fn default_action_returns_after_the_last_handler_is_cancelled() {
    if std::env::var_os("SPROUT_SIGNAL_CHILD").is_some() {
        let h = sprout::signal_handler(libc::SIGTERM, || {}).unwrap();
        drop(h);
        // SAFETY: raises SIGTERM in this child test process, which should terminate.
        unsafe { libc::raise(libc::SIGTERM) };
        sprout::sleep(Duration::from_millis(500));
        std::process::exit(0); // not reached if the default action ran
    }
    let out = support::run_self(
        "default_action_returns_after_the_last_handler_is_cancelled",
        &[("SPROUT_SIGNAL_CHILD", "1")],
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{out:?}");
}

/// In a child process (`run_self`): a signal that was ignored before its handler (SIGPIPE,
/// which every Rust program ignores) is ignored again after the handler is cancelled, instead
/// of getting the default action (which would terminate the process).
#[test]
fn an_ignored_signal_stays_ignored_after_the_last_handler_is_cancelled() {
    if std::env::var_os("SPROUT_SIGNAL_CHILD").is_some() {
        let h = sprout::signal_handler(libc::SIGPIPE, || {}).unwrap();
        drop(h);
        // SAFETY: raises SIGPIPE in this child test process, which ignored it before.
        unsafe { libc::raise(libc::SIGPIPE) };
        sprout::sleep(Duration::from_millis(200));
        std::process::exit(0);
    }
    let out = support::run_self(
        "an_ignored_signal_stays_ignored_after_the_last_handler_is_cancelled",
        &[("SPROUT_SIGNAL_CHILD", "1")],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
