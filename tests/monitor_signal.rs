//! `SIGUSR1` to a server running with the monitor on makes its hub print its run info,
//! which lists the connection greenlets parked in their socket reads.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{example_path, ChildGuard};

#[test]
fn sigusr1_dumps_run_info_with_the_connection_greenlets() {
    let child = Command::new(example_path("http_hello"))
        .args(["--addr", "127.0.0.1:0"])
        // High threshold: this test wants the dump, not blocking reports.
        .env("SPROUT_MAX_BLOCKING_TIME", "2s")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn http_hello");
    let mut guard = ChildGuard { child };
    let mut out = BufReader::new(guard.child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    // Two keep-alive connections, each answered once, then idle in their next read.
    let mut conns = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "answered");
        conns.push(c);
    }

    // Collect stderr on a thread, so the test can time out instead of hanging.
    let err = guard.child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });

    // SAFETY: kill(2) on our own child's pid, which the guard has not reaped yet.
    let rc = unsafe { libc::kill(guard.pid() as i32, libc::SIGUSR1) };
    assert_eq!(rc, 0);

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut dump = Vec::new();
    let mut in_dump = false;
    while Instant::now() < deadline {
        let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        if l.starts_with("sprout run info: hub of thread") {
            in_dump = true;
        }
        if in_dump {
            dump.push(l);
            // The dump ends with the greenlet list; stop once the connections are seen.
            let conns_seen = dump
                .iter()
                .filter(|l| l.contains("spawned at net/src/server.rs:") && l.contains("fd "))
                .count();
            if conns_seen >= 2 {
                break;
            }
        }
    }
    let text = dump.join("\n");
    let conn_lines: Vec<&String> = dump
        .iter()
        .filter(|l| l.contains("spawned at net/src/server.rs:"))
        .collect();
    assert!(
        conn_lines
            .iter()
            .filter(|l| l.contains("parked, waits on fd ") && l.contains(" readable"))
            .count()
            >= 2,
        "two connection greenlets parked in their reads:\n{text}"
    );
    assert!(
        text.contains("'StreamServer 127.0.0.1:"),
        "the acceptor is listed too:\n{text}"
    );
    // The server still answers after the dump.
    conns[0]
        .write_all(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = conns[0].read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}
