//! Timeout scopes and guards, nested deadlines, sleep timing.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::{spawn, with_timeout, Elapsed, JoinError, Timeout};

mod support;
use support::DropFlag;

#[test]
fn with_timeout_hit_and_miss() {
    let t0 = Instant::now();
    let hit = with_timeout(Duration::from_millis(20), || {
        sprout::sleep(Duration::from_secs(10))
    });
    assert_eq!(hit, Err(Elapsed));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let miss = with_timeout(Duration::from_secs(10), || {
        sprout::sleep(Duration::from_millis(1));
        7
    });
    assert_eq!(miss, Ok(7));
}

#[test]
fn timeout_unwinds_and_runs_destructors() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let r = with_timeout(Duration::from_millis(10), move || {
        let _g = DropFlag(d);
        sprout::sleep(Duration::from_secs(10));
    });
    assert!(r.is_err());
    assert!(dropped.get());
}

#[test]
fn nested_timeouts_fire_for_their_own_scope_only() {
    // Inner expires first: inner scope reports it, outer carries on.
    let outer = with_timeout(Duration::from_secs(10), || {
        let inner = with_timeout(Duration::from_millis(10), || {
            sprout::sleep(Duration::from_secs(10))
        });
        assert_eq!(inner, Err(Elapsed));
        "outer finished"
    });
    assert_eq!(outer, Ok("outer finished"));

    // Outer expires first: the inner scope lets it through to the outer one.
    let inner_saw = Rc::new(Cell::new(false));
    let s = inner_saw.clone();
    let outer = with_timeout(Duration::from_millis(10), move || {
        let inner = with_timeout(Duration::from_secs(10), || {
            sprout::sleep(Duration::from_secs(10))
        });
        s.set(true); // not reached: the outer timeout unwinds through the inner scope
        inner
    });
    assert_eq!(outer, Err(Elapsed));
    assert!(!inner_saw.get());
}

#[test]
fn timeout_inside_a_greenlet() {
    let h = spawn(|| {
        with_timeout(Duration::from_millis(10), || {
            sprout::sleep(Duration::from_secs(10))
        })
    });
    assert_eq!(h.join().unwrap(), Err(Elapsed));
}

#[test]
fn timeout_guard_caught_and_uncaught() {
    let t = Timeout::start(Duration::from_millis(10));
    assert_eq!(
        t.catch(|| sprout::sleep(Duration::from_secs(10))),
        Err(Elapsed)
    );
    drop(t);
    // A guard dropped before expiry never fires.
    let t = Timeout::start(Duration::from_millis(5));
    drop(t);
    sprout::sleep(Duration::from_millis(20));
    // Uncaught inside a greenlet: the greenlet ends, join reports it.
    let h = spawn(|| {
        let _t = Timeout::start(Duration::from_millis(5));
        sprout::sleep(Duration::from_secs(10));
    });
    match h.join() {
        Err(JoinError::Panicked(p)) => assert!(p.is::<Elapsed>()),
        other => panic!("expected Panicked(Elapsed), got {other:?}"),
    }
}

#[test]
fn a_timeout_that_does_not_expire_costs_nothing_later() {
    for _ in 0..1000 {
        assert_eq!(with_timeout(Duration::from_secs(5), || 1), Ok(1));
    }
    // None of those deadlines fires later into unrelated code.
    sprout::sleep(Duration::from_millis(5));
}

#[test]
fn sleep_until_and_sleep_zero() {
    let deadline = Instant::now() + Duration::from_millis(20);
    sprout::sleep_until(deadline);
    assert!(Instant::now() >= deadline);
    let before = sprout::switch_count();
    sprout::sleep(Duration::ZERO);
    assert!(sprout::switch_count() > before, "sleep(0) yields");
}
