//! spawn, join, links, joinall, wait_any/iwait, and the switch counter.

use std::time::{Duration, Instant};

use sprout::{spawn, JoinError};

mod support;
use support::Log;

#[test]
fn spawn_does_not_run_inline_and_runs_fifo() {
    let log = Log::default();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let l = log.clone();
            spawn(move || l.push(format!("g{i}")))
        })
        .collect();
    log.push("spawned");
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.take(), vec!["spawned", "g0", "g1", "g2", "g3", "g4"]);
}

#[test]
fn join_returns_the_value_and_ids_are_sequential() {
    let a = spawn(|| 1u8);
    let b = spawn(|| "two");
    assert_eq!(b.id(), a.id() + 1);
    assert!(!a.is_started());
    assert_eq!(a.join().unwrap(), 1);
    assert!(b.is_finished(), "b ran in the same pass as a");
    assert_eq!(b.join().unwrap(), "two");
}

#[test]
fn names_and_current() {
    let h = sprout::Builder::new()
        .name("worker-7")
        .spawn(|| (sprout::current_name(), sprout::current_id()))
        .unwrap();
    let id = h.id();
    assert_eq!(h.name(), Some("worker-7"));
    let (name, cur) = h.join().unwrap();
    assert_eq!(name.as_deref(), Some("worker-7"));
    assert_eq!(cur, id);
    assert_eq!(sprout::current_id(), 0, "root code is greenlet 0");
}

#[test]
fn greenlets_spawn_and_join_greenlets() {
    let outer = spawn(|| {
        let inner: Vec<_> = (0..10u32).map(|i| spawn(move || i * i)).collect();
        inner.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    });
    assert_eq!(outer.join().unwrap(), 285);
}

#[test]
fn join_timeout_leaves_the_greenlet_running() {
    let mut h = spawn(|| {
        sprout::sleep(Duration::from_millis(100));
        5
    });
    assert!(matches!(
        h.join_timeout(Duration::from_millis(5)),
        Err(JoinError::TimedOut)
    ));
    assert!(!h.is_finished());
    assert_eq!(h.join_timeout(Duration::from_secs(10)).unwrap(), 5);
}

#[test]
fn links_run_when_the_greenlet_finishes() {
    let log = Log::default();
    let h = spawn(|| sprout::sleep(Duration::from_millis(5)));
    let l = log.clone();
    h.link(move |_| l.push("linked"));
    assert!(log.take().is_empty());
    h.join().unwrap();
    assert_eq!(log.take(), vec!["linked"]);
}

#[test]
fn joinall_with_and_without_timeout() {
    let hs: Vec<_> = (1..=3u64)
        .map(|i| spawn(move || sprout::sleep(Duration::from_millis(10 * i))))
        .collect();
    assert!(sprout::joinall(&hs, Some(Duration::from_secs(10))));
    assert!(hs.iter().all(|h| h.is_finished()));
    let slow = [spawn(|| sprout::sleep(Duration::from_secs(30)))];
    assert!(!sprout::joinall(&slow, Some(Duration::from_millis(10))));
    sprout::killall(&slow);
    assert!(slow[0].is_finished());
}

#[test]
fn wait_any_and_iwait_report_completion_order() {
    let hs: Vec<_> = [300u64, 100, 200]
        .into_iter()
        .map(|ms| spawn(move || sprout::sleep(Duration::from_millis(ms))))
        .collect();
    assert_eq!(sprout::wait_any(&hs, None), Some(1));
    let order: Vec<usize> = sprout::iwait(&hs, Some(Duration::from_secs(10))).collect();
    assert_eq!(order, vec![1, 2, 0]);
    let never = [spawn(|| sprout::sleep(Duration::from_secs(30)))];
    assert_eq!(
        sprout::wait_any(&never, Some(Duration::from_millis(5))),
        None
    );
    sprout::killall(&never);
}

#[test]
fn the_switch_counter_shows_whether_an_operation_yielded() {
    let before = sprout::switch_count();
    let h = spawn(|| 1);
    assert_eq!(sprout::switch_count(), before, "spawn does not switch");
    h.join().unwrap();
    let after_join = sprout::switch_count();
    assert!(
        after_join > before,
        "join of an unfinished greenlet switched"
    );
    let done = spawn(|| 2);
    sprout::yield_now();
    let mid = sprout::switch_count();
    assert_eq!(done.join().unwrap(), 2);
    assert_eq!(
        sprout::switch_count(),
        mid,
        "joining a finished greenlet does not switch"
    );
}

#[test]
fn spawn_later_starts_after_the_delay() {
    let t0 = Instant::now();
    let h = sprout::spawn_later(Duration::from_millis(50), move || t0.elapsed());
    let started_after = h.join().unwrap();
    assert!(started_after >= Duration::from_millis(50));
}

#[test]
fn yield_now_interleaves_greenlets() {
    let log = Log::default();
    let hs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let l = log.clone();
            spawn(move || {
                for i in 0..3 {
                    l.push(format!("{name}{i}"));
                    sprout::yield_now();
                }
            })
        })
        .collect();
    sprout::joinall(&hs, None);
    assert_eq!(log.take(), vec!["a0", "b0", "a1", "b1", "a2", "b2"]);
}
