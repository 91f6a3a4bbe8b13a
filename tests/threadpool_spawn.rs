//! `spawn_blocking`: jobs run on pool threads while the hub keeps serving other greenlets.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sprout::{spawn, spawn_blocking, JoinError};

/// Spawns a greenlet that sleeps 5 ms in a loop until `stop` is set; returns its tick count.
fn ticker(stop: Rc<Cell<bool>>) -> sprout::JoinHandle<u32> {
    spawn(move || {
        let mut ticks = 0;
        while !stop.get() {
            sprout::sleep(Duration::from_millis(5));
            ticks += 1;
        }
        ticks
    })
}

#[test]
fn hundred_blocking_sleeps_overlap_while_another_greenlet_ticks() {
    // Every job gets a thread: 100 sleeps of 200 ms would take 20 s one after another.
    sprout::threadpool::set_max_threads(100);
    let stop = Rc::new(Cell::new(false));
    let ticks = ticker(stop.clone());
    let start = Instant::now();
    let jobs: Vec<_> = (0..100u32)
        .map(|i| {
            spawn(move || {
                spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(200));
                    i
                })
            })
        })
        .collect();
    let sum: u32 = jobs.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    stop.set(true);
    let ticks = ticks.join().unwrap();
    assert_eq!(sum, 4950);
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    // 200 ms at least of 5 ms ticks: about 40 when the machine is quiet.
    assert!(ticks >= 10, "the hub served the ticker only {ticks} times");
    assert!(sprout::threadpool::threads() >= 2, "the pool grew");
}

#[test]
fn a_panic_in_a_job_reaches_the_caller() {
    let h = spawn(|| spawn_blocking(|| -> u8 { panic!("job failed") }));
    match h.join() {
        Err(JoinError::Panicked(p)) => {
            assert_eq!(sprout::greenlet::panic_message(&*p), "job failed")
        }
        other => panic!("expected the job's panic, got {other:?}"),
    }
    // From root code too, with the original payload.
    sprout::yield_now();
    let r = std::panic::catch_unwind(|| spawn_blocking(|| -> u8 { std::panic::panic_any(17u32) }));
    assert_eq!(*r.unwrap_err().downcast::<u32>().unwrap(), 17);
    // The pool still works.
    assert_eq!(spawn_blocking(|| 5), 5);
}

#[test]
fn a_pending_job_is_not_loop_exit() {
    // Root code joins a greenlet whose only wake source is a pool job: the hub must block in
    // epoll for the result, not report LoopExit.
    let h = spawn(|| {
        spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(100));
            "slow"
        })
    });
    assert_eq!(h.join().unwrap(), "slow");
    // Root code itself, on a thread whose hub exists, parks for the result the same way.
    let start = Instant::now();
    let v = spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(50));
        7
    });
    assert_eq!(v, 7);
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn kill_and_timeout_unwind_the_caller_while_the_job_finishes() {
    let finished = Arc::new(AtomicBool::new(false));
    let dropped = Rc::new(Cell::new(false));
    let h = {
        let (finished, dropped) = (finished.clone(), dropped.clone());
        spawn(move || {
            let _flag = DropFlag(dropped);
            spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(1000));
                finished.store(true, Ordering::SeqCst);
            })
        })
    };
    sprout::sleep(Duration::from_millis(20));
    let start = Instant::now();
    h.kill();
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "kill waited for the job"
    );
    assert!(dropped.get(), "the killed greenlet unwound");
    assert!(!finished.load(Ordering::SeqCst));

    let start = Instant::now();
    let r = sprout::with_timeout(Duration::from_millis(30), || {
        spawn_blocking(|| std::thread::sleep(Duration::from_millis(1000)))
    });
    assert!(r.is_err());
    assert!(start.elapsed() < Duration::from_millis(800));

    // The killed greenlet's job still runs to its end on the pool.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !finished.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the job never finished");
        sprout::sleep(Duration::from_millis(10));
    }
}

#[test]
fn where_the_job_runs() {
    sprout::yield_now();
    // On a pool thread, and a nested call runs inline on that same thread.
    let (outer, inner) = spawn_blocking(|| {
        let me = std::thread::current().name().map(str::to_owned);
        (
            me,
            spawn_blocking(|| std::thread::current().name().map(str::to_owned)),
        )
    });
    assert_eq!(outer.as_deref(), Some("sprout-pool"));
    assert_eq!(inner, outer);
    // A thread without a hub runs it inline.
    let t = std::thread::Builder::new()
        .name("plain".into())
        .spawn(|| spawn_blocking(|| std::thread::current().name().map(str::to_owned)))
        .unwrap();
    assert_eq!(t.join().unwrap().as_deref(), Some("plain"));
}

#[test]
fn many_small_jobs_from_many_greenlets() {
    let handles: Vec<_> = (0..50u64)
        .map(|g| {
            spawn(move || {
                (0..20u64)
                    .map(|j| spawn_blocking(move || g * 100 + j))
                    .sum::<u64>()
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let expected: u64 = (0..50u64)
        .map(|g| (0..20u64).map(|j| g * 100 + j).sum::<u64>())
        .sum();
    assert_eq!(total, expected);
}

/// Sets a flag when dropped: proves a destructor ran.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}
