//! `Channel`: a rendezvous. A put parks until a getter takes the item; a get parks until a
//! putter comes; both sides in FIFO order; close and timeouts as for queues.

#[path = "support/sync.rs"]
mod support;

use std::time::Duration;

use sprout::sync::{Channel, QueueError};
use support::{settle, Log, SOON};

#[test]
fn put_parks_until_a_getter_takes_the_item() {
    let ch = Channel::new();
    let log = Log::new();
    let putter = {
        let (ch, log) = (ch.clone(), log.clone());
        sprout::spawn(move || {
            ch.put("x").unwrap();
            log.push("put returned");
        })
    };
    settle();
    assert!(log.items().is_empty(), "no getter yet");
    assert_eq!(ch.putters_waiting(), 1);
    assert_eq!(ch.len(), 0, "a channel holds nothing");
    assert_eq!(ch.get(), Ok("x"));
    putter.join().unwrap();
    assert_eq!(log.items(), ["put returned"]);
}

#[test]
fn a_put_to_a_parked_getter_returns_without_parking() {
    let ch = Channel::new();
    let getter = {
        let ch = ch.clone();
        sprout::spawn(move || ch.get())
    };
    settle();
    let before = sprout::switch_count();
    ch.put(7).unwrap();
    assert_eq!(sprout::switch_count(), before);
    assert_eq!(getter.join().unwrap(), Ok(7));
}

#[test]
fn putters_and_getters_pair_up_in_order() {
    let ch = Channel::new();
    let putters: Vec<_> = (0..4)
        .map(|i| {
            let ch = ch.clone();
            sprout::spawn(move || ch.put(i).unwrap())
        })
        .collect();
    settle();
    let got: Vec<i32> = (0..4).map(|_| ch.get().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    assert!(sprout::joinall(&putters, Some(SOON)));
}

#[test]
fn ping_pong_between_two_greenlets() {
    let (ping, pong) = (Channel::new(), Channel::new());
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        sprout::spawn(move || {
            let mut n = 0;
            while let Ok(v) = ping.get() {
                pong.put(v + 1).unwrap();
                n += 1;
            }
            n
        })
    };
    let mut v = 0;
    for _ in 0..1000 {
        ping.put(v).unwrap();
        v = pong.get().unwrap();
    }
    ping.close();
    assert_eq!(v, 1000);
    assert_eq!(echo.join().unwrap(), 1000);
}

#[test]
fn timeouts_close_and_try_variants() {
    let ch: Channel<u8> = Channel::new();
    assert_eq!(ch.try_get(), Err(QueueError::Empty));
    assert_eq!(ch.try_put(1).unwrap_err().error, QueueError::Full);
    let e = ch.put_timeout(2, Duration::from_millis(5)).unwrap_err();
    assert_eq!((e.error, e.item), (QueueError::TimedOut, 2));
    assert_eq!(
        ch.get_timeout(Duration::from_millis(5)),
        Err(QueueError::TimedOut)
    );
    let putter = {
        let ch = ch.clone();
        sprout::spawn(move || ch.put(3).map_err(|e| e.into_inner()))
    };
    settle();
    ch.close();
    assert_eq!(putter.join().unwrap(), Err(3), "close hands the item back");
    assert_eq!(ch.get(), Err(QueueError::Closed));
}

#[test]
fn root_put_with_no_getter_gets_loop_exit() {
    let ch = Channel::new();
    assert_eq!(ch.put(1).unwrap_err().error, QueueError::LoopExit);
    assert_eq!(ch.get(), Err::<i32, _>(QueueError::LoopExit));
}
