//! Queues: FIFO/LIFO/priority order, bounded put parking, hand-off to parked getters, close
//! semantics (drain first, putters get their items back), timeouts, LoopExit, JoinableQueue.

#[path = "support/sync.rs"]
mod support;

use std::time::Duration;

use sprout::sync::{JoinableQueue, LifoQueue, PriorityQueue, Queue, QueueError};
use sprout::WaitError;
use support::{settle, Log, SOON};

#[test]
fn unbounded_queue_is_fifo_and_put_never_parks() {
    let q = Queue::new();
    let before = sprout::switch_count();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    assert_eq!(sprout::switch_count(), before);
    assert_eq!(q.len(), 100);
    let got: Vec<i32> = (0..100).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(q.try_get(), Err(QueueError::Empty));
}

#[test]
fn bounded_put_parks_until_a_get_makes_room() {
    let q = Queue::bounded(2);
    let log = Log::new();
    let producer = {
        let (q, log) = (q.clone(), log.clone());
        sprout::spawn(move || {
            for i in 0..4 {
                q.put(i).unwrap();
                log.push(i);
            }
        })
    };
    settle();
    assert_eq!(log.items(), [0, 1], "the third put parks");
    assert!(q.is_full());
    assert_eq!(q.putters_waiting(), 1);
    assert_eq!(q.get(), Ok(0));
    assert_eq!(q.len(), 2, "the parked putter's item moved in at once");
    settle();
    assert_eq!(log.items(), [0, 1, 2]);
    let rest: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
    assert_eq!(rest, [1, 2, 3]);
    producer.join().unwrap();
}

#[test]
fn parked_getters_are_served_in_order_by_direct_hand_off() {
    let q = Queue::new();
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            sprout::spawn(move || q.get().unwrap())
        })
        .collect();
    settle();
    assert_eq!(q.getters_waiting(), 3);
    for v in ["a", "b", "c"] {
        q.put(v).unwrap();
    }
    assert_eq!(q.len(), 0, "items went straight to the getters");
    let got: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, ["a", "b", "c"]);
}

#[test]
fn an_item_handed_to_a_killed_getter_is_delivered_once() {
    // The hand-off completed before the kill arrived: the getter's `get` returns the item and
    // the kill is raised at its next blocking call (the waiter protocol's rule). Nothing is
    // lost, and nothing is delivered twice.
    let q = Queue::new();
    let got = Log::new();
    let spawn_getter = || {
        let (q, got) = (q.clone(), got.clone());
        sprout::spawn(move || {
            got.push(q.get().unwrap());
            sprout::sleep(Duration::from_secs(5)); // the kill lands here
        })
    };
    let a = spawn_getter();
    let b = spawn_getter();
    settle();
    q.put(1).unwrap(); // handed to a
    a.kill_nowait(); // arrives before a runs
    assert!(a.join().unwrap_err().is_killed());
    assert_eq!(got.items(), [1], "a received it");
    q.put(2).unwrap(); // b was still waiting
    b.kill_nowait();
    assert!(b.join().unwrap_err().is_killed());
    assert_eq!(got.items(), [1, 2]);

    // A getter killed before anything was handed to it takes nothing.
    let c = {
        let q = q.clone();
        sprout::spawn(move || q.get())
    };
    settle();
    c.kill_nowait();
    assert!(c.join().unwrap_err().is_killed());
    q.put(3).unwrap();
    assert_eq!(q.try_get(), Ok(3));
}

#[test]
fn close_lets_getters_drain_then_fails_them() {
    let q = Queue::new();
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.close();
    assert!(q.is_closed());
    assert_eq!(q.put(3).unwrap_err().into_inner(), 3);
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get(), Ok(2));
    assert_eq!(q.get(), Err(QueueError::Closed));
    assert_eq!(q.try_get(), Err(QueueError::Closed));
}

#[test]
fn close_wakes_parked_getters_and_putters() {
    let empty: Queue<u32> = Queue::new();
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let q = empty.clone();
            sprout::spawn(move || q.get())
        })
        .collect();
    let full = Queue::bounded(1);
    full.put(0).unwrap();
    let putters: Vec<_> = (1..=2)
        .map(|i| {
            let q = full.clone();
            sprout::spawn(move || q.put(i).map_err(|e| (e.error, e.item)))
        })
        .collect();
    settle();
    empty.close();
    full.close();
    for g in getters {
        assert_eq!(g.join().unwrap(), Err(QueueError::Closed));
    }
    let back: Vec<_> = putters.into_iter().map(|p| p.join().unwrap()).collect();
    assert_eq!(
        back,
        [Err((QueueError::Closed, 1)), Err((QueueError::Closed, 2))]
    );
    assert_eq!(full.get(), Ok(0), "what was in stays in");
}

#[test]
fn timeouts_hand_items_back() {
    let q = Queue::bounded(1);
    assert_eq!(
        q.get_timeout(Duration::from_millis(5)),
        Err::<u8, _>(QueueError::TimedOut)
    );
    q.put(1).unwrap();
    let e = q.put_timeout(2, Duration::from_millis(5)).unwrap_err();
    assert_eq!((e.error, e.item), (QueueError::TimedOut, 2));
    assert_eq!(q.putters_waiting(), 0);
    let e = q.try_put(3).unwrap_err();
    assert_eq!((e.error, e.item), (QueueError::Full, 3));
    assert_eq!(q.len(), 1);
}

#[test]
fn root_blocking_on_a_queue_nobody_serves_gets_loop_exit() {
    let q: Queue<u8> = Queue::bounded(1);
    assert_eq!(q.get(), Err(QueueError::LoopExit));
    q.put(1).unwrap();
    assert_eq!(q.put(2).unwrap_err().error, QueueError::LoopExit);
    assert_eq!(q.len(), 1);
}

#[test]
fn a_timeout_scope_unwinds_a_parked_get() {
    let q: Queue<u8> = Queue::new();
    let r = sprout::with_timeout(Duration::from_millis(5), || q.get());
    assert!(r.is_err());
    assert_eq!(q.getters_waiting(), 0);
    q.put(1).unwrap();
    assert_eq!(q.len(), 1, "nobody phantom took it");
}

#[test]
fn lifo_and_priority_orders() {
    let lifo = LifoQueue::new();
    let prio = PriorityQueue::new();
    for i in [3, 1, 4, 1, 5] {
        lifo.put(i).unwrap();
        prio.put(i).unwrap();
    }
    let l: Vec<i32> = (0..5).map(|_| lifo.get().unwrap()).collect();
    let p: Vec<i32> = (0..5).map(|_| prio.get().unwrap()).collect();
    assert_eq!(l, [5, 1, 4, 1, 3]);
    assert_eq!(p, [1, 1, 3, 4, 5]);
}

#[test]
fn bounded_priority_queue_moves_parked_putters_in_by_priority() {
    let q = PriorityQueue::bounded(2);
    q.put(5).unwrap();
    q.put(9).unwrap();
    let p = {
        let q = q.clone();
        sprout::spawn(move || q.put(1))
    };
    settle();
    assert_eq!(q.get(), Ok(5));
    assert_eq!(q.get(), Ok(1), "the parked item came in by its priority");
    assert_eq!(q.get(), Ok(9));
    p.join().unwrap().unwrap();
}

#[test]
fn iter_ends_when_closed_and_drained() {
    let q = Queue::new();
    let p = {
        let q = q.clone();
        sprout::spawn(move || {
            for i in 0..5 {
                q.put(i).unwrap();
                sprout::yield_now();
            }
            q.close();
        })
    };
    let got: Vec<i32> = q.iter().collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    p.join().unwrap();
}

#[test]
fn joinable_queue_join_waits_for_task_done() {
    let q = JoinableQueue::new();
    let done = Log::new();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            sprout::spawn(move || {
                for job in &q {
                    sprout::sleep(Duration::from_millis(1));
                    done.push(job);
                    q.task_done();
                }
            })
        })
        .collect();
    for job in 0..12 {
        q.put(job).unwrap();
    }
    assert_eq!(q.unfinished(), 12);
    q.join_timeout(SOON).unwrap();
    assert_eq!(done.len(), 12);
    assert_eq!(q.unfinished(), 0);
    q.close();
    assert!(sprout::joinall(&workers, Some(SOON)));
}

#[test]
fn joinable_queue_join_times_out_and_loop_exits() {
    let q = JoinableQueue::new();
    q.put(1).unwrap();
    assert_eq!(
        q.join_timeout(Duration::from_millis(5)),
        Err(WaitError::TimedOut)
    );
    assert_eq!(q.join(), Err(WaitError::LoopExit));
    q.get().unwrap();
    q.task_done();
    assert_eq!(q.join(), Ok(()));
}

#[test]
#[should_panic(expected = "task_done")]
fn too_many_task_done_panics() {
    let q: JoinableQueue<u8> = JoinableQueue::new();
    q.task_done();
}

#[test]
#[should_panic(expected = "LoopExit")]
fn iterating_a_queue_nobody_feeds_or_closes_fails_loudly() {
    let q: Queue<u8> = Queue::new();
    q.put(1).unwrap();
    for _ in &q {}
}
