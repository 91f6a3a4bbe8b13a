//! `thread_channel`: items between OS threads and greenlets of several hubs.

use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use sprout::spawn;
use sprout::sync::thread_channel;

#[test]
fn threads_send_to_a_greenlet_in_order_per_sender() {
    let (tx, rx) = thread_channel::<(u32, u32)>();
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    tx.send((p, i)).unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = spawn(move || {
        let mut last = [None::<u32>; 3];
        let mut n = 0;
        for (p, i) in &rx {
            if let Some(prev) = last[p as usize].replace(i) {
                assert!(prev < i, "per-sender order kept");
            }
            n += 1;
        }
        n
    });
    assert_eq!(consumer.join().unwrap(), 600);
    for p in producers {
        p.join().unwrap();
    }
}

#[test]
fn a_greenlet_sends_to_a_plain_thread() {
    let (tx, rx) = thread_channel();
    let thread = std::thread::spawn(move || rx.iter().sum::<u64>());
    spawn(move || {
        for i in 1..=100u64 {
            tx.send(i).unwrap();
            if i % 10 == 0 {
                sprout::sleep(Duration::from_millis(1));
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(thread.join().unwrap(), 5050);
}

#[test]
fn timeouts_disconnection_and_try_recv() {
    let (tx, rx) = thread_channel::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let start = Instant::now();
    let r = {
        let rx = rx.clone();
        spawn(move || rx.recv_timeout(Duration::from_millis(30)))
    };
    assert_eq!(r.join().unwrap(), Err(RecvTimeoutError::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(30));
    tx.send(1).unwrap();
    assert_eq!(rx.len(), 1);
    // A greenlet parked in recv wakes when the last sender goes away, after the items.
    let r = {
        let rx = rx.clone();
        spawn(move || (rx.recv(), rx.recv()))
    };
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        drop(tx);
    });
    let (first, second) = r.join().unwrap();
    assert_eq!(first, Ok(1));
    assert!(second.is_err(), "disconnected");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    t.join().unwrap();
    // Sending into a channel nobody can receive from hands the item back.
    let (tx, rx) = thread_channel::<u8>();
    drop(rx);
    assert_eq!(tx.send(3).unwrap_err().0, 3);
}

#[test]
fn ping_pong_between_two_hubs() {
    let (to_b, from_a) = thread_channel::<u32>();
    let (to_a, from_b) = thread_channel::<u32>();
    let ends = std::sync::Mutex::new((Some((to_b, from_b)), Some((to_a, from_a))));
    let results = sprout::run_threads(2, |i| {
        let (tx, rx) = {
            let mut e = ends.lock().unwrap();
            if i == 0 { e.0.take() } else { e.1.take() }.unwrap()
        };
        // Each hub also runs a ticker, to show the waits park only one greenlet.
        let ticker = spawn(|| {
            for _ in 0..5 {
                sprout::sleep(Duration::from_millis(1));
            }
        });
        let player = spawn(move || {
            let mut last = 0;
            if i == 0 {
                tx.send(0).unwrap();
            }
            while let Ok(v) = rx.recv_timeout(Duration::from_secs(20)) {
                last = v;
                if v >= 1000 {
                    break;
                }
                let _ = tx.send(v + 1);
                if v + 1 >= 1000 {
                    break;
                }
            }
            last
        });
        ticker.join().unwrap();
        player.join().unwrap()
    });
    // Hub 0 sends even numbers and receives odd ones, up to 999; hub 1 gets the final 1000.
    assert_eq!(results, vec![999, 1000]);
}

#[test]
fn a_killed_receiver_keeps_or_passes_on_its_item() {
    let (tx, rx) = thread_channel::<u8>();
    let first = {
        let rx = rx.clone();
        spawn(move || rx.recv())
    };
    let second = {
        let rx = rx.clone();
        spawn(move || rx.recv_timeout(Duration::from_secs(20)))
    };
    sprout::yield_now();
    assert_eq!(rx.len(), 0);
    // The send wakes `first` (the oldest), which is killed before it runs. If the wake took
    // effect first, the receive completed: `first` reports the item and the kill is raised
    // at its next blocking call (the waiter protocol's rule). If the kill took effect first,
    // `first` leaves without it and passes the wake-up on: `second` gets it at once.
    tx.send(5).unwrap();
    let start = Instant::now();
    first.kill();
    match first.join() {
        Ok(Ok(v)) => {
            assert_eq!(v, 5);
            tx.send(6).unwrap();
            assert_eq!(second.join().unwrap(), Ok(6), "nothing duplicated");
        }
        other => {
            assert!(other.unwrap_err().is_killed());
            assert_eq!(second.join().unwrap(), Ok(5));
        }
    }
    // Handed on at once, not found when `second`'s own timeout ran out.
    assert!(start.elapsed() < Duration::from_secs(10));
}
