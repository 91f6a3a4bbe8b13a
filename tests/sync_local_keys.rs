//! Greenlet-locals release what they hold (issue 11, item 3; gevent#981): values of a dropped
//! `Local` key are freed, and access costs the same however many keys were ever made.

#[path = "support/sync.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sprout::local::Local;
use support::{settle, DropCounter};

/// Counts live heap bytes, so the tests can see what stays allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

thread_local! {
    static DROPS: Rc<Cell<usize>> = Rc::new(Cell::new(0));
}

fn tracked() -> Option<DropCounter> {
    Some(DropCounter(DROPS.with(Rc::clone)))
}

fn kib() -> Vec<u8> {
    vec![1; 1024]
}

#[test]
fn dropping_a_key_frees_its_values_in_every_greenlet_at_once() {
    let drops = DROPS.with(Rc::clone);
    let key: Rc<Local<Option<DropCounter>>> = Rc::new(Local::new(tracked));
    // Five greenlets make a value and stay parked; the root makes one too.
    let gate = sprout::sync::Event::new();
    let hs: Vec<_> = (0..5)
        .map(|_| {
            let (key, gate) = (key.clone(), gate.clone());
            sprout::spawn(move || {
                key.with(|v| assert!(v.is_some()));
                drop(key); // the value stays in this greenlet until the key is gone
                gate.wait().unwrap();
                // After the key is gone, the greenlet's other locals still work.
            })
        })
        .collect();
    key.with(|v| assert!(v.is_some()));
    settle();
    assert_eq!(drops.get(), 0);
    drop(Rc::try_unwrap(key).expect("only handle left"));
    assert_eq!(
        drops.get(),
        6,
        "every value dropped with its key, greenlets still alive"
    );
    gate.set();
    assert!(sprout::joinall(&hs, Some(Duration::from_secs(10))));
    assert_eq!(drops.get(), 6, "nothing dropped twice");
}

#[test]
fn fifty_thousand_short_lived_keys_keep_memory_flat() {
    let g = sprout::spawn(|| {
        // Warm up the tables' own storage first.
        for _ in 0..100 {
            let key: Local<Vec<u8>> = Local::new(kib);
            key.with(|v| assert_eq!(v.len(), 1024));
        }
        let before = LIVE.load(Ordering::Relaxed);
        for i in 0..50_000u32 {
            let key: Local<Vec<u8>> = Local::new(kib);
            key.with_mut(|v| v[0] = i as u8);
        }
        LIVE.load(Ordering::Relaxed) - before
    });
    let grown = g.join().unwrap();
    // Kept, the 50,000 values alone would be over 50 MB.
    assert!(
        grown < 1 << 20,
        "{grown} bytes still allocated after the keys were dropped"
    );
}

/// Time of 10,000 accesses to a fresh key (its value made before the clock starts).
fn time_10k_accesses() -> Duration {
    let key: Local<u64> = Local::new(|| 0);
    key.with(|v| assert_eq!(*v, 0));
    let t = Instant::now();
    for _ in 0..10_000 {
        key.with_mut(|v| *v += 1);
    }
    let elapsed = t.elapsed();
    assert_eq!(key.get(), 10_000);
    elapsed
}

#[test]
fn access_cost_does_not_grow_with_the_keys_ever_made() {
    let g = sprout::spawn(|| {
        let before = (0..3).map(|_| time_10k_accesses()).min().unwrap();
        for _ in 0..50_000 {
            let key: Local<u64> = Local::new(|| 1);
            key.with(|v| assert_eq!(*v, 1));
        }
        let after = (0..3).map(|_| time_10k_accesses()).min().unwrap();
        (before, after)
    });
    let (before, after) = g.join().unwrap();
    // With every dropped key still scanned, `after` was more than 10 times `before`.
    assert!(
        after < before * 4 + Duration::from_millis(20),
        "10,000 accesses took {before:?} before and {after:?} after 50,000 keys"
    );
}

#[test]
fn a_key_dropped_on_another_thread_frees_this_threads_values_on_next_use() {
    let key: Arc<Local<Vec<u8>>> = Arc::new(Local::new(kib));
    let (to_main, from_worker) = std::sync::mpsc::channel();
    let (to_worker, from_main) = std::sync::mpsc::channel::<()>();
    let worker = {
        let key = key.clone();
        std::thread::spawn(move || {
            let g = sprout::spawn(move || {
                key.with(|v| assert_eq!(v.len(), 1024));
                drop(key);
                to_main.send(()).unwrap();
                from_main.recv().unwrap(); // blocks the thread: the key drops meanwhile
                let before = LIVE.load(Ordering::Relaxed);
                // Any Local use purges keys dropped elsewhere.
                static OTHER: Local<u8> = Local::new(|| 0);
                OTHER.set(1);
                before - LIVE.load(Ordering::Relaxed)
            });
            g.join().unwrap()
        })
    };
    from_worker.recv().unwrap();
    key.with(|v| assert_eq!(v.len(), 1024));
    drop(Arc::try_unwrap(key).expect("the worker dropped its handle"));
    to_worker.send(()).unwrap();
    let freed = worker.join().unwrap();
    assert!(
        freed >= 1024,
        "the worker's value was freed ({freed} bytes)"
    );
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// The numbers of the issue: RSS and the time of 10,000 accesses, before and after 50,000
/// short-lived keys used in one greenlet. Run with
/// `cargo test --release --test sync_local_keys -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; prints numbers"]
fn measure_rss_and_access_time() {
    let g = sprout::spawn(|| {
        let rss0 = rss_kib();
        let t0 = time_10k_accesses();
        for i in 0..50_000u64 {
            let key: Local<u64> = Local::new(|| 0);
            key.set(i);
        }
        let rss1 = rss_kib();
        let t1 = time_10k_accesses();
        println!(
            "RSS {:.1} -> {:.1} MB; 10,000 accesses {:?} -> {:?}",
            rss0 as f64 / 1024.0,
            rss1 as f64 / 1024.0,
            t0,
            t1
        );
    });
    g.join().unwrap();
}
