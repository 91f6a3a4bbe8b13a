//! `epoll_wait`, `epoll_pwait` and `epoll_pwait2` hooks: from a greenlet that may park, a
//! wait that would block parks the greenlet until the epoll fd itself is readable (an epoll
//! instance is pollable: readable while any of its fds is ready) or the timeout passes, then
//! makes the real call with a zero timeout. An event loop inside a blocking call (a tokio
//! current-thread runtime in `block_on`, mio, libuv) then lets the hub run the other
//! greenlets while it waits.
//!
//! sprout's own reactor reaches the `epoll_wait` hook too: it calls libc's `epoll_wait`
//! directly (`sprout-runtime`'s `sys::epoll_wait`), always from the hub loop, where
//! `hub::may_park` is false, so the hook forwards it after that one check (the `polling`
//! crate's own calls are raw syscalls through rustix, which no hook sees).
//!
//! The signal mask of `epoll_pwait`/`epoll_pwait2` is applied to the final real call only;
//! while the greenlet is parked, the thread's own mask applies (the hub cannot change it for
//! one greenlet). A kill or expired `Timeout` reaching the parked greenlet ends the wait with
//! `EINTR` (what a signal does; event loops treat it as "poll again", and their own code,
//! being plain Rust, then meets the pending interrupt at its next cooperative call), and a
//! wait entered while one is pending yields once and reports no events.

use std::ffi::c_int;
use std::time::{Duration, Instant};

use libc::{epoll_event, sigset_t, timespec};
use sprout_runtime::reactor::{self, Interest};
use sprout_runtime::Interrupt;

use super::cancel;
use super::patch;
use super::real;

/// Parks until `epfd` is readable or `deadline` passes; then `real_now` (the real call with
/// a zero timeout). `fallback` is the real call as the program made it, for when the hub
/// cannot wait for this fd.
fn parked(
    epfd: c_int,
    deadline: Option<Instant>,
    real_now: impl Fn() -> c_int,
    fallback: impl FnOnce() -> c_int,
) -> c_int {
    let r = real_now();
    if r != 0 {
        return r;
    }
    if cancel::pending() {
        cancel::yield_once();
        return 0;
    }
    loop {
        sprout_runtime::run_info::hooked_call("epoll_wait");
        match reactor::wait_fd_nounwind(epfd, Interest::Read, deadline) {
            Ok(Ok(())) => {
                let r = real_now();
                if r != 0 {
                    return r;
                }
                // Readiness without events (consumed meanwhile): wait again.
            }
            Ok(Err(Interrupt::TimedOut)) => return real_now(),
            Ok(Err(Interrupt::Killed | Interrupt::Scope(_))) => {
                real::set_errno(libc::EINTR);
                return -1;
            }
            Ok(Err(Interrupt::LoopExit)) | Err(_) => return fallback(),
        }
    }
}

/// The deadline of a millisecond timeout (negative: none).
fn deadline_ms(timeout: c_int) -> Option<Instant> {
    (timeout >= 0)
        .then(|| sprout_runtime::time::saturating_deadline(Duration::from_millis(timeout as u64)))
}

/// Hook for `epoll_wait`.
///
/// # Safety
/// libc's contract for `epoll_wait`: `events` valid for `max` entries.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    // SAFETY: forwarded, with the caller's arguments.
    let call = |t: c_int| unsafe { real::epoll_wait(epfd, events, max, t) };
    if timeout == 0 || max <= 0 || !patch::epoll_cooperative() {
        return call(timeout);
    }
    parked(epfd, deadline_ms(timeout), || call(0), || call(timeout))
}

/// Hook for `epoll_pwait`.
///
/// # Safety
/// libc's contract for `epoll_pwait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: forwarded, with the caller's arguments.
    let call = |t: c_int| unsafe { real::epoll_pwait(epfd, events, max, t, sigmask) };
    if timeout == 0 || max <= 0 || !patch::epoll_cooperative() {
        return call(timeout);
    }
    parked(epfd, deadline_ms(timeout), || call(0), || call(timeout))
}

/// Hook for `epoll_pwait2` (a `timespec` timeout; null: none).
///
/// # Safety
/// libc's contract for `epoll_pwait2`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut epoll_event,
    max: c_int,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    // SAFETY: a non-null timeout is valid (the caller's contract).
    let limit = (!timeout.is_null()).then(|| unsafe { *timeout });
    let valid = limit.is_none_or(|t| t.tv_sec >= 0 && (0..1_000_000_000).contains(&t.tv_nsec));
    let zero = limit.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0);
    // SAFETY: forwarded, with the caller's arguments.
    let call = |t: *const timespec| unsafe { real::epoll_pwait2(epfd, events, max, t, sigmask) };
    if zero || !valid || max <= 0 || !patch::epoll_cooperative() {
        return call(timeout);
    }
    let deadline = limit.and_then(|t| {
        sprout_runtime::time::deadline_after(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
    });
    let now = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    parked(epfd, deadline, || call(&now), || call(timeout))
}
