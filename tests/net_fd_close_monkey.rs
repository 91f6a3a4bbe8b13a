//! With the `monkey` feature compiled in, `close` of an fd a greenlet waits on wakes it with
//! `EBADF`, before and after `patch_all` (issue 11, item 4; gevent#191).

use std::os::fd::IntoRawFd;
use std::time::{Duration, Instant};

use sprout::net::wait_readable;

/// A greenlet waits on a pipe's read end; another closes it with plain `libc::close`.
fn close_wakes_the_waiter() {
    let (reader, writer) = std::io::pipe().unwrap();
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
