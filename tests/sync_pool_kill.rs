//! `Pool::kill` empties the pool (issue 11 item 2; gevent#85 and gevent#1215), and a pool
//! spawn that got its slot as an interrupt arrived reports success (issue 11 item 1).

#[path = "support/sync.rs"]
mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use sprout::sync::{Group, Pool, SpawnError};
use sprout::JoinError;
use support::SOON;

/// gevent#85: Pool(5), 19 workers spawned in a loop, worker 0 calls `pool.kill()`: none of
/// the others runs after the kill, and the spawn waiting for a slot fails.
#[test]
fn gevent_85_kill_from_a_worker_stops_everything() {
    let pool = Pool::new(5);
    let killed_at = Rc::new(Cell::new(false));
    let ran_after_kill = Rc::new(RefCell::new(Vec::new()));
    let finished = Rc::new(RefCell::new(Vec::new()));
    let mut spawned = 0;
    let mut failure = None;
    for i in 0..19u32 {
        let (p, killed_at, after, finished) = (
            pool.clone(),
            killed_at.clone(),
            ran_after_kill.clone(),
            finished.clone(),
        );
        let r = pool.spawn(move || {
            if killed_at.get() {
                after.borrow_mut().push(i);
            }
            sprout::sleep(Duration::from_millis(5));
            if i == 0 {
                killed_at.set(true);
                p.kill();
                unreachable!("a member killing its pool dies last");
            }
            sprout::sleep(Duration::from_millis(20));
            if killed_at.get() {
                after.borrow_mut().push(i);
            }
            finished.borrow_mut().push(i);
        });
        match r {
            Ok(_) => spawned += 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        failure,
        Some(SpawnError::Killed),
        "the waiting spawn failed clearly"
    );
    assert_eq!(spawned, 5);
    assert!(failure.unwrap().to_string().contains("killed"));
    pool.join_timeout(SOON).unwrap();
    assert!(pool.is_empty());
    assert_eq!(pool.free_count(), 5);
    assert!(
        ran_after_kill.borrow().is_empty(),
        "{:?}",
        ran_after_kill.borrow()
    );
    assert!(
        finished.borrow().is_empty(),
        "members were killed, none finished"
    );
    // The pool is usable again afterwards.
    assert_eq!(pool.spawn(|| 3).unwrap().join().unwrap(), 3);
}

/// gevent#1215: `kill()` during `map` over 50 items: no further item starts.
#[test]
fn gevent_1215_kill_during_map_starts_no_further_item() {
    let pool = Pool::new(5);
    let started = Rc::new(Cell::new(0u32));
    let killed = Rc::new(Cell::new(false));
    let started_after = Rc::new(Cell::new(0u32));
    let mapper = {
        let (pool, started, killed, after) = (
            pool.clone(),
            started.clone(),
            killed.clone(),
            started_after.clone(),
        );
        sprout::spawn(move || {
            pool.map(0..50u32, move |n| {
                started.set(started.get() + 1);
                if killed.get() {
                    after.set(after.get() + 1);
                }
                sprout::sleep(Duration::from_millis(20 + u64::from(n % 3)));
                n
            })
        })
    };
    // Kill once the first batch of 5 has finished and later items have started (polling, so
    // a loaded machine only makes this slower, never wrong).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while started.get() <= 5 && std::time::Instant::now() < deadline {
        sprout::sleep(Duration::from_millis(1));
    }
    let before = started.get();
    assert!(before > 5 && before < 50, "the map is under way: {before}");
    killed.set(true);
    pool.kill();
    assert!(pool.is_empty());
    assert!(matches!(mapper.join().unwrap(), Err(JoinError::Killed)));
    sprout::sleep(Duration::from_millis(20));
    assert_eq!(started_after.get(), 0);
    assert_eq!(started.get(), before);
}

#[test]
fn kill_stops_imap_and_imap_unordered_feeding() {
    for ordered in [true, false] {
        let pool = Pool::new(2);
        let started = Rc::new(Cell::new(0u32));
        let s = started.clone();
        let f = move |n: u32| {
            s.set(s.get() + 1);
            sprout::sleep(Duration::from_millis(3));
            n
        };
        let mut it: Box<dyn Iterator<Item = Result<u32, JoinError>>> = if ordered {
            Box::new(pool.imap(0..40u32, f))
        } else {
            Box::new(pool.imap_unordered(0..40u32, f))
        };
        assert!(it.next().unwrap().is_ok());
        pool.kill();
        let at_kill = started.get();
        let rest: Vec<_> = it.collect();
        assert!(rest.len() < 40);
        sprout::sleep(Duration::from_millis(10));
        assert_eq!(
            started.get(),
            at_kill,
            "ordered={ordered}: no item started after kill"
        );
    }
}

#[test]
fn a_group_kill_also_stops_a_map() {
    let group = Group::new();
    let g = group.clone();
    let started = Rc::new(Cell::new(0u32));
    let s = started.clone();
    let r = group.map(0..10u32, move |n| {
        s.set(s.get() + 1);
        if n == 0 {
            g.kill();
        }
        sprout::sleep(Duration::from_millis(1));
        n
    });
    assert!(matches!(r, Err(JoinError::Killed)));
    sprout::sleep(Duration::from_millis(5));
    assert_eq!(
        started.get(),
        1,
        "the group's members never ran after the kill"
    );
}

/// Issue 11 item 1 for `Pool::spawn`: the slot was handed over before the spawner resumed,
/// and its `Timeout` scope expired meanwhile: the spawn reports success (and the greenlet
/// runs); the expiry is raised at the next blocking call inside the scope.
#[test]
fn a_pool_spawn_that_got_its_slot_as_a_timeout_fired_reports_success() {
    let pool = Pool::new(1);
    let holder = pool
        .spawn(|| {
            sprout::sleep(Duration::from_millis(5));
            // Past the spawner's deadline without yielding; the slot is freed when this ends.
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_millis(30) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    let reported = Rc::new(Cell::new(None));
    let ran = Rc::new(Cell::new(false));
    let after = Rc::new(Cell::new(false));
    let spawner = {
        let (pool, reported, ran, after) =
            (pool.clone(), reported.clone(), ran.clone(), after.clone());
        sprout::spawn(move || {
            let _ = sprout::with_timeout(Duration::from_millis(10), || {
                let r = pool.spawn(move || ran.set(true));
                reported.set(Some(r.is_ok()));
                sprout::sleep(Duration::from_millis(1)); // the expiry is raised here
                after.set(true);
            });
        })
    };
    // The holder's busy loop ends after the deadline; its finish hands the slot over, then
    // the timer phase of the same pass delivers the expired scope, before the spawner runs.
    spawner.join().unwrap();
    holder.join().unwrap();
    pool.join_timeout(SOON).unwrap();
    assert_eq!(
        reported.get(),
        Some(true),
        "the spawn that got its slot reports success"
    );
    assert!(ran.get(), "and the greenlet was spawned");
    assert!(
        !after.get(),
        "the expiry was raised at the next blocking call"
    );
}
