//! No fd leaks: 10,000 connections opened and closed leave the fd count where it was.
//! Alone in its binary, so no other test opens fds meanwhile.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use sprout::net::{TcpListener, TcpStream};

#[test]
fn ten_thousand_connections_leak_no_fds() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Warm up: the reactor's epoll, eventfd and timerfd exist before the first count.
    drop(TcpStream::connect(addr).unwrap());
    drop(listener.accept().unwrap());
    sprout::sleep(Duration::from_millis(1));
    let before = support::fd_count();

    let server = sprout::spawn(move || {
        for _ in 0..10_000 {
            let (mut s, _) = listener.accept().unwrap();
            sprout::spawn(move || {
                let mut b = [0u8; 1];
                if s.read_exact(&mut b).is_ok() {
                    let _ = s.write_all(&b);
                }
            });
        }
        listener
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    // 10 client greenlets, 1,000 sequential connections each.
    let clients: Vec<_> = (0..10)
        .map(|_| {
            sprout::spawn(move || {
                for i in 0..1000u32 {
                    assert!(Instant::now() < deadline, "took too long");
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.write_all(&[i as u8]).unwrap();
                    let mut b = [0u8; 1];
                    c.read_exact(&mut b).unwrap();
                    assert_eq!(b[0], i as u8);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let listener = server.join().unwrap();
    // Let the last handlers see EOF and close.
    sprout::sleep(Duration::from_millis(50));
    drop(listener);
    let after = support::fd_count();
    assert_eq!(after, before - 1, "only the listener's fd is gone");
}
