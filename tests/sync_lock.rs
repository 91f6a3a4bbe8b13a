//! `Mutex` and `RLock`: mutual exclusion across switches, FIFO, guards released by kills,
//! reentrancy per greenlet, timeouts, LoopExit.

#[path = "support/sync.rs"]
mod support;

use std::rc::Rc;
use std::time::Duration;

use sprout::sync::{Mutex, RLock};
use sprout::WaitError;
use support::{settle, Log, SOON};

#[test]
fn a_guard_held_across_a_sleep_excludes_others() {
    let m = Rc::new(Mutex::new(0u32));
    let hs: Vec<_> = (0..10)
        .map(|_| {
            let m = m.clone();
            sprout::spawn(move || {
                let mut g = m.lock().unwrap();
                let v = *g;
                sprout::sleep(Duration::from_millis(1)); // others run, and park on the lock
                *g = v + 1;
            })
        })
        .collect();
    assert!(sprout::joinall(&hs, Some(SOON)));
    assert_eq!(*m.lock().unwrap(), 10, "no lost update");
}

#[test]
fn waiters_lock_in_arrival_order() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let g = m.lock().unwrap();
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let m = m.clone();
            sprout::spawn(move || m.lock().unwrap().push(i))
        })
        .collect();
    settle();
    drop(g);
    assert!(sprout::joinall(&hs, Some(SOON)));
    assert_eq!(*m.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn killing_the_holder_releases_the_lock() {
    let m = Rc::new(Mutex::new(()));
    let m2 = m.clone();
    let holder = sprout::spawn(move || {
        let _g = m2.lock().unwrap();
        sprout::sleep(Duration::from_secs(60));
    });
    settle();
    assert!(m.is_locked());
    holder.kill();
    assert!(m.try_lock().is_some());
}

#[test]
fn lock_timeout_and_try_lock() {
    let m = Mutex::new(1);
    let g = m.try_lock().unwrap();
    assert!(m.try_lock().is_none());
    assert_eq!(
        m.lock_timeout(Duration::from_millis(10)).err().map(|_| ()),
        Some(())
    );
    drop(g);
    assert_eq!(*m.lock_timeout(Duration::from_millis(10)).unwrap(), 1);
    assert_eq!(m.into_inner(), 1);
}

#[test]
fn root_locking_twice_gets_loop_exit() {
    let m = Mutex::new(());
    let _g = m.lock().unwrap();
    assert!(matches!(m.lock(), Err(WaitError::LoopExit)));
}

#[test]
fn rlock_is_reentrant_for_its_owner_only() {
    let lock = RLock::new();
    let g1 = lock.acquire().unwrap();
    let g2 = lock.acquire().unwrap();
    assert_eq!(lock.depth(), 2);
    assert!(lock.is_owned());
    let l = lock.clone();
    let other = sprout::spawn(move || {
        assert!(l.try_acquire().is_none(), "another greenlet may not enter");
        let _g = l.acquire_timeout(SOON).unwrap();
        assert!(l.is_owned());
        sprout::current_id()
    });
    settle();
    drop(g1);
    settle();
    assert!(!other.is_finished(), "one guard still held");
    drop(g2);
    let id = other.join().unwrap();
    assert_ne!(id, 0);
    assert!(!lock.is_locked());
}

#[test]
fn rlock_waiters_in_order_and_timeout() {
    let lock = RLock::new();
    let g = lock.acquire().unwrap();
    let log = Log::new();
    let hs: Vec<_> = (0..3)
        .map(|i| {
            let (lock, log) = (lock.clone(), log.clone());
            sprout::spawn(move || {
                let _a = lock.acquire().unwrap();
                let _b = lock.acquire().unwrap(); // reentry while others wait
                log.push(i);
            })
        })
        .collect();
    let l = lock.clone();
    let impatient = sprout::spawn(move || l.acquire_timeout(Duration::from_millis(5)).err());
    assert_eq!(impatient.join().unwrap(), Some(WaitError::TimedOut));
    drop(g);
    assert!(sprout::joinall(&hs, Some(SOON)));
    assert_eq!(log.items(), [0, 1, 2]);
}

#[test]
fn root_acquiring_an_rlock_held_by_a_stuck_greenlet_gets_loop_exit() {
    let lock = RLock::new();
    let l = lock.clone();
    let never = sprout::sync::Event::new();
    let n = never.clone();
    let holder = sprout::spawn(move || {
        let _g = l.acquire().unwrap();
        let _ = n.wait();
    });
    settle();
    assert!(matches!(lock.acquire(), Err(WaitError::LoopExit)));
    holder.kill();
    assert!(lock.try_acquire().is_some(), "the kill released it");
}
