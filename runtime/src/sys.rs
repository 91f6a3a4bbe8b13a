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
