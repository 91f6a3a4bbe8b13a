//! The wait list's contract through the public API: FIFO, hand-off of values, pass-on of a
//! notification whose waiter leaves, no double wake-ups, timeouts, Timeout scopes, LoopExit.

#[path = "support/sync.rs"]
mod support;

use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::{WaitError, WaitList};
use support::{settle, Log};

#[test]
fn notify_one_wakes_waiters_in_arrival_order() {
    let list = Rc::new(WaitList::new());
    let log = Log::new();
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let (list, log) = (list.clone(), log.clone());
            sprout::spawn(move || {
                list.wait(None).unwrap();
                log.push(i);
            })
        })
        .collect();
    settle();
    assert_eq!(list.len(), 5);
    for _ in 0..5 {
        assert!(list.notify_one());
        settle();
    }
    assert!(!list.notify_one(), "nobody left to wake");
    assert!(sprout::joinall(&hs, Some(support::SOON)));
    assert_eq!(log.items(), [0, 1, 2, 3, 4]);
}

#[test]
fn notify_all_wakes_each_waiter_once() {
    let list = Rc::new(WaitList::new());
    let log = Log::new();
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let (list, log) = (list.clone(), log.clone());
            sprout::spawn(move || {
                list.wait(None).unwrap();
                log.push(i);
            })
        })
        .collect();
    settle();
    assert_eq!(list.notify_all(), 4);
    assert_eq!(list.notify_all(), 0, "woken waiters are no longer queued");
    assert!(sprout::joinall(&hs, Some(support::SOON)));
    assert_eq!(log.items(), [0, 1, 2, 3]);
}

#[test]
fn a_notification_that_took_effect_wins_over_a_later_kill() {
    let list = Rc::new(WaitList::new());
    let log = Log::new();
    let spawn_waiter = |name: &'static str| {
        let (list, log) = (list.clone(), log.clone());
        sprout::spawn(move || {
            list.wait(None).unwrap();
            log.push(name);
            sprout::sleep(Duration::from_millis(1)); // a pending kill is raised here
        })
    };
    let a = spawn_waiter("a");
    let b = spawn_waiter("b");
    settle();
    assert!(list.notify_one()); // wakes a
    a.kill_nowait(); // ...which is killed before it runs: its wait still reports the wake
    settle();
    assert!(a.join().unwrap_err().is_killed());
    assert_eq!(log.items(), ["a"], "one notification, one waiter woken");
    assert!(list.notify_one());
    b.join().unwrap();
    assert_eq!(log.items(), ["a", "b"]);
}

#[test]
fn a_notification_skips_a_waiter_that_already_left() {
    let list = Rc::new(WaitList::new());
    let log = Log::new();
    let spawn_waiter = |name: &'static str| {
        let (list, log) = (list.clone(), log.clone());
        sprout::spawn(move || {
            list.wait(None).unwrap();
            log.push(name);
        })
    };
    let a = spawn_waiter("a");
    let b = spawn_waiter("b");
    settle();
    a.kill_nowait(); // a is interrupted but has not run yet: its entry is still queued
    assert!(
        list.notify_one(),
        "the notification goes to b, not to the leaving a"
    );
    settle();
    assert!(a.join().unwrap_err().is_killed());
    b.join().unwrap();
    assert_eq!(log.items(), ["b"]);
    assert!(list.is_empty());
}

#[test]
fn values_are_handed_to_waiters_in_order() {
    let list: Rc<WaitList<u32>> = Rc::new(WaitList::with_payloads());
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let list = list.clone();
            sprout::spawn(move || {
                let parked = list.park(None, None);
                assert!(parked.result.is_ok() && parked.woken);
                parked.payload.unwrap()
            })
        })
        .collect();
    settle();
    for v in [10, 20, 30] {
        assert!(list.notify_one_with(v).is_ok());
    }
    assert_eq!(
        list.notify_one_with(40),
        Err(40),
        "nobody waits: the value comes back"
    );
    let got: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [10, 20, 30]);
}

#[test]
fn take_one_takes_the_payload_a_waiter_parked_with() {
    let list: Rc<WaitList<&'static str>> = Rc::new(WaitList::with_payloads());
    let l = list.clone();
    let putter = sprout::spawn(move || {
        let parked = l.park(Some("item"), None);
        (parked.woken, parked.payload)
    });
    settle();
    assert_eq!(list.take_one(), Some("item"));
    assert_eq!(list.take_one(), None);
    assert_eq!(putter.join().unwrap(), (true, None));
}

#[test]
fn a_timed_out_waiter_keeps_its_payload() {
    let list: WaitList<String> = WaitList::with_payloads();
    let parked = list.park(Some("mine".to_string()), Some(Instant::now()));
    assert_eq!(parked.result, Err(sprout::Interrupt::TimedOut));
    assert!(!parked.woken);
    assert_eq!(parked.payload.as_deref(), Some("mine"));
    assert!(list.is_empty());
}

#[test]
fn wait_times_out_and_leaves_the_list() {
    let list = WaitList::new();
    let start = Instant::now();
    assert_eq!(
        list.wait(Some(Instant::now() + Duration::from_millis(20))),
        Err(WaitError::TimedOut)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(list.is_empty());
    assert!(!list.notify_one());
}

#[test]
fn a_timeout_scope_unwinds_through_wait() {
    let list = WaitList::new();
    let r = sprout::with_timeout(Duration::from_millis(10), || list.wait(None));
    assert!(r.is_err());
    assert!(list.is_empty(), "the entry is removed as the scope unwinds");
}

#[test]
fn root_waiting_on_nothing_gets_loop_exit() {
    let list = WaitList::new();
    assert_eq!(list.wait(None), Err(WaitError::LoopExit));
    assert!(list.is_empty());
}
