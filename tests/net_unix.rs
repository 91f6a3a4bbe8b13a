//! Unix domain sockets through `sprout::net`: stream listener and connections by path,
//! socket pairs, and datagrams.

mod support;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use sprout::net::{UnixDatagram, UnixListener, UnixStream};

#[test]
fn listener_and_stream_round_trip_by_path() {
    let path = support::socket_path("stream");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let server = sprout::spawn(move || -> io::Result<Vec<u8>> {
        let (mut s, _peer) = listener.accept()?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?;
        s.write_all(&got)?;
        Ok(got)
    });
    let mut c = UnixStream::connect(&path).unwrap();
    assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
    let msg = support::pattern(5, 300_000); // larger than the socket buffer
    let writer = {
        let w = c.try_clone().unwrap();
        let msg = msg.clone();
        sprout::spawn(move || {
            let mut w = w;
            w.write_all(&msg)?;
            w.shutdown(Shutdown::Write)
        })
    };
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap().unwrap();
    assert!(back == msg);
    assert!(server.join().unwrap().unwrap() == msg);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn incoming_and_conversions() {
    let path = support::socket_path("incoming");
    let listener = UnixListener::bind(&path).unwrap();
    let p = path.clone();
    let client = sprout::spawn(move || {
        let c = std::os::unix::net::UnixStream::connect(&p).unwrap();
        let mut c = UnixStream::from(c);
        c.write_all(b"via std").unwrap();
    });
    let mut s = listener.incoming().next().unwrap().unwrap();
    let mut b = [0u8; 7];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"via std");
    client.join().unwrap();
    let std_listener = listener.into_std().unwrap();
    assert!(std_listener.local_addr().is_ok());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stream_pair_peek_and_timeouts() {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let err = (&b).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    (&a).write_all(b"peek").unwrap();
    let mut buf = [0u8; 4];
    let n = b.peek(&mut buf).unwrap();
    assert_eq!(&buf[..n], &b"peek"[..n]);
    (&b).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"peek");
    assert!(b.take_error().unwrap().is_none());
}

#[test]
fn datagrams_by_path_and_pair() {
    let server_path = support::socket_path("dgram-server");
    let client_path = support::socket_path("dgram-client");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let client = UnixDatagram::bind(&client_path).unwrap();
    let echo = sprout::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 256];
        let (n, from) = server.recv_from(&mut buf)?;
        let to = from.as_pathname().expect("a bound client").to_path_buf();
        server.send_to(&buf[..n], to)?;
        Ok(())
    });
    client.send_to(b"hello dgram", &server_path).unwrap();
    let mut buf = [0u8; 256];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello dgram");
    assert_eq!(from.as_pathname(), Some(server_path.as_path()));
    echo.join().unwrap().unwrap();

    let (a, b) = UnixDatagram::pair().unwrap();
    let reader = sprout::spawn(move || {
        let mut buf = [0u8; 16];
        let n = b.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    sprout::sleep(Duration::from_millis(5));
    a.send(b"pair").unwrap();
    assert_eq!(reader.join().unwrap(), b"pair");

    let unbound = UnixDatagram::unbound().unwrap();
    unbound.connect(&client_path).unwrap();
    unbound.send(b"connected").unwrap();
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"connected");
    std::fs::remove_file(&server_path).unwrap();
    std::fs::remove_file(&client_path).unwrap();
}
