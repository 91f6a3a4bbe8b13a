//! A timeout too large for an `Instant` deadline (`Duration::MAX`) means "no deadline", as in
//! std and tokio: every public call that takes a timeout accepts it without panicking, returns
//! at once on an object that is ready, waits for one that becomes ready, and `sleep` sleeps
//! forever.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use sprout::net::http::{Request, Response, Server};
use sprout::net::{DatagramServer, StreamServer, TcpListener, TcpStream, UdpSocket};
use sprout::sync::{
    thread_channel, AsyncResult, BoundedSemaphore, Event, Group, JoinableQueue, Mutex, Pool, Queue,
    RLock, Semaphore, ThreadAsyncResult, ThreadEvent,
};
use sprout::{spawn, with_timeout, Elapsed, JoinError, Timeout, WaitError};

const MAX: Duration = Duration::MAX;
const SHORT: Duration = Duration::from_millis(10);

#[test]
fn sync_primitives_that_are_ready_return_at_once() {
    let ev = Event::new();
    ev.set();
    assert_eq!(ev.wait_timeout(MAX), Ok(()));

    let q = Queue::new();
    q.put(1).unwrap();
    assert_eq!(q.get_timeout(MAX).ok(), Some(1));
    let bq = Queue::bounded(1);
    assert!(bq.put_timeout(2, MAX).is_ok());
    assert_eq!(bq.get_timeout(MAX).ok(), Some(2));

    let jq = JoinableQueue::new();
    jq.put(3).unwrap();
    assert_eq!(jq.get().ok(), Some(3));
    jq.task_done();
    assert_eq!(jq.join_timeout(MAX), Ok(()));

    let sem = Semaphore::new(1);
    assert!(sem.acquire_timeout(MAX).is_ok());
    let bsem = BoundedSemaphore::new(1);
    assert!(bsem.acquire_timeout(MAX).is_ok());
    let m = Mutex::new(5);
    assert_eq!(*m.lock_timeout(MAX).unwrap(), 5);
    let rl = RLock::new();
    let g1 = rl.acquire_timeout(MAX).unwrap();
    let g2 = rl.acquire_timeout(MAX).unwrap();
    drop((g2, g1));

    let ar: AsyncResult<u8, ()> = AsyncResult::new();
    ar.set(7).unwrap();
    assert_eq!(ar.wait_timeout(MAX), Ok(()));
    assert_eq!(ar.get_timeout(MAX).ok(), Some(7));

    let pool = Pool::new(1);
    assert_eq!(pool.wait_available_timeout(MAX), Ok(()));
    let h = pool.spawn_timeout(MAX, || 8).unwrap();
    assert_eq!(pool.join_timeout(MAX), Ok(()));
    assert_eq!(h.join().unwrap(), 8);
    let group = Group::new();
    group.spawn(|| ());
    assert_eq!(group.join_timeout(MAX), Ok(()));
}

#[test]
fn cross_thread_primitives_that_are_ready_return_at_once() {
    let te = ThreadEvent::new();
    te.set();
    assert_eq!(te.wait_timeout(MAX), Ok(()));
    let (tx, rx) = thread_channel();
    tx.send(9).unwrap();
    assert_eq!(rx.recv_timeout(MAX).ok(), Some(9));
    let tr: ThreadAsyncResult<u8> = ThreadAsyncResult::new();
    tr.set(10).unwrap();
    assert_eq!(tr.wait_timeout(MAX), Ok(()));
    assert_eq!(tr.get_timeout(MAX).ok(), Some(10));
    // Set from another OS thread while this one waits.
    let te = ThreadEvent::new();
    let setter = {
        let te = te.clone();
        std::thread::spawn(move || {
            std::thread::sleep(SHORT);
            te.set();
        })
    };
    assert_eq!(te.wait_timeout(MAX), Ok(()));
    setter.join().unwrap();
}

#[test]
fn greenlet_waits_on_finished_greenlets_return_at_once() {
    let mut h = spawn(|| 11);
    let g = h.greenlet();
    assert!(h.wait_timeout(MAX).is_ok());
    assert!(g.wait_timeout(MAX).is_ok());
    assert_eq!(sprout::wait(&[&h], Some(MAX), None), Ok(vec![0]));
    assert_eq!(sprout::wait_any(&[&h], Some(MAX)), Some(0));
    assert_eq!(sprout::iwait(&[&h], Some(MAX)).collect::<Vec<_>>(), vec![0]);
    assert!(sprout::joinall(&[&h], Some(MAX)));
    assert_eq!(h.join_timeout(MAX).ok(), Some(11));
    assert!(g.kill_timeout(MAX));
    assert_eq!(with_timeout(MAX, || 12), Ok(12));
}

#[test]
fn waits_with_no_deadline_see_readiness_from_another_greenlet() {
    let ev = Event::new();
    let q = Queue::new();
    let sem = Semaphore::new(0);
    {
        let (ev, q, sem) = (ev.clone(), q.clone(), sem.clone());
        spawn(move || {
            sprout::sleep(SHORT);
            ev.set();
            q.put("item").unwrap();
            sem.release();
        });
    }
    assert_eq!(ev.wait_timeout(MAX), Ok(()));
    assert_eq!(q.get_timeout(MAX).ok(), Some("item"));
    assert!(sem.acquire_timeout(MAX).is_ok());

    let mut h = spawn(|| {
        sprout::sleep(SHORT);
        13
    });
    assert_eq!(sprout::wait(&[&h], Some(MAX), None), Ok(vec![0]));
    assert_eq!(h.join_timeout(MAX).ok(), Some(13));

    let t = Timeout::start(MAX);
    assert_eq!(t.catch(|| sprout::sleep(SHORT)), Ok(()));
    let later = sprout::spawn_later(SHORT, || 14);
    assert!(sprout::joinall(&[&later], Some(MAX)));
}

#[test]
fn sleep_max_sleeps_until_killed_or_timed_out() {
    let started = Rc::new(Cell::new(false));
    let s = started.clone();
    let sleeper = spawn(move || {
        s.set(true);
        sprout::sleep(MAX);
    });
    sprout::yield_now();
    assert!(started.get());
    assert!(!sleeper.is_finished(), "sleep(MAX) returned");
    assert!(sleeper.kill_timeout(MAX));
    assert!(sleeper.is_killed());

    // A spawn_later that never comes: killed before it runs.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let never = sprout::spawn_later(MAX, move || r.set(true));
    sprout::yield_now();
    never.kill();
    assert!(never.is_killed());
    assert!(!ran.get());

    assert_eq!(with_timeout(SHORT, || sprout::sleep(MAX)), Err(Elapsed));
}

#[test]
fn a_forever_wait_with_nothing_to_end_it_is_loop_exit_not_a_hang() {
    // No deadline means no timer: with nothing else in the hub, joining a greenlet that
    // sleeps forever is LoopExit (as a join without a timeout), not a wait of 584 years.
    let mut sleeper = spawn(|| sprout::sleep(MAX));
    assert!(matches!(
        sleeper.join_timeout(MAX),
        Err(JoinError::LoopExit)
    ));
    let ev = Event::new();
    assert_eq!(ev.wait_timeout(MAX), Err(WaitError::LoopExit));
    sleeper.kill();
    assert!(sleeper.is_killed());
}

#[test]
fn root_sleep_max_blocks_its_thread_instead_of_returning() {
    // gevent's sleep in the main greenlet with nothing else to run just blocks; so does
    // sprout's (it never returns LoopExit). The thread is left blocked; the process ends it.
    let returned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = returned.clone();
    std::thread::spawn(move || {
        sprout::sleep(MAX);
        r.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!returned.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn sockets_and_connect_accept_max_timeouts() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        sprout::sleep(SHORT);
        c.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        c.read_exact(&mut buf).unwrap();
        buf
    });
    let mut c = TcpStream::connect_timeout(addr, MAX).unwrap();
    c.set_read_timeout(Some(MAX)).unwrap();
    c.set_write_timeout(Some(MAX)).unwrap();
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    c.write_all(b"ok").unwrap();
    assert_eq!(server.join().unwrap(), *b"ok");
}

#[test]
fn child_wait_timeout_max_waits_for_the_exit() {
    let mut child = sprout::process::Command::new("true").spawn().unwrap();
    let status = child.wait_timeout(MAX).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn servers_stop_with_a_max_grace() {
    let stream = StreamServer::bind("127.0.0.1:0", |_c: TcpStream, _| ()).unwrap();
    stream.start().unwrap();
    stream.stop(MAX);

    let http = Server::bind("127.0.0.1:0", |_r: &mut Request<'_>| Response::text("x")).unwrap();
    http.start().unwrap();
    http.stop(MAX);

    let dgram = DatagramServer::bind("127.0.0.1:0", |_d: &[u8], _p, _s: &UdpSocket| ()).unwrap();
    dgram.start().unwrap();
    dgram.stop(MAX);
}
