//! Monkey patching, the cancellation contract: a kill or an expired `Timeout` scope reaching
//! a greenlet inside a hooked call never leaves a connection out of step, stops retry loops
//! quickly, and is reported as such by `with_timeout` and `join`.

use std::cell::Cell;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A greenlet server answering each line `x` with `reply x` after 300 ms.
fn slow_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    sprout::spawn(move || {
        while let Ok((conn, _)) = listener.accept() {
            sprout::spawn(move || {
                let mut out = conn.try_clone().unwrap();
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    std::thread::sleep(Duration::from_millis(300));
                    if out.write_all(format!("reply {line}\n").as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// One request/response exchange, as a client library would make it.
fn request(conn: &mut TcpStream, what: &str) -> std::io::Result<String> {
    conn.write_all(format!("{what}\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if conn.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            return Ok(String::from_utf8(reply).unwrap());
        }
        reply.push(byte[0]);
    }
}

#[test]
fn a_timed_out_exchange_never_hands_its_stale_reply_to_the_next_request() {
    sprout::monkey::patch_all();
    let addr = slow_server();
    let mut conn = TcpStream::connect(addr).unwrap();
    assert_eq!(request(&mut conn, "warm-up").unwrap(), "reply warm-up");

    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    // The library turns the cancelled read into an error value; the scope still reports
    // Elapsed.
    let r = sprout::with_timeout(Duration::from_millis(100), || {
        let r = request(&mut conn, "first");
        s.set(r.as_ref().err().map(|e| e.kind()));
        r
    });
    assert!(r.is_err(), "with_timeout reported Elapsed, got {r:?}");
    assert_eq!(seen.get(), Some(ErrorKind::ConnectionAborted));

    // Long after the stale reply to "first" arrived, the next request on the same
    // connection fails instead of reading it.
    std::thread::sleep(Duration::from_millis(400));
    let next = request(&mut conn, "second");
    assert!(next.is_err(), "the stale reply leaked: {next:?}");
}

#[test]
fn a_read_loop_with_sleep_back_off_is_killed_quickly_and_reported_killed() {
    sprout::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let rounds = Rc::new(Cell::new(0u32));
    let r = rounds.clone();
    let h = sprout::spawn(move || -> std::io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            r.set(r.get() + 1);
            match client.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    std::thread::sleep(Duration::from_millis(20)); // back-off
                }
                Err(e) => return Err(e),
            }
        }
    });
    sprout::sleep(Duration::from_millis(100));
    assert!(rounds.get() >= 2, "the loop was running");
    let start = Instant::now();
    h.kill();
    let took = start.elapsed();
    eprintln!("kill of a read loop with sleep back-off: {took:?}");
    assert!(took < Duration::from_millis(500), "kill took {took:?}");
    assert!(h.join().unwrap_err().is_killed());
}

#[test]
fn while_a_scope_is_expired_connects_fail_at_once_and_sleeps_only_yield() {
    sprout::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut idle = TcpStream::connect(addr).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    let report = Rc::new(Cell::new(None));
    let rep = report.clone();
    let ticker = sprout::spawn(move || {
        for _ in 0..200 {
            sprout::sleep(Duration::from_millis(1));
        }
    });
    let start = Instant::now();
    let r = sprout::with_timeout(Duration::from_millis(50), || {
        let mut buf = [0u8; 1];
        let read = idle.read(&mut buf).map_err(|e| e.kind()); // parks until the deadline
        let switches = sprout::switch_count();
        let slept = Instant::now();
        std::thread::sleep(Duration::from_secs(5)); // yields once and returns
        let slept = slept.elapsed();
        let yielded = sprout::switch_count() > switches;
        let connect = TcpStream::connect(addr).map_err(|e| e.kind());
        let write = idle.write(b"x").map_err(|e| e.kind());
        rep.set(Some((read, slept, yielded, connect, write)));
        "the library went on as if nothing happened"
    });
    assert!(r.is_err(), "Elapsed, whatever the closure returned: {r:?}");
    let (read, slept, yielded, connect, write) = report.take().unwrap();
    assert_eq!(read, Err(ErrorKind::ConnectionAborted));
    assert!(
        slept < Duration::from_secs(1),
        "the sleep did not run its length: {slept:?}"
    );
    assert!(yielded);
    assert_eq!(connect.unwrap_err(), ErrorKind::ConnectionAborted);
    assert!(write.is_err(), "the cut exchange's socket was shut down");
    assert!(start.elapsed() < Duration::from_secs(2));
    // The scope is over: connects work again.
    assert!(TcpStream::connect(addr).is_ok());
    ticker.join().unwrap();
}
