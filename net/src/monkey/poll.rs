//! `poll` and `select` hooks. In a greenlet, a call that would block parks the greenlet
//! instead; anywhere else, and with a zero timeout, they are the real calls.
//!
//! A parked `poll` first asks the real `poll` with a zero timeout; if nothing is ready it
//! builds a private, level-triggered epoll set of the fds and parks on that set's own fd
//! (an epoll fd is readable while any of its fds is ready), then asks the real `poll` again
//! for the exact `revents`. The private set leaves the fds' own registrations alone, so a
//! greenlet may poll a socket another greenlet reads. `select` is the same on a `pollfd` list
//! built from its sets.

use std::ffi::c_int;
use std::time::{Duration, Instant};

use libc::{fd_set, nfds_t, pollfd, timeval};
use sprout_runtime::reactor::{self, Interest};
use sprout_runtime::{Interrupt, Waiter};

use super::blocking::{self, timeout_ms};
use super::cancel;
use super::patch;
use super::real;

/// The readiness `select` reports as readable (the kernel's `POLLIN_SET`).
const SELECT_READ: i16 =
    libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR;
/// The readiness `select` reports as writable (`POLLOUT_SET`).
const SELECT_WRITE: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR;
/// The readiness `select` reports as exceptional (`POLLEX_SET`).
const SELECT_EXCEPT: i16 = libc::POLLPRI;

/// A private epoll set, closed (with the real `close`) when dropped.
struct EpollSet {
    /// The epoll fd.
    fd: c_int,
}

impl EpollSet {
    fn new() -> Option<EpollSet> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // A registration of this thread left behind under the same number by a socket closed
        // behind the hooks' back would capture the wait below: drop it.
        blocking::forget(fd);
        Some(EpollSet { fd })
    }

    /// Adds the fds of `fds`, each with the union of the events asked for it.
    fn watch(&self, fds: &[pollfd]) -> bool {
        for (i, p) in fds.iter().enumerate() {
            if p.fd < 0 {
                continue;
            }
            let events = |p: &pollfd| p.events as u16 as u32;
            let mut ev = libc::epoll_event {
                events: events(p),
                u64: 0,
            };
            // SAFETY: a valid epoll fd and event.
            let mut r = unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, p.fd, &mut ev) };
            if r != 0 && real::errno() == libc::EEXIST {
                // The same fd listed twice: watch the union.
                ev.events = fds[..i]
                    .iter()
                    .filter(|q| q.fd == p.fd)
                    .fold(events(p), |acc, q| acc | events(q));
                // SAFETY: as above.
                r = unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_MOD, p.fd, &mut ev) };
            }
            if r != 0 {
                return false;
            }
        }
        true
    }
}

impl Drop for EpollSet {
    fn drop(&mut self) {
        // SAFETY: the set's own fd, closed once.
        unsafe { real::close(self.fd) };
    }
}

/// `poll` in a greenlet: parks until an fd is ready or `deadline` passes.
///
/// # Safety
/// `fds` valid for `nfds` entries (null if 0).
unsafe fn poll_parked(fds: *mut pollfd, nfds: nfds_t, deadline: Option<Instant>) -> c_int {
    // SAFETY: the caller's array, and a zero timeout.
    let r = unsafe { real::poll(fds, nfds, 0) };
    if r != 0 {
        return r;
    }
    // SAFETY: forwarded, blocking the thread: the fallback when the hub cannot help.
    let blocking = || unsafe { real::poll(fds, nfds, timeout_ms(deadline)) };
    if nfds == 0 {
        return match Waiter::new().wait(deadline) {
            Ok(()) | Err(Interrupt::TimedOut) => 0,
            Err(Interrupt::Killed | Interrupt::Scope(_)) => {
                real::set_errno(cancel::ERRNO);
                -1
            }
            Err(Interrupt::LoopExit) => blocking(),
        };
    }
    // SAFETY: the caller's array of `nfds` entries.
    let list = unsafe { std::slice::from_raw_parts(fds, nfds as usize) };
    let Some(set) = EpollSet::new() else {
        return blocking();
    };
    if !set.watch(list) {
        drop(set);
        return blocking();
    }
    loop {
        sprout_runtime::run_info::hooked_call("poll");
        match reactor::wait_fd_nounwind(set.fd, Interest::Read, deadline) {
            Ok(Ok(())) => {
                // SAFETY: as above.
                let r = unsafe { real::poll(fds, nfds, 0) };
                if r != 0 {
                    return r;
                }
            }
            Ok(Err(Interrupt::TimedOut)) => return 0,
            Ok(Err(Interrupt::Killed | Interrupt::Scope(_))) => {
                real::set_errno(cancel::ERRNO);
                return -1;
            }
            Ok(Err(Interrupt::LoopExit)) | Err(_) => {
                drop(set);
                return blocking();
            }
        }
    }
}

/// Hook for `poll`.
///
/// # Safety
/// libc's contract for `poll`: `fds` valid for `nfds` entries.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if timeout == 0 || !patch::cooperative() {
        // SAFETY: forwarded.
        return unsafe { real::poll(fds, nfds, timeout) };
    }
    let deadline = (timeout > 0)
        .then(|| sprout_runtime::time::saturating_deadline(Duration::from_millis(timeout as u64)));
    // SAFETY: the caller's contract.
    unsafe { poll_parked(fds, nfds, deadline) }
}

/// Hook for `select`. Like Linux's, it updates `timeout` to the time not slept.
///
/// # Safety
/// libc's contract for `select`: each set null or valid, `timeout` null or valid.
#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: a non-null `timeout` is valid (the caller's contract).
    let limit = (!timeout.is_null()).then(|| unsafe { *timeout });
    let valid = limit.is_none_or(|t| t.tv_sec >= 0 && (0..1_000_000).contains(&t.tv_usec));
    let zero = limit.is_some_and(|t| t.tv_sec == 0 && t.tv_usec == 0);
    let in_range = (0..=libc::FD_SETSIZE as c_int).contains(&nfds);
    if zero || !valid || !in_range || !patch::cooperative() {
        // SAFETY: forwarded.
        return unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
    }
    let deadline = limit.and_then(|t| {
        sprout_runtime::time::deadline_after(
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64),
        )
    });
    // SAFETY: FD_ISSET on a non-null set the caller provided, for fds below FD_SETSIZE.
    let is_set = |set: *mut fd_set, fd: c_int| !set.is_null() && unsafe { libc::FD_ISSET(fd, set) };
    let mut list: Vec<pollfd> = (0..nfds)
        .filter_map(|fd| {
            let mut events = 0;
            if is_set(readfds, fd) {
                events |= libc::POLLIN;
            }
            if is_set(writefds, fd) {
                events |= libc::POLLOUT;
            }
            if is_set(exceptfds, fd) {
                events |= libc::POLLPRI;
            }
            (events != 0).then_some(pollfd {
                fd,
                events,
                revents: 0,
            })
        })
        .collect();
    // SAFETY: a valid array of `list.len()` entries.
    let n = unsafe { poll_parked(list.as_mut_ptr(), list.len() as nfds_t, deadline) };
    if n < 0 {
        return n;
    }
    if list.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        real::set_errno(libc::EBADF);
        return -1;
    }
    let mut count = 0;
    for p in &list {
        for (set, mask) in [
            (readfds, SELECT_READ),
            (writefds, SELECT_WRITE),
            (exceptfds, SELECT_EXCEPT),
        ] {
            if set.is_null() {
                continue;
            }
            // SAFETY: a non-null set the caller provided; `p.fd < nfds <= FD_SETSIZE`.
            unsafe {
                if libc::FD_ISSET(p.fd, set) {
                    if p.revents & mask != 0 {
                        count += 1;
                    } else {
                        libc::FD_CLR(p.fd, set);
                    }
                }
            }
        }
    }
    if let (Some(d), false) = (deadline, timeout.is_null()) {
        let left = d.saturating_duration_since(Instant::now());
        // SAFETY: non-null, valid (the caller's contract).
        unsafe {
            (*timeout).tv_sec = left.as_secs() as libc::time_t;
            (*timeout).tv_usec = left.subsec_micros() as libc::suseconds_t;
        }
    }
    count
}
