//! Sleep hooks: `nanosleep`, `clock_nanosleep`, `usleep`, `sleep`. In a greenlet they park it
//! on a hub timer; anywhere else they are the real calls.
//!
//! A kill or `Timeout` that reaches a greenlet sleeping in a hook ends the sleep early and
//! the hook reports success: it cannot unwind, and failing is no option either
//! (`std::thread::sleep` asserts that `clock_nanosleep` fails only with `EINTR`, and `EINTR`
//! makes callers sleep again at once). The kill (or `Timeout`) flag stays set: the
//! greenlet's next plain sprout blocking call raises it, and its next socket call in a hook
//! fails with `ECONNABORTED`. A sleep hook entered while the flag is already set (std code
//! that went on sleeping) yields once and returns (see "Cancellation" in the `monkey` docs):
//! such a loop neither stalls the hub nor sleeps its full length.

use std::ffi::{c_int, c_uint};
use std::time::{Duration, Instant};

use libc::{clockid_t, timespec, useconds_t};

use super::patch;
use super::real;

/// Parks the current greenlet until `deadline` (or an interrupt).
fn park_until(deadline: Instant) {
    if super::cancel::pending() {
        // A kill already ended an earlier sleep and the code slept again: yield once and
        // return, so a retry loop neither stalls the hub nor sleeps its full length.
        super::cancel::yield_once();
    } else {
        // Nothing else can wake this park; a deadline rules out LoopExit.
        sprout_runtime::run_info::hooked_call("sleep");
        let _ = sprout_runtime::Waiter::new().wait(Some(deadline));
    }
}

/// The duration in a valid `timespec`; `None` for one the kernel rejects (`EINVAL`), which
/// the real call then reports.
fn duration_of(ts: &timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The reading of `clock` now.
fn clock_now(clock: clockid_t) -> Option<Duration> {
    let mut ts = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    duration_of(&ts)
}

/// Hook for `nanosleep`.
///
/// # Safety
/// libc's contract for `nanosleep`: `req` valid, `rem` null or valid.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    if patch::cooperative() && !req.is_null() {
        // SAFETY: a non-null `req` is valid (the caller's contract).
        if let Some(d) = duration_of(unsafe { &*req }) {
            park_until(sprout_runtime::time::saturating_deadline(d));
            return 0;
        }
    }
    // SAFETY: forwarded.
    unsafe { real::nanosleep(req, rem) }
}

/// Hook for `clock_nanosleep` (what `std::thread::sleep` calls): relative and absolute
/// sleeps on `CLOCK_MONOTONIC`, `CLOCK_REALTIME` and `CLOCK_BOOTTIME` park the greenlet;
/// other clocks (CPU-time clocks) are the real call.
///
/// # Safety
/// libc's contract for `clock_nanosleep`.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let known = matches!(
        clock,
        libc::CLOCK_MONOTONIC | libc::CLOCK_REALTIME | libc::CLOCK_BOOTTIME
    );
    if known && patch::cooperative() && !req.is_null() {
        // SAFETY: a non-null `req` is valid (the caller's contract).
        if let Some(d) = duration_of(unsafe { &*req }) {
            let wait = if flags & libc::TIMER_ABSTIME != 0 {
                clock_now(clock).map(|now| d.saturating_sub(now))
            } else {
                Some(d)
            };
            if let Some(wait) = wait {
                park_until(sprout_runtime::time::saturating_deadline(wait));
                return 0;
            }
        }
    }
    // SAFETY: forwarded.
    unsafe { real::clock_nanosleep(clock, flags, req, rem) }
}

/// Hook for `usleep`.
///
/// # Safety
/// None beyond libc's: `usleep` takes an integer.
#[no_mangle]
pub unsafe extern "C" fn usleep(usec: useconds_t) -> c_int {
    if patch::cooperative() {
        park_until(sprout_runtime::time::saturating_deadline(
            Duration::from_micros(usec.into()),
        ));
        return 0;
    }
    // SAFETY: forwarded.
    unsafe { real::usleep(usec) }
}

/// Hook for `sleep`.
///
/// # Safety
/// None beyond libc's: `sleep` takes an integer.
#[no_mangle]
pub unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    if patch::cooperative() {
        park_until(sprout_runtime::time::saturating_deadline(
            Duration::from_secs(secs.into()),
        ));
        return 0;
    }
    // SAFETY: forwarded.
    unsafe { real::sleep(secs) }
}
