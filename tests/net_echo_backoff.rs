//! `examples/echo.rs` backs off quietly when it runs out of fds (issue 11, item 6): under
//! `ulimit -n 64` and a flood of connections it logs the accept error once per burst, not
//! 100 times a second, and keeps serving.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the echo example with `RLIMIT_NOFILE` 64, stderr into `log`.
fn spawn_limited_echo(log: &std::path::Path) -> (support::ChildGuard, SocketAddr) {
    let stderr = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new(support::example_path("echo"));
    cmd.args(["--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    // SAFETY: `setrlimit` is async-signal-safe and touches no memory but the struct passed.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn the echo example");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (support::ChildGuard { child }, addr)
}

#[test]
fn echo_logs_running_out_of_fds_once_per_burst_and_keeps_serving() {
    let log = std::env::temp_dir().join(format!("sprout-echo-backoff-{}.log", std::process::id()));
    let (_server, addr) = spawn_limited_echo(&log);

    // Burst: 150 connections against 64 fds, held for 1.5 s while the server cannot accept.
    let mut clients = Vec::new();
    for _ in 0..150 {
        match TcpStream::connect(addr) {
            Ok(c) => clients.push(c),
            Err(_) => break, // the backlog is full: flood enough
        }
    }
    assert!(clients.len() > 64, "only {} connections", clients.len());
    std::thread::sleep(Duration::from_millis(1500));
    // The connections it did accept are served meanwhile.
    let first = &mut clients[0];
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    first.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let during = std::fs::read_to_string(&log).unwrap();

    // End the burst; a new client is served again.
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(20);
    let served = loop {
        let attempt = (|| {
            let mut c = TcpStream::connect(addr)?;
            c.set_read_timeout(Some(Duration::from_secs(2)))?;
            c.write_all(b"pong")?;
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>(buf)
        })();
        match attempt {
            Ok(buf) => break buf,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("not served after the burst: {e}"),
        }
    };
    assert_eq!(&served, b"pong");
    std::thread::sleep(Duration::from_millis(100));
    let all = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);

    let errors = during.lines().filter(|l| l.starts_with("accept:")).count();
    assert_eq!(errors, 1, "one line per burst, got:\n{during}");
    assert!(
        during
            .lines()
            .next()
            .unwrap()
            .contains("Too many open files"),
        "{during}"
    );
    // Dropping the burst frees fds while its queued connections are accepted and closed: a
    // short second burst may follow, logged once as well.
    let later = all.lines().filter(|l| l.starts_with("accept:")).count();
    assert!(later <= 3, "quiet after the burst too:\n{all}");
    assert!(all.contains("accepting again"), "{all}");
}
