//! `ThreadEvent`: set on one thread, waited on by greenlets of other hubs and by plain threads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::sync::ThreadEvent;
use sprout::{spawn, WaitError};

/// Sets `ev` from a new OS thread after `delay`.
fn set_later(ev: &ThreadEvent, delay: Duration) -> std::thread::JoinHandle<()> {
    let ev = ev.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        ev.set();
    })
}

#[test]
fn set_from_an_os_thread_wakes_a_parked_greenlet_while_others_run() {
    let ev = ThreadEvent::new();
    let stop = Rc::new(Cell::new(false));
    let ticker = {
        let stop = stop.clone();
        spawn(move || {
            let mut ticks = 0;
            while !stop.get() {
                sprout::sleep(Duration::from_millis(5));
                ticks += 1;
            }
            ticks
        })
    };
    let waiter = {
        let ev = ev.clone();
        spawn(move || ev.wait_timeout(Duration::from_secs(20)))
    };
    let setter = set_later(&ev, Duration::from_millis(150));
    assert_eq!(waiter.join().unwrap(), Ok(()));
    stop.set(true);
    assert!(ticker.join().unwrap() >= 5, "the hub kept running others");
    setter.join().unwrap();
    assert!(ev.is_set());
    assert_eq!(ev.waiting(), 0);
}

#[test]
fn a_cross_thread_wait_is_not_loop_exit() {
    // The greenlet's only wake source is another thread: root code's join must block in
    // epoll until the set, not report LoopExit.
    let ev = ThreadEvent::new();
    let waiter = {
        let ev = ev.clone();
        spawn(move || ev.wait())
    };
    let setter = set_later(&ev, Duration::from_millis(100));
    assert_eq!(waiter.join().unwrap(), Ok(()));
    setter.join().unwrap();
    // Root code waits the same way.
    let ev = ThreadEvent::new();
    let setter = set_later(&ev, Duration::from_millis(50));
    assert_eq!(ev.wait(), Ok(()));
    setter.join().unwrap();
}

#[test]
fn a_plain_thread_waits_for_a_greenlet_to_set() {
    let ev = ThreadEvent::new();
    let thread = {
        let ev = ev.clone();
        std::thread::spawn(move || ev.wait_timeout(Duration::from_secs(20)))
    };
    let ev2 = ev.clone();
    spawn(move || {
        // Set only once the thread is parked on the event.
        let deadline = Instant::now() + Duration::from_secs(20);
        while ev2.waiting() == 0 {
            assert!(Instant::now() < deadline, "the thread never parked");
            sprout::sleep(Duration::from_millis(2));
        }
        ev2.set();
    })
    .join()
    .unwrap();
    assert_eq!(thread.join().unwrap(), Ok(()));
}

#[test]
fn waits_time_out_on_greenlets_and_threads() {
    let ev = ThreadEvent::new();
    let start = Instant::now();
    let g = {
        let ev = ev.clone();
        spawn(move || ev.wait_timeout(Duration::from_millis(50)))
    };
    assert_eq!(g.join().unwrap(), Err(WaitError::TimedOut));
    assert!(start.elapsed() >= Duration::from_millis(50));
    let t = {
        let ev = ev.clone();
        std::thread::spawn(move || ev.wait_timeout(Duration::from_millis(50)))
    };
    assert_eq!(t.join().unwrap(), Err(WaitError::TimedOut));
    assert_eq!(ev.waiting(), 0, "timed-out waiters left the list");
    // Set and clear; a wait after the clear parks again.
    ev.set();
    assert_eq!(ev.wait_timeout(Duration::ZERO), Ok(()));
    ev.clear();
    assert_eq!(
        ev.wait_timeout(Duration::from_millis(10)),
        Err(WaitError::TimedOut)
    );
}

#[test]
fn kill_and_timeout_scopes_unwind_a_cross_thread_wait() {
    let ev = ThreadEvent::new();
    let g = {
        let ev = ev.clone();
        spawn(move || ev.wait())
    };
    sprout::sleep(Duration::from_millis(10));
    assert_eq!(ev.waiting(), 1);
    g.kill();
    assert!(g.is_finished());
    assert_eq!(ev.waiting(), 0);
    let r = sprout::with_timeout(Duration::from_millis(20), || ev.wait());
    assert!(r.is_err(), "the Timeout scope fired");
    assert_eq!(ev.waiting(), 0);
}

#[test]
fn one_set_wakes_greenlets_on_two_hubs_and_a_thread() {
    let ev = ThreadEvent::new();
    let ready = ThreadEvent::new();
    let hubs = {
        let (ev, ready) = (ev.clone(), ready.clone());
        std::thread::spawn(move || {
            sprout::run_threads(2, |_| {
                let waiters: Vec<_> = (0..10)
                    .map(|_| {
                        let ev = ev.clone();
                        spawn(move || ev.wait_timeout(Duration::from_secs(20)).is_ok())
                    })
                    .collect();
                sprout::yield_now();
                ready.set();
                waiters
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .filter(|ok| *ok)
                    .count()
            })
        })
    };
    let thread = {
        let ev = ev.clone();
        std::thread::spawn(move || ev.wait_timeout(Duration::from_secs(20)))
    };
    // Let every waiter park, then wake them all at once.
    ready.wait_timeout(Duration::from_secs(20)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ev.waiting() < 21 {
        assert!(Instant::now() < deadline, "waiters never parked");
        std::thread::sleep(Duration::from_millis(5));
    }
    ev.set();
    assert_eq!(hubs.join().unwrap(), vec![10, 10]);
    assert_eq!(thread.join().unwrap(), Ok(()));
}
