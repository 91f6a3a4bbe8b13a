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
    assert!(ticks.get() > before + 5, "the hub ran during the timed wait");
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
