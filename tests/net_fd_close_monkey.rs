//! With the `monkey` feature compiled in, `close` of an fd a greenlet waits on wakes it with
//! `EBADF`, before and after `patch_all` (issue 11, item 4; gevent#191).

use std::os::fd::IntoRawFd;
use std::time::{Duration, Instant};

use sprout::net::wait_readable;

/// A greenlet waits on a pipe's read end; another closes it with plain `libc::close`.
fn close_wakes_the_waiter() {
    let (reader, writer) = pipe();
    let fd = reader.into_raw_fd();
    let waiter = sprout::spawn(move || wait_readable(fd, Some(Duration::from_secs(5))));
    let closer = sprout::spawn(move || {
        sprout::sleep(Duration::from_millis(5));
        // SAFETY: the fd came from `into_raw_fd` and nothing else closes it.
        unsafe { libc::close(fd) };
    });
    let t = Instant::now();
    closer.join().unwrap();
    let err = waiter.join().unwrap().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(writer);
}

#[test]
fn close_wakes_a_waiter_patched_or_not() {
    // One test: patching is process-wide.
    assert!(!sprout::monkey::is_patched());
    close_wakes_the_waiter();
    sprout::monkey::patch_all();
    close_wakes_the_waiter();
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
