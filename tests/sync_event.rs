//! `Event` and `AsyncResult`: set wakes every waiter, set-then-clear still wakes, timeouts,
//! kills, LoopExit, set-once results.

#[path = "support/sync.rs"]
mod support;

use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::sync::{AsyncResult, Event, GetError};
use sprout::WaitError;
use support::{settle, Log, SOON};

#[test]
fn set_wakes_every_waiter() {
    let ev = Event::new();
    let log = Log::new();
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let (ev, log) = (ev.clone(), log.clone());
            sprout::spawn(move || {
                ev.wait().unwrap();
                log.push(i);
            })
        })
        .collect();
    settle();
    assert_eq!(log.len(), 0, "nobody passes an unset event");
    assert_eq!(ev.waiting(), 5);
    ev.set();
    assert!(sprout::joinall(&hs, Some(SOON)));
    assert_eq!(log.items(), [0, 1, 2, 3, 4], "woken in arrival order");
}

#[test]
fn waiting_on_a_set_event_does_not_switch() {
    let ev = Event::new();
    ev.set();
    let before = sprout::switch_count();
    ev.wait().unwrap();
    ev.wait_timeout(Duration::ZERO).unwrap();
    assert_eq!(sprout::switch_count(), before);
}

#[test]
fn set_then_clear_before_waiters_run_still_wakes_them() {
    let ev = Event::new();
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let ev = ev.clone();
            sprout::spawn(move || ev.wait_timeout(SOON))
        })
        .collect();
    settle();
    ev.set();
    ev.clear();
    for h in hs {
        assert_eq!(h.join().unwrap(), Ok(()));
    }
    assert!(!ev.is_set());
}

#[test]
fn a_cleared_event_parks_new_waiters_until_the_next_set() {
    let ev = Event::new();
    ev.set();
    ev.clear();
    let e = ev.clone();
    let h = sprout::spawn(move || e.wait());
    settle();
    assert!(!h.is_finished());
    ev.set();
    assert_eq!(h.join().unwrap(), Ok(()));
}

#[test]
fn wait_timeout_times_out() {
    let ev = Event::new();
    let start = Instant::now();
    assert_eq!(
        ev.wait_timeout(Duration::from_millis(20)),
        Err(WaitError::TimedOut)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(ev.waiting(), 0);
}

#[test]
fn a_killed_waiter_does_not_take_a_later_waiters_wake_up() {
    let ev = Event::new();
    let e = ev.clone();
    let doomed = sprout::spawn(move || e.wait());
    settle();
    ev.set();
    doomed.kill(); // woken, then killed before it ran
    ev.clear();
    // A waiter arriving after the set must not see it.
    let e = ev.clone();
    let late = sprout::spawn(move || e.wait_timeout(Duration::from_millis(30)));
    assert_eq!(late.join().unwrap(), Err(WaitError::TimedOut));
}

#[test]
fn root_waiting_on_an_event_nobody_sets_gets_loop_exit() {
    let ev = Event::new();
    assert_eq!(ev.wait(), Err(WaitError::LoopExit));
}

#[test]
fn async_result_gives_every_getter_the_value() {
    let r: AsyncResult<Rc<str>> = AsyncResult::new();
    let getters: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            sprout::spawn(move || r.get().unwrap())
        })
        .collect();
    settle();
    assert!(!r.is_ready());
    assert_eq!(r.try_get().map(|x| x.is_ok()), None);
    r.set(Rc::from("v")).unwrap();
    for g in getters {
        assert_eq!(&*g.join().unwrap(), "v");
    }
    assert!(r.is_successful());
    assert_eq!(r.get().unwrap().as_ref(), "v");
}

#[test]
fn async_result_is_set_once() {
    let r: AsyncResult<u32, String> = AsyncResult::new();
    r.set(1).unwrap();
    assert_eq!(r.set(2), Err(2));
    assert_eq!(r.set_error("late".into()), Err("late".to_string()));
    assert_eq!(r.get(), Ok(1));
}

#[test]
fn async_result_error_reaches_getters() {
    let r: AsyncResult<u32, String> = AsyncResult::new();
    let g = {
        let r = r.clone();
        sprout::spawn(move || r.get())
    };
    settle();
    r.set_error("boom".into()).unwrap();
    assert_eq!(g.join().unwrap(), Err(GetError::Failed("boom".into())));
    assert!(r.is_ready() && !r.is_successful());
}

#[test]
fn async_result_get_times_out_and_loop_exits() {
    let r: AsyncResult<u32> = AsyncResult::new();
    assert!(matches!(
        r.get_timeout(Duration::from_millis(10)),
        Err(GetError::TimedOut)
    ));
    assert!(matches!(r.get(), Err(GetError::LoopExit)));
}

#[test]
fn async_result_take_moves_the_value_out_once() {
    struct NotClone(u32);
    let r: AsyncResult<NotClone> = AsyncResult::new();
    let setter = {
        let r = r.clone();
        sprout::spawn(move || {
            sprout::sleep(Duration::from_millis(2));
            let _ = r.set(NotClone(7));
        })
    };
    r.wait().unwrap();
    assert_eq!(
        r.with(|o| o.map(|v| v.as_ref().map(|n| n.0).ok())),
        Some(Some(7))
    );
    assert_eq!(r.take().ok().map(|n| n.0), Some(7));
    assert!(matches!(r.take(), Err(GetError::Taken)));
    setter.join().unwrap();
}
