//! A completed hand-off is reported as completed (issue 11, item 1): when the other party did
//! its half before the parked greenlet resumed, the blocking call returns success, and a kill or
//! an expired `Timeout` scope that arrived meanwhile is raised at the greenlet's next blocking
//! call. The rule lives in the waiter protocol (`sprout::waiter`).
//!
//! Every case makes the race deterministic the same way: the other party runs past the
//! parked greenlet's deadline without yielding (busy work), so the deadline and the hand-off
//! land in the same hub pass.

#[path = "support/sync.rs"]
mod support;

use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::sync::{
    thread_channel, AsyncResult, BoundedSemaphore, Channel, Event, Mutex, Queue, RLock, Semaphore,
    ThreadAsyncResult, ThreadEvent,
};
use sprout::{spawn, with_timeout, Elapsed};
use support::{settle, Log};

const DEADLINE: Duration = Duration::from_millis(10);

/// Works without yielding for `d` (a CPU-bound section).
fn busy(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Runs without yielding until the parked greenlets' `DEADLINE` has surely passed.
fn past_deadline() {
    busy(DEADLINE * 2);
}

#[test]
fn the_issue_case_putter_reports_ok_for_an_item_the_getter_took() {
    // bounded(1) full queue; a putter in with_timeout(10 ms, put(2)); a getter that sleeps
    // 5 ms, works 20 ms without yielding, then gets twice.
    let q = Queue::bounded(1);
    q.put(1).unwrap();
    let putter = {
        let q = q.clone();
        spawn(move || with_timeout(DEADLINE, || q.put(2).map_err(|e| e.error)))
    };
    let start = Instant::now();
    let getter = {
        let q = q.clone();
        spawn(move || {
            sprout::sleep(Duration::from_millis(5));
            let woke = start.elapsed();
            busy(Duration::from_millis(20));
            (woke, q.get(), q.get_timeout(Duration::from_millis(50)))
        })
    };
    let (woke, first, second) = getter.join().unwrap();
    let put = putter.join().unwrap();
    assert_eq!(first, Ok(1));
    if woke < DEADLINE {
        // The getter took 2 from the parked putter before the putter's deadline was seen.
        assert_eq!(second, Ok(2));
        assert_eq!(
            put,
            Ok(Ok(())),
            "the item was delivered, so the put reports Ok"
        );
    } else if second.is_err() {
        // A loaded machine woke the getter after the deadline: then the put truly timed out
        // and 2 was never delivered.
        assert_eq!(put, Err(Elapsed));
    } else {
        // Woken late, but the putter itself started late (its deadline counts from when it
        // ran): 2 was delivered, so the put must say so. Either way the results agree.
        assert_eq!(second, Ok(2));
        assert_eq!(put, Ok(Ok(())));
    }
}

#[test]
fn queue_put_in_an_expired_scope_reports_ok_when_the_item_was_taken() {
    let q = Queue::bounded(1);
    q.put(1).unwrap();
    let putter = {
        let q = q.clone();
        spawn(move || with_timeout(DEADLINE, || q.put(2).map_err(|e| e.error)))
    };
    settle(); // the putter parks
    past_deadline();
    assert_eq!(q.get(), Ok(1)); // moves the parked putter's 2 in
    assert_eq!(q.get(), Ok(2));
    assert_eq!(putter.join().unwrap(), Ok(Ok(())));
}

#[test]
fn channel_put_and_get_report_the_hand_off() {
    let ch: Channel<u32> = Channel::new();
    let putter = {
        let ch = ch.clone();
        spawn(move || with_timeout(DEADLINE, || ch.put(7).map_err(|e| e.error)))
    };
    settle();
    past_deadline();
    assert_eq!(ch.get(), Ok(7));
    assert_eq!(putter.join().unwrap(), Ok(Ok(())));

    let getter = {
        let ch = ch.clone();
        spawn(move || with_timeout(DEADLINE, || ch.get()))
    };
    settle();
    past_deadline();
    assert!(ch.try_put(8).is_ok(), "handed to the parked getter");
    assert_eq!(getter.join().unwrap(), Ok(Ok(8)));
}

#[test]
fn queue_getter_in_an_expired_scope_keeps_the_item_it_was_handed() {
    let q: Queue<u32> = Queue::new();
    let getter = {
        let q = q.clone();
        spawn(move || with_timeout(DEADLINE, || q.get()))
    };
    settle();
    past_deadline();
    q.put(5).unwrap();
    assert!(q.is_empty(), "handed straight to the parked getter");
    assert_eq!(getter.join().unwrap(), Ok(Ok(5)));
    assert!(q.is_empty(), "not duplicated");
}

#[test]
fn a_kill_after_the_hand_off_is_raised_at_the_next_blocking_call() {
    let q = Queue::bounded(1);
    q.put(1).unwrap();
    let log = Log::new();
    let putter = {
        let (q, log) = (q.clone(), log.clone());
        spawn(move || {
            let r = q.put(2).map_err(|e| e.error);
            log.push(format!("put {r:?}"));
            sprout::sleep(Duration::from_secs(5)); // the kill is raised here
            log.push("after sleep".to_string());
        })
    };
    settle();
    assert_eq!(q.get(), Ok(1)); // takes the putter's 2 in: the hand-off completed
    putter.kill_nowait(); // arrives before the putter resumed
    let t = Instant::now();
    assert!(putter.join().unwrap_err().is_killed());
    assert!(t.elapsed() < Duration::from_secs(4), "killed at the sleep");
    assert_eq!(log.items(), ["put Ok(())"]);
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn an_expired_scope_is_raised_at_the_next_blocking_call_inside_it() {
    let q = Queue::bounded(1);
    q.put(1).unwrap();
    let log = Log::new();
    let putter = {
        let (q, log) = (q.clone(), log.clone());
        spawn(move || {
            with_timeout(DEADLINE, || {
                let r = q.put(2).map_err(|e| e.error);
                log.push(format!("put {r:?}"));
                sprout::sleep(Duration::from_secs(5)); // the scope is raised here
                log.push("after sleep".to_string());
            })
        })
    };
    settle();
    past_deadline();
    assert_eq!(q.get(), Ok(1));
    let t = Instant::now();
    assert_eq!(putter.join().unwrap(), Err(Elapsed));
    assert!(t.elapsed() < Duration::from_secs(4));
    assert_eq!(log.items(), ["put Ok(())"]);
}

#[test]
fn semaphore_and_bounded_semaphore_grant_a_handed_permit() {
    let sem = Semaphore::new(1);
    let held = sem.acquire().unwrap();
    let waiter = {
        let sem = sem.clone();
        spawn(move || with_timeout(DEADLINE, || sem.acquire().map(drop)))
    };
    settle();
    past_deadline();
    drop(held); // hands the permit to the parked waiter
    assert_eq!(waiter.join().unwrap(), Ok(Ok(())));
    assert_eq!(sem.available_permits(), 1, "no permit lost or made up");

    let bsem = BoundedSemaphore::new(1);
    let held = bsem.acquire().unwrap();
    let waiter = {
        let bsem = bsem.clone();
        spawn(move || with_timeout(DEADLINE, || bsem.acquire().map(drop)))
    };
    settle();
    past_deadline();
    drop(held);
    assert_eq!(waiter.join().unwrap(), Ok(Ok(())));
    assert_eq!(bsem.available_permits(), 1);
}

#[test]
fn mutex_and_rlock_grant_a_handed_lock() {
    let m = Rc::new(Mutex::new(0u32));
    let guard = m.lock().unwrap();
    let waiter = {
        let m = m.clone();
        spawn(move || {
            with_timeout(DEADLINE, || {
                m.lock().map(|mut g| {
                    *g += 1;
                })
            })
        })
    };
    settle();
    past_deadline();
    drop(guard);
    assert_eq!(waiter.join().unwrap(), Ok(Ok(())));
    assert_eq!(*m.lock().unwrap(), 1, "the waiter held the lock");

    let l = RLock::new();
    let guard = l.acquire().unwrap();
    let waiter = {
        let l = l.clone();
        spawn(move || with_timeout(DEADLINE, || l.acquire().map(drop)))
    };
    settle();
    past_deadline();
    drop(guard);
    assert_eq!(waiter.join().unwrap(), Ok(Ok(())));
    assert!(!l.is_locked());
}

#[test]
fn event_and_async_result_report_what_was_delivered() {
    let ev = Event::new();
    let waiter = {
        let ev = ev.clone();
        spawn(move || with_timeout(DEADLINE, || ev.wait()))
    };
    settle();
    past_deadline();
    ev.set();
    assert_eq!(waiter.join().unwrap(), Ok(Ok(())));

    let ar: AsyncResult<u32, ()> = AsyncResult::new();
    let waiter = {
        let ar = ar.clone();
        spawn(move || with_timeout(DEADLINE, || ar.get().map_err(|_| ())))
    };
    settle();
    past_deadline();
    ar.set(9).unwrap();
    assert_eq!(waiter.join().unwrap(), Ok(Ok(9)));
}

#[test]
fn join_reports_a_greenlet_that_finished_before_the_deadline_was_seen() {
    let target = spawn(|| {
        sprout::yield_now(); // lets the joiner park first
        past_deadline();
        3u32
    });
    let joiner = spawn(move || with_timeout(DEADLINE, || target.join().map_err(|_| ())));
    settle();
    assert_eq!(joiner.join().unwrap(), Ok(Ok(3)));
}

#[test]
fn cross_thread_event_and_channel_report_what_was_delivered() {
    let ev = ThreadEvent::new();
    let waiter = {
        let ev = ev.clone();
        spawn(move || with_timeout(DEADLINE, || ev.wait()))
    };
    settle();
    let setter = {
        let ev = ev.clone();
        std::thread::spawn(move || ev.set())
    };
    setter.join().unwrap(); // the set reached the waiter's entry; the hub has not run since
    past_deadline();
    assert_eq!(waiter.join().unwrap(), Ok(Ok(())));

    let ar: ThreadAsyncResult<u32, ()> = ThreadAsyncResult::new();
    let waiter = {
        let ar = ar.clone();
        spawn(move || with_timeout(DEADLINE, || ar.get().map_err(|_| ())))
    };
    settle();
    let setter = {
        let ar = ar.clone();
        std::thread::spawn(move || ar.set(6).unwrap())
    };
    setter.join().unwrap();
    past_deadline();
    assert_eq!(waiter.join().unwrap(), Ok(Ok(6)));

    // The thread channel only tells a woken receiver that an item is there (nothing is handed
    // to it), so a receiver whose scope expired first may leave without it; then the item is
    // still in the channel. Either way nothing is lost or received twice.
    let (tx, rx) = thread_channel::<u32>();
    let getter = {
        let rx = rx.clone();
        spawn(move || with_timeout(DEADLINE, || rx.recv().map_err(|_| ())))
    };
    settle();
    std::thread::spawn(move || tx.send(4).unwrap())
        .join()
        .unwrap();
    past_deadline();
    match getter.join().unwrap() {
        Ok(Ok(v)) => {
            assert_eq!(v, 4);
            assert!(rx.try_recv().is_err(), "not received twice");
        }
        other => {
            assert_eq!(other, Err(Elapsed));
            assert_eq!(rx.try_recv(), Ok(4), "not lost");
        }
    }
}
