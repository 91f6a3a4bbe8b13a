//! Monkey patching, futex waits: `std::sync` locks, condition variables, channels and
//! `thread::park` park only the calling greenlet after `patch_all`, and are woken from
//! greenlets of the same hub, other hubs and plain threads.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A connected pair of std sockets (managed: made after `patch_all`).
fn std_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A greenlet that counts ticks every millisecond until `stop` is set.
fn ticker(stop: Rc<Cell<bool>>) -> (Rc<Cell<u32>>, sprout::JoinHandle<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let h = sprout::spawn(move || {
        while !stop.get() {
            sprout::sleep(Duration::from_millis(1));
            t.set(t.get() + 1);
        }
    });
    (ticks, h)
}

#[test]
fn a_std_mutex_held_across_a_socket_read_parks_a_hundred_greenlets() {
    sprout::monkey::patch_all();
    let counter = Arc::new(Mutex::new(0u64));
    let (mut client, mut server) = std_pair();
    let stop = Rc::new(Cell::new(false));
    let (ticks, tick_h) = ticker(stop.clone());

    let holder = {
        let counter = counter.clone();
        sprout::spawn(move || {
            let mut g = counter.lock().unwrap();
            let mut buf = [0u8; 1];
            client.read_exact(&mut buf).unwrap(); // parks holding the lock
            *g += u64::from(buf[0]);
        })
    };
    sprout::yield_now(); // the holder takes the lock and parks in read
    let lockers: Vec<_> = (0..100)
        .map(|_| {
            let counter = counter.clone();
            sprout::spawn(move || {
                *counter.lock().unwrap() += 1;
            })
        })
        .collect();
    let before = ticks.get();
    sprout::sleep(Duration::from_millis(100));
    assert!(
        ticks.get() > before + 5,
        "the ticker kept ticking while 100 greenlets waited for the lock ({} -> {})",
        before,
        ticks.get()
    );
    assert!(counter.try_lock().is_err(), "the holder still holds it");
    server.write_all(&[7]).unwrap();
    holder.join().unwrap();
    for h in lockers {
        h.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 107);
    eprintln!(
        "std Mutex held across a socket read, 100 greenlets locking it: {} ticks of a 1 ms ticker",
        ticks.get()
    );
    stop.set(true);
    tick_h.join().unwrap();
}

#[test]
fn a_condvar_between_greenlets_of_one_hub() {
    sprout::monkey::patch_all();
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let pair = pair.clone();
            sprout::spawn(move || {
                let (m, cv) = &*pair;
                let g = cv.wait_while(m.lock().unwrap(), |v| *v == 0).unwrap();
                *g
            })
        })
        .collect();
    let stop = Rc::new(Cell::new(false));
    let (ticks, tick_h) = ticker(stop.clone());
    sprout::sleep(Duration::from_millis(50));
    assert!(ticks.get() > 3, "the hub ran while 10 greenlets waited");
    {
        let (m, cv) = &*pair;
        *m.lock().unwrap() = 5;
        cv.notify_all();
    }
    for h in waiters {
        assert_eq!(h.join().unwrap(), 5);
    }
    // wait_timeout times out (an absolute CLOCK_MONOTONIC futex deadline) without blocking
    // the hub.
    let start = Instant::now();
    let before = ticks.get();
    let timed = sprout::spawn({
        let pair = pair.clone();
        move || {
            let (m, cv) = &*pair;
            let (_g, r) = cv
                .wait_timeout(m.lock().unwrap(), Duration::from_millis(100))
                .unwrap();
            r.timed_out()
        }
    });
    assert!(timed.join().unwrap());
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(
        ticks.get() > before + 5,
        "the hub ran during the timed wait"
    );
    stop.set(true);
    tick_h.join().unwrap();
}

#[test]
fn a_condvar_notified_from_a_plain_thread_wakes_a_greenlet() {
    sprout::monkey::patch_all();
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let stop = Rc::new(Cell::new(false));
    let (ticks, tick_h) = ticker(stop.clone());
    let waiter = {
        let pair = pair.clone();
        sprout::spawn(move || {
            let (m, cv) = &*pair;
            let _g = cv.wait_while(m.lock().unwrap(), |ready| !*ready).unwrap();
        })
    };
    let notifier = {
        let pair = pair.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let (m, cv) = &*pair;
            *m.lock().unwrap() = true;
            cv.notify_one();
        })
    };
    waiter.join().unwrap();
    assert!(ticks.get() > 5, "the hub ran while the greenlet waited");
    notifier.join().unwrap();
    stop.set(true);
    tick_h.join().unwrap();
}

#[test]
fn mpsc_from_a_plain_thread_wakes_a_greenlet() {
    sprout::monkey::patch_all();
    let (tx, rx) = mpsc::channel::<u32>();
    let stop = Rc::new(Cell::new(false));
    let (ticks, tick_h) = ticker(stop.clone());
    let receiver = sprout::spawn(move || rx.iter().sum::<u32>());
    let sender = std::thread::spawn(move || {
        for i in 1..=10 {
            std::thread::sleep(Duration::from_millis(10));
            tx.send(i).unwrap();
        }
    });
    assert_eq!(receiver.join().unwrap(), 55);
    assert!(ticks.get() > 10, "the hub ran while the greenlet received");
    sender.join().unwrap();
    stop.set(true);
    tick_h.join().unwrap();
}

#[test]
fn a_std_mutex_shared_by_greenlets_of_two_hubs_and_threads_counts_right() {
    sprout::monkey::patch_all();
    let counter = Arc::new(Mutex::new(0u64));
    let mut threads = Vec::new();
    for hub in 0..2 {
        let counter = counter.clone();
        threads.push(std::thread::spawn(move || {
            sprout::monkey::patch_all(); // this thread's hub
            let hs: Vec<_> = (0..50)
                .map(|i| {
                    let counter = counter.clone();
                    sprout::spawn(move || {
                        for _ in 0..200 {
                            let mut g = counter.lock().unwrap();
                            *g += 1;
                            if (i + hub) % 7 == 0 {
                                drop(g);
                                sprout::yield_now();
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }));
    }
    for _ in 0..2 {
        let counter = counter.clone();
        threads.push(std::thread::spawn(move || {
            for _ in 0..5000 {
                *counter.lock().unwrap() += 1;
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 2 * 50 * 200 + 2 * 5000);
}

#[test]
fn parking_lot_stays_correct_and_blocks_the_thread() {
    // parking_lot's per-thread parker lives in a thread-local shared by every greenlet of the
    // thread: its waits block the OS thread (see the monkey docs), and stay correct.
    sprout::monkey::patch_all();
    let lock = Arc::new(parking_lot::Mutex::new(0u64));
    let (held_tx, held_rx) = mpsc::channel();
    let releaser = std::thread::spawn({
        let lock = lock.clone();
        move || {
            let mut g = lock.lock();
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            *g += 1;
        }
    });
    held_rx.recv().unwrap();
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let lock = lock.clone();
            sprout::spawn(move || {
                for _ in 0..100 {
                    *lock.lock() += 1;
                    sprout::yield_now();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    releaser.join().unwrap();
    assert_eq!(*lock.lock(), 5001);
}

/// `syscall(SYS_futex, ...)` as a lock crate would make it.
fn futex(
    word: &std::sync::atomic::AtomicU32,
    op: i32,
    val: u32,
    ts: Option<&libc::timespec>,
    val3: u32,
) -> (i64, i32) {
    let ts = ts.map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a live futex word, a null or valid timespec.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            ts,
            std::ptr::null::<u32>(),
            val3,
        )
    };
    (
        r,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

#[test]
fn raw_futex_waits_time_out_check_the_value_and_honour_bitsets() {
    use std::sync::atomic::{AtomicU32, Ordering};
    sprout::monkey::patch_all();
    let stop = Rc::new(Cell::new(false));
    let (ticks, tick_h) = ticker(stop.clone());
    let word = Arc::new(AtomicU32::new(0));

    // A relative timeout (FUTEX_WAIT) parks the greenlet, then ETIMEDOUT.
    let start = Instant::now();
    let before = ticks.get();
    let w = word.clone();
    let h = sprout::spawn(move || {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 60_000_000,
        };
        futex(
            &w,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            0,
            Some(&ts),
            0,
        )
    });
    assert_eq!(h.join().unwrap(), (-1, libc::ETIMEDOUT));
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert!(ticks.get() > before + 10, "the hub ran during the wait");

    // The value differs: EAGAIN at once.
    assert_eq!(
        futex(
            &word,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            1,
            None,
            0
        ),
        (-1, libc::EAGAIN)
    );

    // An absolute CLOCK_REALTIME deadline (FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME).
    let start = Instant::now();
    let w = word.clone();
    let h = sprout::spawn(move || {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
        now.tv_nsec += 50_000_000;
        if now.tv_nsec >= 1_000_000_000 {
            now.tv_sec += 1;
            now.tv_nsec -= 1_000_000_000;
        }
        let op = libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME;
        futex(&w, op, 0, Some(&now), u32::MAX)
    });
    assert_eq!(h.join().unwrap(), (-1, libc::ETIMEDOUT));
    assert!(start.elapsed() >= Duration::from_millis(40));

    // Bitsets: a wake for bit 2 leaves a bit-1 waiter parked; a wake for bit 1 ends it.
    let w = word.clone();
    let h = sprout::spawn(move || {
        futex(
            &w,
            libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG,
            0,
            None,
            1,
        )
        .0
    });
    sprout::sleep(Duration::from_millis(10));
    let op_wake = libc::FUTEX_WAKE_BITSET | libc::FUTEX_PRIVATE_FLAG;
    assert_eq!(
        futex(&word, op_wake, 1, None, 2).0,
        0,
        "no waiter with bit 2"
    );
    sprout::sleep(Duration::from_millis(10));
    assert!(
        !h.is_finished(),
        "a wake for other bits does not end the wait"
    );
    let woken = std::thread::spawn({
        let w = word.clone();
        move || futex(&w, op_wake, 1, None, 1).0
    })
    .join()
    .unwrap();
    assert_eq!(woken, 1, "the plain thread's wake counts the greenlet");
    assert_eq!(h.join().unwrap(), 0);

    // FUTEX_REQUEUE (used by no std type, handled anyway) wakes the greenlet.
    let w = word.clone();
    let h =
        sprout::spawn(move || futex(&w, libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, 0, None, 0).0);
    sprout::sleep(Duration::from_millis(10));
    let other = AtomicU32::new(0);
    // SAFETY: two live futex words; requeue takes val2 in the timeout slot.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_REQUEUE | libc::FUTEX_PRIVATE_FLAG,
            1,
            1usize,
            other.as_ptr(),
            0,
        )
    };
    assert_eq!(h.join().unwrap(), 0);

    // A shared (non-private) futex changed by "another process" (a raw store and a raw
    // wake no hook sees) is noticed by the parked greenlet within its re-check period.
    let w = word.clone();
    let h = sprout::spawn(move || futex(&w, libc::FUTEX_WAIT, 0, None, 0).0);
    sprout::sleep(Duration::from_millis(10));
    word.store(1, Ordering::SeqCst);
    let start = Instant::now();
    assert_eq!(h.join().unwrap(), 0);
    assert!(start.elapsed() < Duration::from_millis(500));
    stop.set(true);
    tick_h.join().unwrap();
}
