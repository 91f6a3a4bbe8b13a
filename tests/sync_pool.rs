//! `Pool` and `Group`: the size limit holds, spawn parks when full and slots go in FIFO
//! order, membership ends however a greenlet ends, join/kill/map/imap_unordered, LoopExit.

#[path = "support/sync.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use sprout::sync::{Group, Pool, SpawnError};
use sprout::{JoinError, WaitError};
use support::{settle, Gauge, Log, SOON};

#[test]
fn a_pool_never_runs_more_than_its_size() {
    let pool = Pool::new(4);
    let gauge = Gauge::new();
    for i in 0..40u64 {
        let gauge = gauge.clone();
        pool.spawn(move || {
            let _in = gauge.enter();
            sprout::sleep(Duration::from_millis(i % 4));
        })
        .unwrap();
        assert!(pool.len() <= 4);
    }
    pool.join_timeout(SOON).unwrap();
    assert_eq!(gauge.peak(), 4);
    assert!(pool.is_empty());
    assert_eq!(pool.free_count(), 4);
}

#[test]
fn spawn_parks_while_full_and_slots_go_in_order() {
    let pool = Pool::new(1);
    let log = Log::new();
    let blocker = pool
        .spawn(|| sprout::sleep(Duration::from_millis(20)))
        .unwrap();
    assert!(pool.is_full());
    let spawners: Vec<_> = (0..3)
        .map(|i| {
            let (pool, log) = (pool.clone(), log.clone());
            sprout::spawn(move || {
                let log2 = log.clone();
                pool.spawn(move || log2.push(i)).unwrap();
            })
        })
        .collect();
    settle();
    assert!(
        log.items().is_empty(),
        "spawners park while the pool is full"
    );
    blocker.join().unwrap();
    assert!(sprout::joinall(&spawners, Some(SOON)));
    pool.join_timeout(SOON).unwrap();
    assert_eq!(log.items(), [0, 1, 2]);
}

#[test]
fn a_panicking_or_killed_member_frees_its_slot() {
    let pool = Pool::new(2);
    let p = pool.spawn(|| -> () { panic!("member failed") }).unwrap();
    let k = pool
        .spawn(|| sprout::sleep(Duration::from_secs(60)))
        .unwrap();
    assert!(p.join().unwrap_err().is_panic());
    k.kill();
    assert_eq!(pool.free_count(), 2);
    assert!(pool.is_empty());
}

#[test]
fn wait_available_and_spawn_timeout() {
    let pool = Pool::new(1);
    let h = pool
        .spawn(|| sprout::sleep(Duration::from_millis(10)))
        .unwrap();
    assert_eq!(
        pool.spawn_timeout(Duration::from_millis(1), || ()).err(),
        Some(SpawnError::TimedOut)
    );
    pool.wait_available_timeout(SOON).unwrap();
    assert!(h.is_finished());
    assert_eq!(pool.free_count(), 1);
}

#[test]
fn root_spawning_into_a_pool_nobody_frees_gets_loop_exit() {
    let pool = Pool::new(1);
    let stuck = sprout::sync::Event::new();
    let s = stuck.clone();
    let _h = pool.spawn(move || s.wait()).unwrap();
    assert_eq!(pool.spawn(|| ()).err(), Some(SpawnError::LoopExit));
    assert_eq!(pool.wait_available().err(), Some(WaitError::LoopExit));
    assert_eq!(pool.join().err(), Some(WaitError::LoopExit));
    pool.kill();
    assert!(pool.is_empty());
}

#[test]
fn map_returns_results_in_item_order() {
    let pool = Pool::new(3);
    let out = pool
        .map(0..10u64, |n| {
            sprout::sleep(Duration::from_millis(10 - n)); // finish in reverse
            n * 10
        })
        .unwrap();
    assert_eq!(out, (0..10).map(|n| n * 10).collect::<Vec<_>>());
}

#[test]
fn map_reports_the_first_failure() {
    let group = Group::new();
    let r = group.map(0..5, |n| {
        if n == 3 {
            panic!("three");
        }
        n
    });
    match r {
        Err(JoinError::Panicked(p)) => assert_eq!(p.downcast_ref::<&str>(), Some(&"three")),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn imap_unordered_yields_in_completion_order_within_the_limit() {
    let pool = Pool::new(2);
    let gauge = Gauge::new();
    let g = gauge.clone();
    let it = pool.imap_unordered([100u64, 1, 15, 2], move |ms| {
        let _in = g.enter();
        sprout::sleep(Duration::from_millis(ms));
        ms
    });
    let got: Vec<u64> = it.map(Result::unwrap).collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], 1, "the 1 ms job finishes first");
    assert_eq!(
        got.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2, 15, 100])
    );
    assert!(gauge.peak() <= 2);
}

#[test]
fn imap_unordered_reports_panics_and_kills_as_items() {
    let group = Group::new();
    let g = group.clone();
    let results: Vec<_> = group
        .imap_unordered(0..4, move |n| {
            match n {
                1 => panic!("one"),
                2 => g.kill(), // a member killing the group: the others die, then itself
                _ => sprout::sleep(Duration::from_millis(50)),
            }
            n
        })
        .collect();
    assert_eq!(results.len(), 4);
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(JoinError::Panicked(_))))
            .count(),
        1
    );
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(JoinError::Killed)))
            .count(),
        3
    );
}

#[test]
fn group_tracks_added_greenlets_and_kill_kills_all() {
    let group = Group::new();
    let outside = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
    group.add(&outside);
    group.add(&outside);
    let inside = group.spawn(|| sprout::sleep(Duration::from_secs(60)));
    assert_eq!(group.len(), 2);
    assert!(group.contains(&outside) && group.contains(&inside));
    assert_eq!(
        group.join_timeout(Duration::from_millis(5)),
        Err(WaitError::TimedOut)
    );
    group.kill();
    assert!(group.is_empty());
    assert!(outside.join().unwrap_err().is_killed());
    assert!(inside.join().unwrap_err().is_killed());
}

#[test]
fn group_join_waits_for_members_and_discard_untracks() {
    let group = Group::new();
    let log = Log::new();
    for i in 0..5u64 {
        let log = log.clone();
        group.spawn(move || {
            sprout::sleep(Duration::from_millis(i));
            log.push(i);
        });
    }
    let loner = group.spawn(|| sprout::sleep(Duration::from_secs(60)));
    assert!(group.discard(&loner));
    assert!(!group.discard(&loner));
    group.join_timeout(SOON).unwrap();
    assert_eq!(log.len(), 5);
    assert!(!loner.is_finished());
    loner.kill();
}

#[test]
fn root_joining_a_group_whose_member_never_ends_gets_loop_exit() {
    let group = Group::new();
    let never = sprout::sync::Event::new();
    let n = never.clone();
    group.spawn(move || n.wait());
    assert_eq!(group.join(), Err(WaitError::LoopExit));
    never.set();
    assert_eq!(group.join_timeout(SOON), Ok(()));
}
