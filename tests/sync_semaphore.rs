//! `Semaphore` and `BoundedSemaphore`: counting, FIFO hand-off, no barging, permits given back
//! by killed or timed-out waiters, over-release, LoopExit.

#[path = "support/sync.rs"]
mod support;

use std::time::Duration;

use sprout::sync::{BoundedSemaphore, OverRelease, Semaphore};
use sprout::WaitError;
use support::{settle, Gauge, Log, SOON};

#[test]
fn never_more_holders_than_permits() {
    let sem = Semaphore::new(3);
    let gauge = Gauge::new();
    let hs: Vec<_> = (0..20)
        .map(|i| {
            let (sem, gauge) = (sem.clone(), gauge.clone());
            sprout::spawn(move || {
                let _p = sem.acquire().unwrap();
                let _in = gauge.enter();
                sprout::sleep(Duration::from_millis(1 + i % 3));
            })
        })
        .collect();
    assert!(sprout::joinall(&hs, Some(SOON)));
    assert_eq!(gauge.peak(), 3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn waiters_get_permits_in_arrival_order() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let log = Log::new();
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let (sem, log) = (sem.clone(), log.clone());
            sprout::spawn(move || {
                let _p = sem.acquire().unwrap();
                log.push(i);
                sprout::yield_now();
            })
        })
        .collect();
    settle();
    assert_eq!(sem.waiting(), 5);
    drop(held);
    assert!(sprout::joinall(&hs, Some(SOON)));
    assert_eq!(log.items(), [0, 1, 2, 3, 4]);
}

#[test]
fn a_releaser_cannot_barge_ahead_of_waiters() {
    let sem = Semaphore::new(1);
    let p = sem.acquire().unwrap();
    let s = sem.clone();
    let waiter = sprout::spawn(move || s.acquire().map(|g| g.forget()));
    settle();
    drop(p); // handed to the waiter, which has not run yet
    assert!(
        sem.try_acquire().is_none(),
        "the permit belongs to the waiter now"
    );
    waiter.join().unwrap().unwrap();
    sem.release();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_permit_handed_to_a_killed_waiter_is_granted_then_released_by_the_kill() {
    // The hand-off completed before the kill arrived: `acquire` returns the permit and the
    // kill is raised at the next blocking call, whose unwinding releases it to the next.
    let sem = Semaphore::new(1);
    let held = sem.acquire().unwrap();
    let log = Log::new();
    let spawn_waiter = |name: &'static str| {
        let (sem, log) = (sem.clone(), log.clone());
        sprout::spawn(move || {
            let _p = sem.acquire().unwrap();
            log.push(name);
            sprout::sleep(Duration::from_millis(1));
        })
    };
    let a = spawn_waiter("a");
    let b = spawn_waiter("b");
    settle();
    drop(held); // handed to a
    a.kill_nowait(); // arrives before a runs
    assert!(sprout::joinall(&[&a, &b], Some(SOON)));
    assert!(a.join().unwrap_err().is_killed(), "killed at its sleep");
    b.join().unwrap();
    assert_eq!(log.items(), ["a", "b"]);
    assert_eq!(sem.available_permits(), 1, "no permit lost or made up");
}

#[test]
fn a_holder_unwound_by_its_scope_releases_the_permit() {
    let sem = Semaphore::new(1);
    let held = sem.acquire().unwrap();
    let s = sem.clone();
    let h = sprout::spawn(move || {
        sprout::with_timeout(Duration::from_millis(5), || {
            let _p = s.acquire().unwrap();
            // Owns the permit: stays here until the scope expires.
            sprout::sleep(Duration::from_secs(60));
        })
    });
    settle();
    drop(held);
    assert!(h.join().unwrap().is_err());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_permit_handed_to_a_waiter_whose_scope_expires_before_it_runs_is_granted() {
    let sem = Semaphore::new(1);
    let held = sem.acquire().unwrap();
    let s = sem.clone();
    let w = sprout::spawn(move || {
        sprout::with_timeout(Duration::from_millis(5), || {
            s.acquire().map(|g| {
                let free_while_held = s.available_permits();
                drop(g);
                free_while_held
            })
        })
    });
    settle();
    // Block the thread past the scope's deadline, then hand the permit over: the scope's
    // timer fires in this same pass, before the waiter runs. The hand-off came first, so the
    // acquire reports it (the waiter protocol's rule).
    std::thread::sleep(Duration::from_millis(20));
    drop(held);
    assert_eq!(
        w.join().unwrap(),
        Ok(Ok(0)),
        "the hand-off won over the scope"
    );
    assert_eq!(sem.available_permits(), 1, "no permit lost or made up");
}

#[test]
fn acquire_timeout_times_out_without_taking_a_permit() {
    let sem = Semaphore::new(0);
    assert_eq!(
        sem.acquire_timeout(Duration::from_millis(10)).err(),
        Some(WaitError::TimedOut)
    );
    assert_eq!(sem.waiting(), 0);
    sem.release();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn unbounded_release_adds_permits_and_bounded_refuses() {
    let sem = Semaphore::new(1);
    sem.release();
    assert_eq!(sem.available_permits(), 2);

    let b = BoundedSemaphore::new(2);
    assert_eq!(b.release(), Err(OverRelease));
    let g = b.acquire().unwrap();
    g.forget();
    assert_eq!(b.available_permits(), 1);
    assert_eq!(b.release(), Ok(()));
    assert_eq!(b.release(), Err(OverRelease));
    assert_eq!(b.available_permits(), 2);
}

#[test]
fn try_acquire_never_parks() {
    let sem = Semaphore::new(1);
    let before = sprout::switch_count();
    let p = sem.try_acquire();
    assert!(p.is_some());
    assert!(sem.try_acquire().is_none());
    assert!(sem.is_locked());
    assert_eq!(sprout::switch_count(), before);
}

#[test]
fn root_acquiring_a_permit_nobody_releases_gets_loop_exit() {
    let sem = Semaphore::new(1);
    let _p = sem.acquire().unwrap();
    assert_eq!(sem.acquire().err(), Some(WaitError::LoopExit));
}
