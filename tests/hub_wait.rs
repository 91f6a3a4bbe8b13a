//! Waiting on anything (issue 18 item 4): `sprout::wait`, `wait_any` and `iwait` over a mix
//! of greenlets, events, results, semaphores, queues and sockets; a wait consumes nothing.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use sprout::net::{Readable, TcpListener, TcpStream, Writable};
use sprout::sync::{AsyncResult, Event, Queue, Semaphore};
use sprout::Waitable;

fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

#[test]
fn wait_over_a_greenlet_an_event_and_a_socket_in_the_order_they_fire() {
    let (mut client, mut server) = connected_pair();
    let event = Event::new();
    let g = sprout::spawn(|| sprout::sleep(Duration::from_millis(30)));
    let e = event.clone();
    let setter = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(15));
        e.set();
    });
    let writer = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(1));
        client.write_all(b"ping").unwrap();
        client
    });
    let readable = Readable(server.as_raw_fd());
    let objects: [&dyn Waitable; 3] = [&g, &event, &readable];
    assert!(objects.iter().all(|o| !o.is_ready()));

    assert_eq!(
        sprout::wait_any(&objects, Some(Duration::from_secs(10))),
        Some(2)
    );
    let order: Vec<usize> = sprout::iwait(&objects, Some(Duration::from_secs(10))).collect();
    assert_eq!(
        order,
        [2, 1, 0],
        "socket first, then the event, then the greenlet"
    );
    // Waiting consumed nothing: the data is still there to read.
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    setter.join().unwrap();
    drop(writer.join().unwrap());
}

#[test]
fn wait_with_count_and_timeout() {
    let event = Event::new();
    let slow = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
    let quick = sprout::spawn(|| ());
    let objects: [&dyn Waitable; 3] = [&slow, &event, &quick];
    // count 1: the one already finished.
    assert_eq!(sprout::wait(&objects, None, Some(1)).unwrap(), [2]);
    // All of them, with a timeout: what is ready then.
    let ready = sprout::wait(&objects, Some(Duration::from_millis(5)), None).unwrap();
    assert_eq!(ready, [2]);
    event.set();
    let ready = sprout::wait(&objects, Some(Duration::from_millis(5)), None).unwrap();
    assert_eq!(ready, [1, 2]);
    slow.kill();
    assert_eq!(sprout::wait(&objects, None, None).unwrap(), [0, 1, 2]);
}

#[test]
fn a_queue_wait_leaves_the_item_and_a_semaphore_wait_leaves_the_permit() {
    let q: Queue<u32> = Queue::new();
    let sem = Semaphore::new(1);
    let held = sem.acquire().unwrap();
    let result: AsyncResult<u32, String> = AsyncResult::new();
    let (q2, r2) = (q.clone(), result.clone());
    sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(2));
        q2.put(9).unwrap();
        sprout::sleep(Duration::from_millis(2));
        r2.set(3).unwrap();
    });
    let objects: [&dyn Waitable; 3] = [&q, &sem, &result];
    assert_eq!(
        sprout::wait_any(&objects, Some(Duration::from_secs(10))),
        Some(0)
    );
    assert_eq!(
        q.try_get().unwrap(),
        9,
        "the item handed to the wait went back"
    );
    assert_eq!(
        sprout::wait_any(&objects, Some(Duration::from_secs(10))),
        Some(2)
    );
    drop(held);
    assert_eq!(
        sprout::wait(&objects[1..2], Some(Duration::from_secs(10)), None).unwrap(),
        [0]
    );
    assert_eq!(sem.available_permits(), 1, "a wait takes no permit");
}

#[test]
fn a_semaphore_released_while_waited_on_keeps_its_permit() {
    let sem = Semaphore::new(1);
    let held = sem.acquire().unwrap();
    let releaser = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(2));
        drop(held);
    });
    assert_eq!(
        sprout::wait(&[&sem], Some(Duration::from_secs(10)), None).unwrap(),
        [0]
    );
    releaser.join().unwrap();
    sprout::yield_now();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn writable_socket_and_loop_exit() {
    let (client, _server) = connected_pair();
    let w = Writable(client.as_raw_fd());
    assert!(w.is_ready());
    assert_eq!(sprout::wait(&[w], None, None).unwrap(), [0]);
    // Nothing could ever set this event: LoopExit instead of a hang.
    let never = Event::new();
    assert_eq!(
        sprout::wait(&[&never], None, None),
        Err(sprout::WaitError::LoopExit)
    );
}

#[test]
fn wait_any_still_takes_plain_handles() {
    let hs: Vec<_> = (0..3u64)
        .map(|i| sprout::spawn(move || sprout::sleep(Duration::from_millis(300 - 100 * i))))
        .collect();
    assert_eq!(
        sprout::wait_any(&hs, Some(Duration::from_secs(10))),
        Some(2)
    );
    assert_eq!(
        sprout::iwait(&hs, Some(Duration::from_secs(10))).collect::<Vec<_>>(),
        [2, 1, 0]
    );
}
