//! `Pool`/`Group`: ordered lazy `imap` with bounded buffering, `apply` (inline from a
//! member: no size-1 deadlock), `apply_async`, `map_async` (issue 18 item 5).

#[path = "support/sync.rs"]
mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use sprout::sync::{Group, Pool};
use support::{Gauge, SOON};

#[test]
fn imap_yields_in_item_order_although_items_finish_out_of_order() {
    let pool = Pool::new(4);
    let finished = Rc::new(RefCell::new(Vec::new()));
    let f = finished.clone();
    let out: Vec<u64> = pool
        .imap([40u64, 1, 20, 5, 30, 2], move |ms| {
            sprout::sleep(Duration::from_millis(ms));
            f.borrow_mut().push(ms);
            ms
        })
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, [40, 1, 20, 5, 30, 2]);
    assert_ne!(*finished.borrow(), out, "they did finish out of order");
}

#[test]
fn imap_is_lazy_and_buffers_at_most_its_window() {
    let group = Group::new();
    let started = Rc::new(Cell::new(0u32));
    let gauge = Gauge::new();
    let (s, g) = (started.clone(), gauge.clone());
    // Item 0 is slow; the rest finish at once and must wait in the buffer.
    let mut it = group.imap_window(3, 0..100u32, move |n| {
        s.set(s.get() + 1);
        let _in = g.enter();
        if n == 0 {
            sprout::sleep(Duration::from_millis(20));
        }
        n
    });
    sprout::sleep(Duration::from_millis(5));
    assert_eq!(started.get(), 3, "only the window's worth started");
    assert!(it.buffered() <= 2);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    // Consuming one lets one more start.
    sprout::sleep(Duration::from_millis(2));
    assert_eq!(started.get(), 4);
    let rest: Vec<u32> = it.by_ref().map(Result::unwrap).collect();
    assert_eq!(rest, (1..100).collect::<Vec<_>>());
    assert!(gauge.peak() <= 3);
}

#[test]
fn imap_reports_a_panicking_item_in_its_place() {
    let pool = Pool::new(2);
    let out: Vec<Result<u32, bool>> = pool
        .imap(0..4u32, |n| {
            if n == 2 {
                panic!("two");
            }
            n
        })
        .map(|r| r.map_err(|e| e.is_panic()))
        .collect();
    assert_eq!(out, [Ok(0), Ok(1), Err(true), Ok(3)]);
}

#[test]
fn apply_from_inside_a_pool_of_size_one_does_not_deadlock() {
    let pool = Pool::new(1);
    let p = pool.clone();
    let h = pool
        .spawn(move || {
            // The only slot is ours: waiting for another would wait for ever.
            let inner = p.apply(sprout::current_id).unwrap();
            (inner, sprout::current_id())
        })
        .unwrap();
    let (inner, outer) = h.join().unwrap();
    assert_eq!(inner, outer, "ran inline in the calling member");
    // From outside it runs in a member.
    let me = sprout::current_id();
    let other = pool.apply(sprout::current_id).unwrap();
    assert_ne!(other, me);
    assert!(pool.apply(|| -> u8 { panic!("x") }).unwrap_err().is_panic());
}

#[test]
fn apply_async_calls_back_and_never_parks_the_caller() {
    let pool = Pool::new(1);
    let blocker = pool
        .spawn(|| sprout::sleep(Duration::from_millis(10)))
        .unwrap();
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let before = sprout::switch_count();
    let h = pool.apply_async(|| 6 * 7, move |v| g.set(*v));
    assert_eq!(sprout::switch_count(), before, "returned without parking");
    assert_eq!(h.join().unwrap().unwrap(), 42);
    assert_eq!(got.get(), 42);
    blocker.join().unwrap();
}

#[test]
fn map_async_runs_the_map_in_the_background() {
    let pool = Pool::new(2);
    let h = pool.map_async(1..=5u32, |n| {
        sprout::sleep(Duration::from_millis(1));
        n * n
    });
    assert!(!h.is_finished());
    let sum = Rc::new(Cell::new(0));
    let s = sum.clone();
    h.link_value(move |r| s.set(r.as_ref().unwrap().iter().sum()));
    assert_eq!(h.join().unwrap().unwrap(), [1, 4, 9, 16, 25]);
    assert_eq!(sum.get(), 55);
    pool.join_timeout(SOON).unwrap();
}

#[test]
fn pool_spawn_result_joins_with_question_mark() {
    fn run(pool: &Pool) -> Result<u32, sprout::JoinError> {
        pool.spawn(|| 5)?.join()
    }
    assert_eq!(run(&Pool::new(1)).unwrap(), 5);
    assert_eq!(Group::new().spawn(|| 6).join().unwrap(), 6);
}
