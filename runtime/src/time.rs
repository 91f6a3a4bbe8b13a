//! Time: `sleep`, `sleep_until`, `yield_now`, and `Timeout` scopes, all on the hub's one timer
//! queue.
//!
//! ```
//! use std::time::Duration;
//! use sprout::{spawn, sleep, with_timeout};
//!
//! let slow = spawn(|| { sleep(Duration::from_millis(50)); "done" });
//! assert!(with_timeout(Duration::from_millis(10), || sleep(Duration::from_secs(5))).is_err());
//! assert_eq!(slow.join().unwrap(), "done");
//! ```
//!
//! A `Timeout` is delivered the gevent way: when its deadline passes, the greenlet that armed
//! it is resumed at its current suspension point, which unwinds with a private payload (no
//! panic message, destructors run) up to the [`with_timeout`] scope that owns it, which
//! returns `Err(Elapsed)`. Nested scopes each catch only their own expiry.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::Hub;
use crate::task::Task;
use crate::timer::{TimerAction, TimerKey};
use crate::waiter::{park_until, raise, TimeoutSignal};

/// Blocks the current greenlet for `d`; other greenlets run meanwhile. `sleep(ZERO)` is
/// [`yield_now`].
///
/// A `d` whose deadline `Instant` cannot represent (`Duration::MAX`, say) sleeps forever, as
/// `std::thread::sleep` and gevent's `sleep(1e18)` do: the greenlet parks with no timer, and
/// only a kill or a `Timeout` scope ends it. `sleep` never returns LoopExit: root code that
/// sleeps forever with nothing else left to run blocks its thread (on a timer that never
/// comes), like gevent's.
pub fn sleep(d: Duration) {
    if d.is_zero() {
        yield_now();
    } else {
        match deadline_after(d) {
            Some(deadline) => sleep_until(deadline),
            None => sleep_forever(),
        }
    }
}

/// Parks the current greenlet for good (kill and `Timeout` unwind, as always).
fn sleep_forever() {
    crate::run_info::waits_on(crate::run_info::WaitsOn::SleepForever);
    // Nobody holds the waker: only a kill or `Timeout` end the park (they unwind, or, while
    // the stack is already unwinding, come back as an error and end the sleep as they end a
    // finite one), or LoopExit.
    if let Err(crate::WaitError::LoopExit) = park_until(None) {
        // The root, with nothing left that could wake anybody: block the thread as gevent
        // would, on timers that never come, so that `sleep` keeps its promise.
        loop {
            let far = far_deadline(Instant::now());
            let _ = park_until(Some(far));
            if Instant::now() < far {
                return; // a `Timeout` scope while unwinding (the root cannot be killed)
            }
        }
    }
}

/// The deadline `d` from now, or `None` (no deadline: wait forever) if `Instant` cannot
/// represent it, which is how std (`thread::sleep`, `recv_timeout`) and tokio read such a
/// timeout. Every sprout call that takes a timeout computes its deadline with it, so
/// `Duration::MAX` means "no deadline" everywhere (waits with nothing else to wake them can
/// then return LoopExit, as without a timeout). For sprout's own crates; not public API.
#[doc(hidden)]
#[inline]
pub fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// [`deadline_after`], for code that needs an `Instant`: a deadline `Instant` cannot
/// represent becomes one that never comes (more than a century away). For sprout's own
/// crates; not public API.
#[doc(hidden)]
#[inline]
pub fn saturating_deadline(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or_else(|| far_deadline(now))
}

/// A deadline that never comes: 2^32 s (136 years) after `now`, which every `Instant` of a
/// running system can hold (the monotonic clock counts from boot); the hub's timers saturate
/// at 584 years anyway.
fn far_deadline(now: Instant) -> Instant {
    const FAR: Duration = Duration::from_secs(1 << 32);
    now.checked_add(FAR).unwrap_or(now)
}

/// Blocks the current greenlet until `deadline`.
pub fn sleep_until(deadline: Instant) {
    // With a deadline armed neither LoopExit nor an error can happen; kill/Timeout unwind.
    crate::run_info::waits_on(crate::run_info::WaitsOn::Sleep { deadline });
    let _ = park_until(Some(deadline));
}

/// Lets every other ready greenlet run once, then continues (gevent's `sleep(0)`).
#[inline]
pub fn yield_now() {
    if let Err(i) = Hub::current().yield_now() {
        raise(i);
    }
}

/// A `Timeout` scope's deadline passed (returned by [`with_timeout`], and the payload of a
/// greenlet that let a [`Timeout`] guard expire uncaught).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// A pending deadline for the current greenlet (gevent's `Timeout`), as a guard.
///
/// While it is alive, any blocking call of the greenlet that armed it unwinds once the deadline
/// passes. Catch it with [`Timeout::catch`] or use [`with_timeout`]; uncaught, it ends the
/// greenlet, whose join reports `Panicked(Elapsed)`. Dropping the guard disarms it.
pub struct Timeout {
    /// The scope's id (unique per thread; grows with nesting).
    id: u64,
    /// Who armed it.
    task: Rc<Task>,
    /// The armed timer, if it has not fired.
    key: Option<TimerKey>,
}

impl Timeout {
    /// Arms a deadline `d` from now for the current greenlet. A `d` whose deadline `Instant`
    /// cannot represent (`Duration::MAX`) arms nothing: that scope never expires.
    pub fn start(d: Duration) -> Timeout {
        match deadline_after(d) {
            Some(deadline) => Timeout::start_at(deadline),
            None => Timeout::never(),
        }
    }

    /// A scope whose deadline never comes (`start` with a deadline past what `Instant` holds).
    fn never() -> Timeout {
        Timeout {
            id: next_scope_id(),
            task: Hub::current().current_task(),
            key: None,
        }
    }

    /// Arms a deadline at `deadline` for the current greenlet.
    pub fn start_at(deadline: Instant) -> Timeout {
        let hub = Hub::current();
        let task = hub.current_task();
        let id = next_scope_id();
        let key = hub.timers.borrow_mut().insert(
            deadline,
            TimerAction::Scope {
                task: task.clone(),
                id,
            },
        );
        Timeout {
            id,
            task,
            key: Some(key),
        }
    }

    /// Runs `f`; if this timeout's deadline passes inside it, returns `Err(Elapsed)`.
    /// Other timeouts and kills pass through.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] if this timeout's deadline passed while a blocking call inside `f` was parked
    /// (and was raised there), and also when a libc hook reported the expiry as an error that
    /// `f` turned into a value (the cancellation contract of `sprout::monkey`, "Cancellation"
    /// in its docs). A deadline that passes while `f` does not block, or after `f`'s last
    /// blocking call completed its hand-off, is not an error (see [`waiter`](crate::waiter)).
    pub fn catch<T>(&self, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            // The deadline fired inside `f` but was never raised (a libc hook reported it as
            // an error that the code turned into a value): still `Elapsed`.
            Ok(_) if self.fired_unraised() => Err(Elapsed),
            Ok(v) => Ok(v),
            Err(p) => match p.downcast::<TimeoutSignal>() {
                Ok(sig) if sig.id == self.id => Err(Elapsed),
                Ok(sig) => panic::resume_unwind(sig),
                Err(p) => panic::resume_unwind(p),
            },
        }
    }
}

impl Timeout {
    /// Whether this scope expired and its expiry is still pending (not raised); clears it.
    fn fired_unraised(&self) -> bool {
        // Only an expiry that reached `f`'s code (reported as an error by a wait or a libc
        // hook) counts: one that arrived after the last wait completed its hand-off did not
        // interrupt anything (the waiter protocol's rule).
        let fired = self
            .task
            .was_reported(crate::waiter::Interrupt::Scope(self.id));
        if fired {
            self.task.clear_scope_timeout(self.id);
        }
        fired
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if crate::hub::alive() {
                Hub::current().timers.borrow_mut().cancel(key);
            }
        }
        self.task.clear_scope_timeout(self.id);
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("id", &self.id).finish()
    }
}

/// Runs `f` with a deadline `d` from now: `Err(Elapsed)` if a blocking call inside it was
/// still blocked when the deadline passed. Nested scopes each fire for their own deadline.
///
/// # Errors
///
/// [`Elapsed`] as for [`Timeout::catch`]: a blocking call inside `f` was still parked (or parked
/// again) after the deadline, or a libc hook reported the expiry as an error (whatever a library
/// inside turned that error into: see "Cancellation" in `sprout::monkey`'s docs).
pub fn with_timeout<T>(d: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let t = Timeout::start(d);
    t.catch(f)
}

fn next_scope_id() -> u64 {
    thread_local! {
        static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    NEXT.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}
