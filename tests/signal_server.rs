//! Single-process graceful stop on a signal: `StreamServer::serve_until_signal` and
//! `examples/http_hello` (without `--workers`) let the request in flight finish on SIGTERM,
//! refuse new connections, and return (exit 0). Alone in its binary: it signals itself.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use http_support::Client;
use sprout::net::{StreamServer, TcpStream};

#[test]
fn stream_server_stops_gracefully_on_sigterm() {
    let server = StreamServer::bind("127.0.0.1:0", |mut conn: TcpStream, _| {
        let mut buf = [0u8; 4];
        if conn.read_exact(&mut buf).is_ok() {
            sprout::sleep(Duration::from_millis(300));
            let _ = conn.write_all(&buf);
        }
    })
    .unwrap();
    let addr = server.local_addr();
    let s = server.clone();
    let serving = sprout::spawn(move || s.serve_until_signal(Duration::from_secs(5)));
    sprout::sleep(Duration::from_millis(20));
    let client = sprout::spawn(move || -> std::io::Result<[u8; 4]> {
        let mut c = TcpStream::connect(addr)?;
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        c.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).map(|()| buf)
    });
    sprout::sleep(Duration::from_millis(100));
    // SAFETY: SIGTERM to this process, which `serve_until_signal` handles.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
    sprout::sleep(Duration::from_millis(50));
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(
        &client.join().unwrap().unwrap(),
        b"ping",
        "the request in flight finished"
    );
    serving.join().unwrap().unwrap();
    assert!(server.is_stopped());
}

#[test]
fn http_hello_without_workers_stops_gracefully_on_sigterm() {
    let (mut server, addr) = http_support::spawn_server_example("http_hello");
    let slow = sprout::spawn(move || {
        let mut c = Client::connect(addr);
        c.get("/sleep/500")?;
        c.reply()
    });
    sprout::sleep(Duration::from_millis(200));
    let term = Instant::now();
    // SAFETY: signals the child process this test started.
    let r = unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(r, 0);
    let r = slow.join().unwrap().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slept 500"));
    assert!(http_support::wait_until(Duration::from_secs(5), || {
        matches!(server.child.try_wait(), Ok(Some(_)))
    }));
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(term.elapsed() < Duration::from_secs(5));
}
