//! A wait on an fd whose fd goes away ends (issue 11, item 4; gevent#191): `cancel_wait(fd)`
//! wakes the greenlets waiting on that fd with `EBADF`.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sprout::net::{cancel_wait, wait_readable, wait_writable, TcpListener, TcpStream};

const EBADF: i32 = 9;

#[test]
fn cancel_wait_ends_a_wait_readable_on_a_pipe_with_ebadf() {
    let (reader, _writer) = pipe();
    let fd = reader.as_raw_fd();
    let waiter = sprout::spawn(move || wait_readable(fd, Some(Duration::from_secs(5))));
    sprout::sleep(Duration::from_millis(5));
    assert!(!waiter.is_finished(), "parked: nothing to read");
    let t = Instant::now();
    assert_eq!(cancel_wait(fd), 1);
    let err = waiter.join().unwrap().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EBADF), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // The pipe's temporary epoll entry is gone; the fd can be waited on again.
    assert_eq!(cancel_wait(fd), 0, "nobody waits any more");
    drop(reader);
}

#[test]
fn cancel_then_close_ends_the_wait_the_gevent_191_way() {
    // The reported case: a greenlet waits on a pipe that another greenlet then closes.
    let (reader, writer) = pipe();
    let fd = reader.as_raw_fd();
    let waiter = sprout::spawn(move || wait_readable(fd, Some(Duration::from_secs(5))));
    let closer = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(5));
        cancel_wait(fd);
        drop(reader);
    });
    closer.join().unwrap();
    let err = waiter.join().unwrap().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EBADF));
    drop(writer);
}

#[test]
fn cancel_wait_wakes_both_directions_and_leaves_a_sprout_socket_usable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut c = client.try_clone().unwrap();
    let fd = c.as_raw_fd(); // a clone is a dup: its own fd
    let reader = {
        sprout::spawn(move || {
            let mut buf = [0u8; 8];
            let r = c.read(&mut buf);
            (r, c)
        })
    };
    sprout::sleep(Duration::from_millis(5));
    assert!(!reader.is_finished());
    assert_eq!(cancel_wait(fd), 1);
    let (r, mut c) = reader.join().unwrap();
    let err = r.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EBADF), "{err}");

    // The socket itself was not touched: it still reads and writes.
    server.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");

    // A writer parked on a full send buffer is woken too.
    let (rd, mut wr) = pipe();
    set_nonblocking(wr.as_raw_fd());
    while wr.write(&[0u8; 65536]).is_ok() {}
    let wfd = wr.as_raw_fd();
    let writer = sprout::spawn(move || wait_writable(wfd, Some(Duration::from_secs(5))));
    sprout::sleep(Duration::from_millis(5));
    assert_eq!(cancel_wait(wfd), 1);
    assert_eq!(
        writer.join().unwrap().unwrap_err().raw_os_error(),
        Some(EBADF)
    );
    drop((rd, wr));
}

#[test]
fn cancel_wait_with_no_waiter_does_nothing() {
    let (reader, _writer) = pipe();
    assert_eq!(cancel_wait(reader.as_raw_fd()), 0);
    assert_eq!(cancel_wait(-1), 0);
    // The fd still works for a later wait with a timeout.
    let err = wait_readable(reader.as_raw_fd(), Some(Duration::from_millis(5))).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on an fd this test owns; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// A pipe (`pipe2(O_CLOEXEC)`): read end, write end.
fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe {
        (
            std::os::fd::FromRawFd::from_raw_fd(fds[0]),
            std::os::fd::FromRawFd::from_raw_fd(fds[1]),
        )
    }
}
