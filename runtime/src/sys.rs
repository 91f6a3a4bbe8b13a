//! The runtime's edge to libc: the few raw calls the hub makes, each returning `io::Result`.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Calls a libc function and turns a `-1` result into the thread's `errno` as an error.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each caller passes arguments that satisfy the named libc function's contract
        // (valid fds and pointers to live buffers of the stated length).
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
#[allow(unused_imports)]
pub(crate) use syscall;

/// `epoll_wait` on `epfd` into `events`, with the timeout rounded up to whole milliseconds
/// (`None` waits indefinitely). Returns how many entries were filled.
pub(crate) fn epoll_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    };
    let cap = events.len().min(i32::MAX as usize) as i32;
    syscall!(epoll_wait(epfd, events.as_mut_ptr(), cap, ms)).map(|n| n as usize)
}

/// `epoll_ctl` with `op` (`EPOLL_CTL_ADD`, `_MOD` or `_DEL`) for `fd`, with interest `events`
/// and the key `data` reported with its events.
pub(crate) fn epoll_ctl(
    epfd: RawFd,
    op: libc::c_int,
    fd: RawFd,
    events: u32,
    data: u64,
) -> io::Result<()> {
    // For EPOLL_CTL_DEL the event is ignored; a non-null pointer keeps old kernels happy.
    let mut ev = libc::epoll_event { events, u64: data };
    syscall!(epoll_ctl(epfd, op, fd, &mut ev)).map(drop)
}

/// Deletes `fd` from the epoll instance `epfd`.
pub(crate) fn epoll_del(epfd: RawFd, fd: RawFd) -> io::Result<()> {
    epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0, 0)
}

/// A new non-blocking, close-on-exec eventfd (a counter other threads bump to wake a poll).
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    let fd = syscall!(eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))?;
    // SAFETY: `fd` was just created by eventfd and is owned by nobody else.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Adds 1 to the eventfd's counter (glibc's `eventfd_write`, which does not go through the
/// interposable `write` symbol).
pub(crate) fn eventfd_bump(fd: RawFd) -> io::Result<()> {
    syscall!(eventfd_write(fd, 1)).map(drop)
}

/// Resets the eventfd's counter; `EAGAIN` (already zero) is fine.
pub(crate) fn eventfd_clear(fd: RawFd) {
    let mut v: libc::eventfd_t = 0;
    let _ = syscall!(eventfd_read(fd, &mut v));
}

/// Closes `fd`, ignoring errors (for fds no `OwnedFd` owns: a forked child's copies of its
/// parent's epoll and eventfd).
pub(crate) fn close(fd: RawFd) {
    let _ = syscall!(close(fd));
}
