//! Socket options through the public API, each read back with `getsockopt`: keepalive and
//! its timing, buffer sizes, linger, address and port reuse, `TCP_NODELAY`; the listen
//! backlog (default 1024, settable) as the kernel reports it (`ss -ltn`'s Send-Q);
//! `set_nonblocking` giving `WouldBlock`; `connect_timeout` taking a host name and
//! timing out; `socket2::SockRef` interop.

mod support;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use sprout::net::socket2::{SockRef, TcpKeepalive};
use sprout::net::{
    TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram, UnixStream, DEFAULT_BACKLOG,
};

/// Linux doubles `SO_RCVBUF`/`SO_SNDBUF` and caps them at `rmem_max`/`wmem_max`: what is read
/// back is at least the request (under the cap) and at most twice it.
fn assert_buffer(set: usize, got: usize) {
    assert!(
        got >= set.min(4096) && got <= set * 2,
        "set {set}, got {got}"
    );
}

#[test]
fn tcp_stream_options_round_trip() {
    let (client, server) = support::tcp_pair();
    for s in [&client, &server] {
        s.set_keepalive(true).unwrap();
        assert!(s.keepalive().unwrap());
        s.set_keepalive(false).unwrap();
        assert!(!s.keepalive().unwrap());
        let ka = TcpKeepalive::new()
            .with_time(Duration::from_secs(42))
            .with_interval(Duration::from_secs(7))
            .with_retries(3);
        s.set_tcp_keepalive(&ka).unwrap();
        assert!(s.keepalive().unwrap());
        assert_eq!(s.keepalive_idle().unwrap(), Duration::from_secs(42));
        assert_eq!(s.keepalive_interval().unwrap(), Duration::from_secs(7));
        assert_eq!(s.keepalive_retries().unwrap(), 3);

        s.set_recv_buffer_size(32 * 1024).unwrap();
        assert_buffer(32 * 1024, s.recv_buffer_size().unwrap());
        s.set_send_buffer_size(48 * 1024).unwrap();
        assert_buffer(48 * 1024, s.send_buffer_size().unwrap());

        s.set_linger(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(3)));
        s.set_linger(None).unwrap();
        assert_eq!(s.linger().unwrap(), None);

        s.set_reuse_address(true).unwrap();
        assert!(s.reuse_address().unwrap());
        s.set_reuse_port(true).unwrap();
        assert!(s.reuse_port().unwrap());
        s.set_reuse_port(false).unwrap();
        assert!(!s.reuse_port().unwrap());

        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
    }
    // The connection still works after all that.
    (&client).write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    (&server).read_exact(&mut b).unwrap();
}

#[test]
fn listener_udp_and_unix_options_round_trip() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(l.reuse_address().unwrap(), "bind sets SO_REUSEADDR");
    assert!(!l.reuse_port().unwrap());
    l.set_recv_buffer_size(64 * 1024).unwrap();
    assert_buffer(64 * 1024, l.recv_buffer_size().unwrap());

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_recv_buffer_size(40 * 1024).unwrap();
    assert_buffer(40 * 1024, u.recv_buffer_size().unwrap());
    u.set_send_buffer_size(20 * 1024).unwrap();
    assert_buffer(20 * 1024, u.send_buffer_size().unwrap());
    u.set_reuse_address(true).unwrap();
    assert!(u.reuse_address().unwrap());

    let (a, _b) = UnixStream::pair().unwrap();
    a.set_send_buffer_size(30 * 1024).unwrap();
    assert_buffer(30 * 1024, a.send_buffer_size().unwrap());
    let (d, _e) = UnixDatagram::pair().unwrap();
    d.set_recv_buffer_size(30 * 1024).unwrap();
    assert_buffer(30 * 1024, d.recv_buffer_size().unwrap());
}

#[test]
fn tcp_socket_sets_options_before_bind_and_connect() {
    let s = TcpSocket::new_v4().unwrap();
    s.set_reuseaddr(true).unwrap();
    s.set_reuseport(true).unwrap();
    s.set_recv_buffer_size(100 * 1024).unwrap();
    s.set_keepalive(true).unwrap();
    assert!(s.reuseaddr().unwrap() && s.reuseport().unwrap() && s.keepalive().unwrap());
    assert_buffer(100 * 1024, s.recv_buffer_size().unwrap());
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = s.local_addr().unwrap();
    let listener = s.listen(77).unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
    assert_eq!(listen_backlog(addr), 77.min(somaxconn()));
    // A second listener on the same port: SO_REUSEPORT was really set before bind.
    let s2 = TcpSocket::for_addr(&addr).unwrap();
    s2.set_reuseport(true).unwrap();
    s2.bind(addr).unwrap();
    let _second = s2.listen(16).unwrap();

    let c = TcpSocket::new_v4().unwrap();
    c.set_nodelay(true).unwrap();
    c.set_linger(Some(Duration::from_secs(1))).unwrap();
    let mut conn = c.connect(addr).unwrap();
    assert!(conn.nodelay().unwrap());
    assert_eq!(conn.linger().unwrap(), Some(Duration::from_secs(1)));
    conn.write_all(b"hi").unwrap();
}

fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// The listen backlog of the listener on `addr`, as `ss -ltn` shows it (Send-Q of a
/// listening socket is its maximum backlog).
fn listen_backlog(addr: SocketAddr) -> u32 {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", addr.port())])
        .output()
        .expect("ss (iproute2, installed by .ci/run)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("{addr}")))
        .unwrap_or_else(|| panic!("listener {addr} not in ss output {text:?}"));
    // State Recv-Q Send-Q Local Peer
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn the_default_backlog_is_1024_and_bind_with_backlog_sets_another() {
    assert_eq!(DEFAULT_BACKLOG, 1024);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(
        listen_backlog(l.local_addr().unwrap()),
        1024.min(somaxconn())
    );
    let l = TcpListener::bind_with_backlog("127.0.0.1:0", 50).unwrap();
    assert_eq!(listen_backlog(l.local_addr().unwrap()), 50);
}

#[test]
fn set_nonblocking_gives_would_block_instead_of_parking() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let err = listener.accept().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // Accept until the connection is there (the kernel may need a moment).
    let (mut conn, _) = loop {
        match listener.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sprout::yield_now(),
            Err(e) => panic!("{e}"),
        }
    };
    conn.set_nonblocking(true).unwrap();
    let before = sprout::switch_count();
    let err = conn.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(sprout::switch_count(), before, "WouldBlock without parking");
    client.write_all(b"data").unwrap();
    // Back to blocking mode: the read parks until the data is there.
    conn.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"data");
    // A clone keeps the mode; UDP too.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_nonblocking(true).unwrap();
    assert_eq!(
        u.recv_from(&mut [0u8; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let u2 = u.try_clone().unwrap();
    assert_eq!(
        u2.recv_from(&mut [0u8; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn connect_timeout_takes_a_host_name_and_times_out_on_a_full_backlog() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conn = TcpStream::connect_timeout(format!("localhost:{port}"), Duration::from_secs(5));
    // localhost may resolve to ::1 first; the 127.0.0.1 address is tried next.
    let conn = conn.unwrap();
    assert_eq!(conn.peer_addr().unwrap().port(), port);
    let conn2 = TcpStream::connect_timeout(("127.0.0.1", port), Duration::from_secs(5)).unwrap();
    let addr = listener.local_addr().unwrap();
    // std's signature takes `&SocketAddr`: code written for it still compiles.
    #[allow(clippy::needless_borrows_for_generic_args)]
    let conn3 = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    drop((conn, conn2, conn3));
    assert_eq!(
        TcpStream::connect_timeout(addr, Duration::ZERO)
            .unwrap_err()
            .kind(),
        io::ErrorKind::InvalidInput
    );

    // A listener that never accepts, with a backlog of 0: once its queue is full, the
    // kernel drops SYNs and connecting hangs until the timeout.
    let full = TcpListener::bind_with_backlog("127.0.0.1:0", 0).unwrap();
    let addr = full.local_addr().unwrap();
    let mut kept = Vec::new();
    let mut timed_out = None;
    for _ in 0..8 {
        let start = Instant::now();
        match TcpStream::connect_timeout(addr, Duration::from_millis(300)) {
            Ok(c) => kept.push(c),
            Err(e) => {
                timed_out = Some((e, start.elapsed()));
                break;
            }
        }
    }
    let (e, took) = timed_out.expect("a connect to a full backlog times out");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn sockref_reaches_options_sprout_does_not_wrap() {
    let (client, _server) = support::tcp_pair();
    SockRef::from(&client).set_tos(0x10).unwrap();
    assert_eq!(SockRef::from(&client).tos().unwrap(), 0x10);
    // The same kernel socket: an option set through sprout reads back through SockRef.
    client.set_keepalive(true).unwrap();
    assert!(SockRef::from(&client).keepalive().unwrap());
}
