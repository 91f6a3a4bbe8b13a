//! TCP through `sprout::net`: round trips, addresses and options, timeouts (hub timers),
//! kills and `Timeout` scopes while parked, misuse errors, resets, half-close, large
//! transfers, conversions, and cooperation between many parked connections.

mod support;

use std::cell::Cell;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::{TcpListener, TcpStream};

/// A greenlet that counts a tick every millisecond until the flag is set: proof that the
/// hub kept running other greenlets while one was parked on a socket.
fn ticker() -> (Rc<Cell<u32>>, Rc<Cell<bool>>) {
    let ticks = Rc::new(Cell::new(0));
    let stop = Rc::new(Cell::new(false));
    let (t, s) = (ticks.clone(), stop.clone());
    sprout::spawn(move || {
        let end = Instant::now() + Duration::from_secs(30);
        while !s.get() && Instant::now() < end {
            t.set(t.get() + 1);
            sprout::sleep(Duration::from_millis(1));
        }
    });
    (ticks, stop)
}

#[test]
fn round_trip_addresses_and_options() {
    let addr = support::echo_server();
    let mut c = TcpStream::connect(addr).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    assert_eq!(c.local_addr().unwrap().ip(), addr.ip());
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    assert!(c.take_error().unwrap().is_none());
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    assert!(format!("{c:?}").contains("TcpStream"));
}

#[test]
fn listener_accessors_and_incoming() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_ttl(33).unwrap();
    assert_eq!(listener.ttl().unwrap(), 33);
    assert!(listener.take_error().unwrap().is_none());
    let clients = sprout::spawn(move || {
        (0..3)
            .map(|i| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(&[i]).unwrap();
                c
            })
            .collect::<Vec<_>>()
    });
    let mut got: Vec<u8> = listener
        .incoming()
        .take(3)
        .map(|s| {
            let mut b = [0u8; 1];
            s.unwrap().read_exact(&mut b).unwrap();
            b[0]
        })
        .collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    drop(clients.join().unwrap());
}

#[test]
fn connect_resolves_host_names() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // "localhost" may resolve to ::1 first; connect tries every address, as std does.
    let c = TcpStream::connect(("localhost", port)).unwrap();
    let (s, peer) = listener.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    let err = TcpStream::connect("127.0.0.1").unwrap_err(); // no port
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn connect_refused_is_an_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn connect_timeout_fires_when_the_backlog_is_full() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Shrink the accept queue to one entry: once it is full the kernel drops new SYNs, so a
    // connect hangs until its timeout.
    // SAFETY: `listen` on a valid listening socket we own; it only changes the backlog.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(rc, 0);
    let (ticks, stop) = ticker();
    let mut held = Vec::new();
    let mut timed_out = None;
    for _ in 0..16 {
        let start = Instant::now();
        match TcpStream::connect_timeout(addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
                timed_out = Some(start.elapsed());
                break;
            }
        }
    }
    stop.set(true);
    let waited = timed_out.expect("a connect to a full backlog times out");
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(ticks.get() > 10, "other greenlets ran meanwhile");
    let zero = TcpStream::connect_timeout(addr, Duration::ZERO).unwrap_err();
    assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn read_timeout_then_the_socket_still_works() {
    let (mut c, mut s) = support::tcp_pair();
    assert_eq!(c.read_timeout().unwrap(), None);
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(100)));
    assert_eq!(
        c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    let (ticks, stop) = ticker();
    let start = Instant::now();
    let err = c.read(&mut [0u8; 16]).unwrap_err();
    let waited = start.elapsed();
    stop.set(true);
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(waited >= Duration::from_millis(90), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(ticks.get() > 10, "other greenlets ran meanwhile");
    // The timed-out wait left nothing behind: the next read gets the data.
    s.write_all(b"late").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
}

#[test]
fn write_timeout_fires_when_the_peer_does_not_read() {
    let (mut c, _s) = support::tcp_pair();
    c.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let big = vec![7u8; 64 << 20];
    let start = Instant::now();
    let err = c.write_all(&big).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn timeout_scope_and_kill_reach_a_greenlet_parked_on_read() {
    let (c, mut s) = support::tcp_pair();
    let c = Rc::new(c);

    // A Timeout scope unwinds out of the read.
    let r = sprout::with_timeout(Duration::from_millis(50), || {
        (&*c).read(&mut [0u8; 8]).map(|_| ())
    });
    assert!(r.is_err(), "the scope expired");

    // A kill unwinds out of the read; the greenlet ends as killed.
    let reader = {
        let c = c.clone();
        sprout::spawn(move || (&*c).read(&mut [0u8; 8]).map(|_| ()))
    };
    sprout::sleep(Duration::from_millis(20));
    assert!(!reader.is_finished());
    reader.kill();
    assert!(reader.join().unwrap_err().is_killed());

    // Neither left a waiter behind: a new reader parks and gets the data.
    let reader = {
        let c = c.clone();
        sprout::spawn(move || {
            let mut b = [0u8; 2];
            (&*c).read_exact(&mut b).map(|()| b)
        })
    };
    sprout::sleep(Duration::from_millis(10));
    s.write_all(b"ok").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"ok");
}

#[test]
fn a_second_concurrent_reader_gets_a_clear_error() {
    let (c, mut s) = support::tcp_pair();
    let c = Rc::new(c);
    let first = {
        let c = c.clone();
        sprout::spawn(move || {
            let mut b = [0u8; 5];
            (&*c).read_exact(&mut b).map(|()| b)
        })
    };
    sprout::sleep(Duration::from_millis(10)); // the first reader is parked now
    let err = (&*c).read(&mut [0u8; 5]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ConcurrentObjectUseError"), "{msg}");
    assert!(msg.contains("already waiting to read"), "{msg}");
    // A writer is not a second reader: both directions work at once.
    (&*c).write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    s.write_all(b"hello").unwrap();
    assert_eq!(&first.join().unwrap().unwrap(), b"hello");
}

#[test]
fn peer_reset_mid_read_gives_connection_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = sprout::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        // Closing with unread data in the receive queue makes the kernel send a RST.
        sprout::sleep(Duration::from_millis(50));
        drop(s);
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"unread").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let err = c.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    server.join().unwrap();
}

#[test]
fn half_close_with_shutdown_write() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = sprout::spawn(move || -> io::Result<()> {
        let (mut s, _) = listener.accept()?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?; // ends at the client's FIN
        got.reverse();
        s.write_all(&got)?;
        s.shutdown(Shutdown::Write)
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"abc").unwrap();
    sprout::sleep(Duration::from_millis(5));
    c.write_all(b"def").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"fedcba");
    server.join().unwrap().unwrap();
    assert!(c.write_all(b"more").is_err(), "the write half is shut");
}

#[test]
fn sixteen_mib_through_one_connection_with_partial_writes() {
    const LEN: usize = 16 << 20;
    let addr = support::echo_server();
    let c = TcpStream::connect(addr).unwrap();
    let writer_half = c.try_clone().unwrap();
    let data = Rc::new(support::pattern(16, LEN));
    let writer = {
        let data = data.clone();
        sprout::spawn(move || {
            let mut w = writer_half;
            // Odd-sized pieces, so writes end mid-buffer as well as when the buffer fills.
            for chunk in data.chunks(1_000_003) {
                w.write_all(chunk)?;
            }
            io::Result::Ok(())
        })
    };
    let mut back = vec![0u8; LEN];
    let mut r = &c;
    r.read_exact(&mut back).unwrap();
    writer.join().unwrap().unwrap();
    assert!(back == *data, "16 MiB echoed intact");
}

#[test]
fn vectored_io_and_peek() {
    let (c, s) = support::tcp_pair();
    let bufs = [
        IoSlice::new(b"hello "),
        IoSlice::new(b"vectored "),
        IoSlice::new(b"world"),
    ];
    let n = (&c).write_vectored(&bufs).unwrap();
    assert_eq!(n, 20);
    let mut peeked = [0u8; 5];
    let n = s.peek(&mut peeked).unwrap();
    assert_eq!(&peeked[..n], &b"hello"[..n]);
    let (mut a, mut b, mut rest) = ([0u8; 6], [0u8; 9], [0u8; 5]);
    let mut got = 0;
    while got < 20 {
        let mut slices = [
            IoSliceMut::new(&mut a),
            IoSliceMut::new(&mut b),
            IoSliceMut::new(&mut rest),
        ];
        io::IoSliceMut::advance_slices(&mut &mut slices[..], got);
        got += (&s).read_vectored(&mut slices).unwrap();
    }
    assert_eq!(&a, b"hello ");
    assert_eq!(&b, b"vectored ");
    assert_eq!(&rest, b"world");
}

#[test]
fn try_clone_reads_and_writes_the_same_connection() {
    let (c, mut s) = support::tcp_pair();
    let c2 = c.try_clone().unwrap();
    assert_ne!(c.as_raw_fd(), c2.as_raw_fd());
    assert_eq!(c2.peer_addr().unwrap(), c.peer_addr().unwrap());
    (&c2).write_all(b"from clone").unwrap();
    let mut b = [0u8; 10];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"from clone");
    drop(c2);
    s.write_all(b"still open").unwrap();
    (&c).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"still open");
}

#[test]
fn conversions_to_and_from_std() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::from(std_listener);
    let std_client = std::net::TcpStream::connect(addr).unwrap();
    let client = TcpStream::from(std_client);
    let (server, _) = listener.accept().unwrap();

    // Back to std: blocking again, so a std read waits instead of failing with WouldBlock.
    let mut std_server = server.into_std().unwrap();
    (&client).write_all(b"to std").unwrap();
    let mut b = [0u8; 6];
    std_server.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"to std");

    // Raw fds: ownership passes through unchanged.
    let raw = client.into_raw_fd();
    // SAFETY: `raw` came from `into_raw_fd` just above; nothing else owns it.
    let client = unsafe { TcpStream::from_raw_fd(raw) };
    assert_eq!(client.as_raw_fd(), raw);
    std_server.write_all(b"back").unwrap();
    let mut b = [0u8; 4];
    (&client).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"back");
    let listener = listener.into_std().unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
}

#[test]
fn many_parked_readers_are_served_together() {
    const N: usize = 200;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let start = Instant::now();
    let readers: Vec<_> = (0..N)
        .map(|i| {
            sprout::spawn(move || -> io::Result<()> {
                let mut c = TcpStream::connect(addr)?;
                c.write_all(&(i as u64).to_le_bytes())?;
                let mut b = [0u8; 8];
                c.read_exact(&mut b)?; // every reader parks here at the same time
                assert_eq!(u64::from_le_bytes(b), i as u64 * 2);
                Ok(())
            })
        })
        .collect();
    let mut servers = Vec::new();
    for _ in 0..N {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 8];
        s.read_exact(&mut b).unwrap();
        servers.push((s, u64::from_le_bytes(b)));
    }
    sprout::sleep(Duration::from_millis(200));
    assert!(readers.iter().all(|r| !r.is_finished()), "all parked");
    for (s, i) in &mut servers {
        s.write_all(&(*i * 2).to_le_bytes()).unwrap();
    }
    for r in readers {
        r.join().unwrap().unwrap();
    }
    // Generous: 200 connections and one shared 200 ms sleep on one thread.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn plain_thread_without_greenlets_uses_sockets() {
    // Root code on a fresh thread: each blocking call runs that thread's hub loop.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = std_listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(b"from a std thread").unwrap();
    });
    let got = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    })
    .join()
    .unwrap();
    assert_eq!(got, "from a std thread");
    peer.join().unwrap();
}
