//! Waiting on any fd: [`wait_readable`] and [`wait_writable`] (gevent's `wait_read` and
//! `wait_write`).

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use sprout_runtime::reactor::{self, Interest};

use crate::sys;

/// Parks the calling greenlet until `fd` is readable (data, EOF, a connection to accept, or
/// an error), or `timeout` passes (`ErrorKind::TimedOut`). Returns at once if it already is.
///
/// `fd` need not belong to sprout: a pipe, a tty or another library's socket works. It must
/// stay open while waiting; if it belongs to a sprout type that another greenlet drops
/// meanwhile, the wait fails with a "closed by another greenlet" error. A kill or `Timeout`
/// scope unwinds from here as from any blocking call.
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait(fd, Interest::Read, timeout)
}

/// Parks the calling greenlet until `fd` is writable, or `timeout` passes. See
/// [`wait_readable`].
pub fn wait_writable(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait(fd, Interest::Write, timeout)
}

fn wait(fd: RawFd, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    // Level-triggered on top of edges: check the fd itself, then wait for the next event.
    loop {
        if sys::poll_ready(fd, interest == Interest::Write)? {
            return Ok(());
        }
        reactor::wait_fd(fd, interest, deadline)?;
    }
}
