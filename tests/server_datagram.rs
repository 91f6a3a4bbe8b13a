//! `sprout::net::DatagramServer` through its public API: 100 clients × 10 datagrams with a
//! 20 ms handler on one thread (the handlers overlap), the bounded pool, a panicking
//! handler, graceful stop, and `examples/udp_echo` as a child process.

mod support;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::{DatagramServer, UdpSocket};
use sprout::sync::Pool;

/// Answers each datagram after 20 ms.
fn slow_echo(data: &[u8], peer: SocketAddr, sock: &UdpSocket) {
    sprout::sleep(Duration::from_millis(20));
    let _ = sock.send_to(data, peer);
}

#[test]
fn a_thousand_datagrams_with_a_20ms_handler_overlap_on_one_thread() {
    let peak = Rc::new(Cell::new(0));
    let live = Rc::new(Cell::new(0));
    let (p, l) = (peak.clone(), live.clone());
    let server = DatagramServer::bind("127.0.0.1:0", move |data: &[u8], peer, sock: &UdpSocket| {
        l.set(l.get() + 1);
        p.set(p.get().max(l.get()));
        slow_echo(data, peer, sock);
        l.set(l.get() - 1);
    })
    .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    let start = Instant::now();
    let clients: Vec<_> = (0..100)
        .map(|i| {
            sprout::spawn(move || {
                let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                sock.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                // One at a time, each awaiting its answer (a burst of 1,000 could overflow
                // the socket buffers, and UDP drops then).
                let mut buf = [0u8; 64];
                for j in 0..10u32 {
                    let msg = format!("{i}:{j}");
                    sock.send_to(msg.as_bytes(), addr).unwrap();
                    let (n, from) = sock.recv_from(&mut buf).unwrap();
                    assert_eq!(from, addr);
                    assert_eq!(&buf[..n], msg.as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let took = start.elapsed();
    // 1,000 handlers of 20 ms each would take 20 s one after the other; overlapped, the
    // 10 rounds take about 200 ms (bound generous: the machine is shared).
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(peak.get() >= 50, "handlers overlapped: peak {}", peak.get());
    server.stop(Duration::from_secs(1));
    assert!(server.is_stopped());
    assert_eq!(server.handlers(), 0);
}

#[test]
fn a_pool_bounds_the_handlers_and_a_panicking_handler_does_not_stop_the_server() {
    let live = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let (l, p) = (live.clone(), peak.clone());
    let server = DatagramServer::bind("127.0.0.1:0", move |data: &[u8], peer, sock: &UdpSocket| {
        if data == b"panic" {
            panic!("handler panics on purpose");
        }
        l.set(l.get() + 1);
        p.set(p.get().max(l.get()));
        sprout::sleep(Duration::from_millis(10));
        l.set(l.get() - 1);
        let _ = sock.send_to(data, peer);
    })
    .unwrap()
    .pool(Pool::new(4));
    server.start().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.send_to(b"panic", server.local_addr()).unwrap();
    for i in 0..20u8 {
        sock.send_to(&[i], server.local_addr()).unwrap();
    }
    let mut buf = [0u8; 8];
    for _ in 0..20 {
        sock.recv_from(&mut buf).unwrap();
    }
    assert!(peak.get() <= 4, "pool of 4, peak {}", peak.get());
    assert!(peak.get() >= 2, "handlers overlapped, peak {}", peak.get());
    server.stop(Duration::from_secs(1));
}

#[test]
fn stop_lets_running_handlers_finish_then_kills_stragglers_and_stops_receiving() {
    let finished = Rc::new(Cell::new(0));
    let f = finished.clone();
    let server = DatagramServer::bind(
        "127.0.0.1:0",
        move |data: &[u8], _peer, _sock: &UdpSocket| {
            let ms = if data == b"long" { 10_000 } else { 50 };
            sprout::sleep(Duration::from_millis(ms));
            f.set(f.get() + 1);
        },
    )
    .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"short", addr).unwrap();
    sock.send_to(b"long", addr).unwrap();
    assert!(support_wait(|| server.handlers() == 2));
    let start = Instant::now();
    server.stop(Duration::from_millis(300));
    let took = start.elapsed();
    assert_eq!(
        finished.get(),
        1,
        "the short handler finished, the long one was killed"
    );
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(server.handlers(), 0);
    // No longer receiving: a new datagram runs no handler.
    sock.send_to(b"short", addr).unwrap();
    sprout::sleep(Duration::from_millis(150));
    assert_eq!(finished.get(), 1);
    assert!(
        server.start().is_err(),
        "a stopped server cannot start again"
    );
}

fn support_wait(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        sprout::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn udp_echo_example_echoes_datagrams() {
    let (_child, addr) = support::spawn_server_example("udp_echo");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for msg in [&b"hello"[..], b"", &[0u8; 1400][..]] {
        sock.send_to(msg, addr).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(from, addr);
        assert_eq!(&buf[..n], msg);
    }
}
