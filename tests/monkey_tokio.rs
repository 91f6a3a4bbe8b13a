//! Monkey patching, event loops: a tokio current-thread runtime inside a blocking call waits
//! in `epoll_wait`, which parks only the calling greenlet after `patch_all`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A current-thread tokio runtime with timers and I/O.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tokio_block_on_in_a_greenlet_lets_the_hub_run() {
    sprout::monkey::patch_all();
    let ticks = Rc::new(Cell::new(0u32));
    let stop = Rc::new(Cell::new(false));
    let ticker = {
        let (ticks, stop) = (ticks.clone(), stop.clone());
        sprout::spawn(move || {
            while !stop.get() {
                sprout::sleep(Duration::from_millis(1));
                ticks.set(ticks.get() + 1);
            }
        })
    };
    let start = Instant::now();
    let h = sprout::spawn(|| {
        let rt = runtime();
        rt.block_on(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            7
        })
    });
    assert_eq!(h.join().unwrap(), 7);
    let elapsed = start.elapsed();
    eprintln!("tokio block_on(sleep(200 ms)) in a greenlet: {elapsed:?}, {} ticks of a 1 ms ticker meanwhile", ticks.get());
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(
        ticks.get() > 20,
        "the hub ran other greenlets during block_on ({} ticks)",
        ticks.get()
    );
    stop.set(true);
    ticker.join().unwrap();
}

#[test]
fn tokio_runtimes_one_after_another_in_greenlets_overlap_with_sprout_sleeps() {
    // Each greenlet runs its runtime's block_on to the end before the next enters one (tokio
    // refuses to enter a runtime on a thread where one is entered: its "entered" flag is a
    // thread-local, shared by the thread's greenlets), while 50 sprout sleeps overlap.
    sprout::monkey::patch_all();
    let start = Instant::now();
    let sleepers: Vec<_> = (0..50)
        .map(|_| sprout::spawn(|| std::thread::sleep(Duration::from_millis(200))))
        .collect();
    let rt_user = sprout::spawn(|| {
        let rt = runtime();
        for _ in 0..2 {
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
        }
    });
    rt_user.join().unwrap();
    for h in sleepers {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    eprintln!("50 std sleeps of 200 ms + 2 tokio block_on sleeps of 100 ms: {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1000),
        "50 sleeps of 200 ms and 2 tokio sleeps of 100 ms took {elapsed:?}"
    );
}

#[test]
fn tokio_io_inside_block_on_talks_to_a_greenlet_server() {
    sprout::monkey::patch_all();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = sprout::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(50)); // parks this greenlet only
        s.write_all(&buf).unwrap();
    });
    let client = sprout::spawn(move || {
        let rt = runtime();
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            buf
        })
    });
    assert_eq!(&client.join().unwrap(), b"hello");
    server.join().unwrap();
}

#[test]
fn a_second_greenlet_entering_tokio_while_one_is_inside_gets_tokios_panic() {
    // The documented limit: tokio's "entered" flag is a thread-local, shared by every
    // greenlet of the thread. Pinned here so a change of behaviour is noticed.
    sprout::monkey::patch_all();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            sprout::spawn(|| {
                let rt = runtime();
                rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await })
            })
        })
        .collect();
    let results: Vec<_> = hs.into_iter().map(|h| h.join()).collect();
    assert!(results[0].is_ok());
    let err = results.into_iter().nth(1).unwrap().unwrap_err();
    assert!(err.to_string().contains("Cannot start a runtime"), "{err}");
}

#[test]
fn raw_epoll_waits_park_until_ready_or_timed_out() {
    sprout::monkey::patch_all();
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: epoll_create1 takes flags.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0);
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 7,
    };
    // SAFETY: valid fds and event.
    let r = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fds[0], &mut ev) };
    assert_eq!(r, 0);
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = sprout::spawn(move || {
        for _ in 0..150 {
            sprout::sleep(Duration::from_millis(1));
            t.set(t.get() + 1);
        }
    });
    // Timeout: no events after about 80 ms, and the hub ran meanwhile.
    let start = Instant::now();
    let h = sprout::spawn(move || {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: a valid epoll fd and buffer.
        unsafe { libc::epoll_wait(ep, out.as_mut_ptr(), 4, 80) }
    });
    assert_eq!(h.join().unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(80));
    assert!(ticks.get() > 10, "the hub ran during epoll_wait");
    // Readiness from another thread ends epoll_pwait2 (a timespec timeout) early.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        // SAFETY: a valid fd and one byte.
        unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
    });
    let start = Instant::now();
    let h = sprout::spawn(move || {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let ts = libc::timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        // SAFETY: a valid epoll fd, buffer and timespec; no signal mask.
        let n = unsafe { libc::epoll_pwait2(ep, out.as_mut_ptr(), 4, &ts, std::ptr::null()) };
        (n, out[0].u64)
    });
    assert_eq!(h.join().unwrap(), (1, 7));
    assert!(start.elapsed() < Duration::from_secs(2));
    writer.join().unwrap();
    ticker.join().unwrap();
    // SAFETY: our own fds, closed once.
    unsafe {
        libc::close(ep);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}
