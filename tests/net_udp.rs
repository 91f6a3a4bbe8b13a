//! UDP through `sprout::net`: round trips, connected sockets, peeking, timeouts.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sprout::net::UdpSocket;

#[test]
fn send_to_and_recv_from_round_trip() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let echo = sprout::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 1500];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf)?; // parks until a datagram arrives
            server.send_to(&buf[..n], from)?;
        }
        Ok(())
    });
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for msg in [&b"one"[..], b"two", &[9u8; 1200]] {
        client.send_to(msg, addr).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, addr);
        assert_eq!(&buf[..n], msg);
    }
    echo.join().unwrap().unwrap();
}

#[test]
fn connected_send_recv_and_peek() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    let reader = sprout::spawn(move || {
        let mut buf = [0u8; 16];
        let n = b.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"datagram");
        let (n, from) = b.peek_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"datagram");
        let n2 = b.recv(&mut buf).unwrap();
        assert_eq!(n, n2);
        (from, buf[..n2].to_vec())
    });
    sprout::sleep(Duration::from_millis(10));
    a.send(b"datagram").unwrap();
    let (from, got) = reader.join().unwrap();
    assert_eq!(from, a.local_addr().unwrap());
    assert_eq!(got, b"datagram");
}

#[test]
fn recv_timeout_and_options() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_ttl(7).unwrap();
    assert_eq!(s.ttl().unwrap(), 7);
    assert!(s.take_error().unwrap().is_none());
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_millis(50)));
    let start = Instant::now();
    let err = s.recv_from(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(45));
    let clone = s.try_clone().unwrap();
    assert_ne!(clone.as_raw_fd(), s.as_raw_fd());
    assert_eq!(clone.local_addr().unwrap(), s.local_addr().unwrap());
    let std_sock = s.into_std().unwrap();
    assert!(std_sock.local_addr().is_ok());
}
