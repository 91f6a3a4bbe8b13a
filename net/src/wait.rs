//! Waiting on any fd: [`wait_readable`] and [`wait_writable`] (gevent's `wait_read` and
//! `wait_write`), and ending such waits: [`cancel_wait`] (gevent's `cancel_wait`).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use sprout_runtime::reactor::{self, Interest};

pub use sprout_runtime::reactor::cancel_wait;

use crate::sys;

/// Parks the calling greenlet until `fd` is readable (data, EOF, a connection to accept, or
/// an error), or `timeout` passes (`ErrorKind::TimedOut`). Returns at once if it already is.
///
/// `fd` need not belong to sprout: a pipe, a tty or another library's socket works. A kill or
/// `Timeout` scope unwinds from here as from any blocking call.
///
/// # When the fd goes away while waiting (gevent#191)
///
/// - [`cancel_wait(fd)`](cancel_wait) ends the wait with `EBADF`; call it before closing an
///   fd other greenlets may wait on.
/// - With the `monkey` feature compiled in, `close(fd)` on this thread does that by itself,
///   whether or not [`patch_all`](crate::monkey) ran: the wait fails with `EBADF`.
/// - If `fd` belongs to a sprout type that another greenlet drops, the wait fails with a
///   "closed by another greenlet" error.
/// - Otherwise (a foreign fd closed with neither), epoll forgets the fd without an event:
///   the wait lasts until `timeout`, or forever without one (the number may even be reused
///   by a new fd meanwhile). Pass a timeout, or cancel first.
///
/// # Errors
///
/// `ErrorKind::TimedOut` when `timeout` passes; `EBADF` if `fd` is negative or closed, or
/// if [`cancel_wait`] ended the wait; "closed by another greenlet" (see above); an error
/// naming the other greenlet if one already waits on `fd` in this direction (gevent's
/// `ConcurrentObjectUseError`); LoopExit (`ErrorKind::Other`) if nothing could ever wake
/// the wait; any error of `poll(2)` or `epoll_ctl(2)` on `fd`.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::time::Duration;
///
/// let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fd = reader.as_raw_fd();
/// let waiter = sprout::spawn(move || sprout::net::wait_readable(fd, Some(Duration::from_secs(5))));
/// sprout::sleep(Duration::from_millis(10)); // the waiter parks; this greenlet runs on
/// writer.write_all(b"x").unwrap();
/// waiter.join().unwrap().unwrap(); // readable now
/// drop(reader);
/// ```
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait(fd, Interest::Read, timeout)
}

/// Parks the calling greenlet until `fd` is writable, or `timeout` passes. See
/// [`wait_readable`], including what happens when the fd goes away.
///
/// # Errors
///
/// As for [`wait_readable`].
pub fn wait_writable(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait(fd, Interest::Write, timeout)
}

fn wait(fd: RawFd, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
    let deadline = timeout.and_then(sprout_runtime::time::deadline_after);
    // Level-triggered on top of edges: check the fd itself, then wait for the next event.
    loop {
        if sys::poll_ready(fd, interest == Interest::Write)? {
            return Ok(());
        }
        reactor::wait_fd(fd, interest, deadline)?;
    }
}
