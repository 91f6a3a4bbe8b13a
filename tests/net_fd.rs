//! Waiting on any fd (`wait_readable`/`wait_writable`), `FdStream` over pipes to child
//! processes, and closing an fd while another greenlet waits on it.

mod support;

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::{wait_readable, wait_writable, FdStream, UnixStream};
use support::ChildGuard;

fn child(cmd: &str, args: &[&str]) -> ChildGuard {
    ChildGuard {
        child: Command::new(cmd)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child"),
    }
}

#[test]
fn fd_stream_pumps_a_mebibyte_through_cat() {
    const LEN: usize = 1 << 20;
    let mut cat = child("cat", &[]);
    let stdin = FdStream::new(OwnedFd::from(cat.child.stdin.take().unwrap())).unwrap();
    let stdout = FdStream::new(OwnedFd::from(cat.child.stdout.take().unwrap())).unwrap();
    stdout
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let data = Rc::new(support::pattern(3, LEN));
    // The pipe holds 64 KiB: writer and reader must take turns, which only works if each
    // parks its own greenlet instead of blocking the thread.
    let writer = {
        let data = data.clone();
        sprout::spawn(move || {
            let mut w = stdin;
            w.write_all(&data)
            // dropping `w` closes cat's stdin, so cat exits and its stdout reaches EOF
        })
    };
    let mut back = Vec::new();
    (&stdout).read_to_end(&mut back).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(back.len(), LEN);
    assert!(back == *data);
}

#[test]
fn fd_stream_read_timeout_and_mode_restore() {
    let mut sleeper = child("sleep", &["10"]);
    let out = OwnedFd::from(sleeper.child.stdout.take().unwrap());
    let s = FdStream::new(out).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(s.read_timeout(), Some(Duration::from_millis(100)));
    let start = Instant::now();
    let err = (&s).read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(90));
    // Handing the fd back restores blocking mode.
    let fd = s.into_inner().unwrap();
    // SAFETY: F_GETFL on an fd we own only reads its flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK was restored");
}

#[test]
fn wait_readable_on_a_pipe_with_timeout() {
    let mut echo = child("sh", &["-c", "sleep 0.2; echo ready"]);
    let out = echo.child.stdout.take().unwrap();
    let fd = out.as_raw_fd();
    let err = wait_readable(fd, Some(Duration::from_millis(20))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let start = Instant::now();
    wait_readable(fd, Some(Duration::from_secs(30))).unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    // Level semantics: readable stays readable until the data is read.
    wait_readable(fd, Some(Duration::from_millis(1))).unwrap();
    let mut s = String::new();
    let mut out = out;
    out.read_to_string(&mut s).unwrap();
    assert_eq!(s, "ready\n");
}

#[test]
fn wait_writable_and_readable_on_a_socket_pair() {
    let (a, b) = UnixStream::pair().unwrap();
    wait_writable(a.as_raw_fd(), Some(Duration::from_secs(5))).unwrap();
    let err = wait_readable(b.as_raw_fd(), Some(Duration::from_millis(20))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let writer = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(20));
        (&a).write_all(b"x").unwrap();
        a
    });
    wait_readable(b.as_raw_fd(), Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    (&b).read_exact(&mut buf).unwrap();
    drop(writer.join().unwrap());
}

#[test]
fn wait_readable_on_a_regular_file_returns_at_once() {
    let f = std::fs::File::open("/proc/self/stat").unwrap();
    wait_readable(f.as_raw_fd(), Some(Duration::from_secs(5))).unwrap();
    let mut s = FdStream::new(OwnedFd::from(f)).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(!text.is_empty());
}

#[test]
fn closing_an_fd_wakes_the_greenlet_waiting_on_it() {
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    // Another greenlet owns the socket and closes it while we wait on its fd.
    let closer = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(50));
        drop(a);
    });
    let start = Instant::now();
    let err = wait_readable(fd, Some(Duration::from_secs(10))).unwrap_err();
    assert!(
        err.to_string().contains("closed by another greenlet"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "woken by the close"
    );
    closer.join().unwrap();
}

#[test]
fn closing_a_socket_wakes_its_parked_reader_and_writer() {
    let (a, b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    // Fill a's send buffer so that neither direction of `a` is ready.
    a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let filler = vec![0u8; 4096];
    for _ in 0..100_000 {
        if !is_writable(&a) {
            break;
        }
        (&a).write_all(&filler).unwrap();
    }
    assert!(!is_writable(&a));
    // They start on the next pass, while this greenlet sleeps.
    let waiters: Vec<_> = [false, true]
        .into_iter()
        .map(|write| {
            sprout::spawn(move || {
                let timeout = Some(Duration::from_secs(10));
                if write {
                    wait_writable(fd, timeout)
                } else {
                    wait_readable(fd, timeout)
                }
            })
        })
        .collect();
    sprout::sleep(Duration::from_millis(20));
    assert!(waiters.iter().all(|w| !w.is_finished()), "both parked");
    drop(a);
    for w in waiters {
        let err = w.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("closed"), "{err}");
    }
    drop(b);
}

fn is_writable(s: &UnixStream) -> bool {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) };
    p.revents & libc::POLLOUT != 0
}
