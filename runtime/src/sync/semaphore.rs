//! `Semaphore` and `BoundedSemaphore` (gevent's `gevent.lock.Semaphore` and
//! `BoundedSemaphore`), and the permit counter that `Mutex`, `RLock` and `Pool` share.
//!
//! ```
//! use std::time::Duration;
//! use sprout::sync::Semaphore;
//!
//! let sem = Semaphore::new(2);
//! let running = std::rc::Rc::new(std::cell::Cell::new(0));
//! let workers: Vec<_> = (0..6)
//!     .map(|_| {
//!         let (sem, running) = (sem.clone(), running.clone());
//!         sprout::spawn(move || {
//!             let _permit = sem.acquire().unwrap();
//!             running.set(running.get() + 1);
//!             assert!(running.get() <= 2);
//!             sprout::sleep(Duration::from_millis(5));
//!             running.set(running.get() - 1);
//!         })
//!     })
//!     .collect();
//! assert!(sprout::joinall(&workers, None));
//! assert_eq!(sem.available_permits(), 2);
//! ```
//!
//! # Hand-off
//!
//! A release with greenlets waiting hands its permit straight to the oldest waiter instead of
//! putting it back in the counter. So waiters are served strictly in FIFO order and a
//! greenlet that releases and re-acquires in a loop cannot starve the others: it queues behind
//! them. A waiter handed a permit that is then killed, or whose `Timeout` scope expires before
//! it runs, gives the permit back (to the next waiter, or to the counter): permits are never
//! lost.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::wait_list::WaitList;
use crate::waiter::{raise, WaitError};

/// A count of free permits and the FIFO of greenlets waiting for one.
pub(crate) struct Permits {
    /// Permits free to take.
    ///
    /// INVARIANT: non-zero only while no live waiter is queued: a release hands its permit to
    /// a live waiter before it counts one free.
    free: Cell<usize>,
    /// Greenlets waiting for a permit; a release wakes the oldest, and the wake is the permit.
    waiters: WaitList,
}

impl Permits {
    /// A counter with `n` free permits.
    pub(crate) const fn new(n: usize) -> Permits {
        Permits {
            free: Cell::new(n),
            waiters: WaitList::new(),
        }
    }

    /// Free permits now.
    pub(crate) fn free(&self) -> usize {
        self.free.get()
    }

    /// Greenlets waiting for a permit (including any that left but have not run yet).
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Takes a permit if one is free.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let n = self.free.get();
        if n > 0 {
            debug_assert!(
                !self.waiters.has_pending(),
                "a permit is free while a waiter is parked"
            );
            self.free.set(n - 1);
            true
        } else {
            false
        }
    }

    /// Takes a permit, parking until one is handed over or `deadline` passes. Kill and
    /// `Timeout` scopes unwind.
    pub(crate) fn acquire(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        if self.try_acquire() {
            return Ok(());
        }
        loop {
            crate::run_info::waits_on(crate::run_info::WaitsOn::Sync("Semaphore/Mutex"));
            let parked = self.waiters.park(None, deadline);
            match parked.result {
                Ok(()) if parked.woken => return Ok(()),
                // Spurious wake: look again, then park again (the deadline is absolute).
                Ok(()) => {
                    if self.try_acquire() {
                        return Ok(());
                    }
                }
                Err(i) => {
                    if parked.woken {
                        // Handed a permit we cannot use: give it back.
                        self.release();
                    }
                    return Err(raise(i));
                }
            }
        }
    }

    /// Returns a permit: hands it to the oldest live waiter, or counts it free.
    #[inline]
    pub(crate) fn release(&self) {
        if !self.waiters.notify_one() {
            self.free.set(self.free.get() + 1);
        }
    }
}

/// The shared state behind a semaphore handle.
struct Inner {
    /// The permits.
    permits: Permits,
    /// For a `BoundedSemaphore`, the initial count, which releases may not exceed.
    bound: Option<usize>,
}

impl Inner {
    fn release_checked(&self) -> Result<(), OverRelease> {
        if let Some(bound) = self.bound {
            // With free == bound nobody holds a permit (handed permits are held), so this
            // release has no matching acquire.
            if self.permits.free() >= bound {
                return Err(OverRelease);
            }
        }
        self.permits.release();
        Ok(())
    }
}

/// A counting semaphore for greenlets (gevent's `Semaphore`): `acquire` parks while no permit
/// is free. Cheap to clone; clones share the permits. `!Send`.
///
/// [`release`](Self::release) may add permits beyond the initial count (gevent's behaviour);
/// use [`BoundedSemaphore`] to catch that as an error.
#[derive(Clone)]
pub struct Semaphore {
    /// The shared permits.
    inner: Rc<Inner>,
}

/// A semaphore whose releases may not exceed its initial count (gevent's `BoundedSemaphore`).
/// Cheap to clone; `!Send`.
#[derive(Clone)]
pub struct BoundedSemaphore {
    /// The shared permits and the bound.
    inner: Rc<Inner>,
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`], returned on drop.
#[must_use = "the permit is released as soon as the guard is dropped"]
pub struct SemaphoreGuard {
    /// The semaphore the permit belongs to.
    inner: Rc<Inner>,
}

/// A release of a [`BoundedSemaphore`] with no matching acquire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverRelease;

impl fmt::Display for OverRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore released too many times")
    }
}

impl std::error::Error for OverRelease {}

fn deadline(timeout: Duration) -> Option<Instant> {
    crate::time::deadline_after(timeout)
}

macro_rules! semaphore_methods {
    () => {
        /// Takes a permit, parking the greenlet until one is free. Waiters are served in
        /// arrival order. Kill and `Timeout` scopes unwind through the wait.
        ///
        /// # Errors
        ///
        /// [`WaitError::LoopExit`] if nothing left in the hub could ever release one.
        pub fn acquire(&self) -> Result<SemaphoreGuard, WaitError> {
            self.inner.permits.acquire(None)?;
            Ok(self.guard())
        }

        /// Like [`acquire`](Self::acquire) but gives up after `timeout` with
        /// [`WaitError::TimedOut`].
        ///
        /// # Errors
        ///
        /// [`WaitError::TimedOut`] when `timeout` passes first; otherwise as
        /// [`acquire`](Self::acquire).
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard, WaitError> {
            self.inner.permits.acquire(deadline(timeout))?;
            Ok(self.guard())
        }

        /// Takes a permit if one is free now; never parks.
        pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
            self.inner.permits.try_acquire().then(|| self.guard())
        }

        /// Permits free now (gevent's `counter`).
        pub fn available_permits(&self) -> usize {
            self.inner.permits.free()
        }

        /// Whether no permit is free (gevent's `locked()`).
        pub fn is_locked(&self) -> bool {
            self.available_permits() == 0
        }

        /// Greenlets parked in `acquire` (may count one that timed out and has not run yet).
        pub fn waiting(&self) -> usize {
            self.inner.permits.waiting()
        }

        fn guard(&self) -> SemaphoreGuard {
            SemaphoreGuard {
                inner: self.inner.clone(),
            }
        }
    };
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            inner: Rc::new(Inner {
                permits: Permits::new(permits),
                bound: None,
            }),
        }
    }

    semaphore_methods!();

    /// Adds a permit: wakes the oldest waiter with it, or counts it free. Pairs with
    /// [`SemaphoreGuard::forget`]; may raise the count above the initial one.
    pub fn release(&self) {
        self.inner.permits.release();
    }
}

impl BoundedSemaphore {
    /// A semaphore with `permits` free permits, which is also the most it can ever have.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            inner: Rc::new(Inner {
                permits: Permits::new(permits),
                bound: Some(permits),
            }),
        }
    }

    semaphore_methods!();

    /// Returns a permit taken with [`SemaphoreGuard::forget`].
    ///
    /// # Errors
    ///
    /// [`OverRelease`] if every permit is already free (the count is unchanged).
    pub fn release(&self) -> Result<(), OverRelease> {
        self.inner.release_checked()
    }
}

impl SemaphoreGuard {
    /// Keeps the permit taken without a guard; give it back later with `release`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        // Only fails if the permit was already returned by a manual over-release; the count
        // then stays at its bound.
        let _ = self.inner.release_checked();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available_permits())
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available_permits())
            .field("bound", &self.inner.bound)
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl fmt::Debug for SemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}
