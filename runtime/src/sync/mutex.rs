//! `Mutex<T>`: mutual exclusion between greenlets, with a guard that parks instead of blocking
//! the thread (gevent's `Lock` guarding a value).
//!
//! Shaped like `std::sync::Mutex`: the lock owns the data and the guard derefs to it; share it
//! between greenlets with `Rc` (greenlets of one hub never run at the same time, so no `Arc`
//! and no atomics). Holding the guard across a blocking call (a sleep, a socket read) is
//! exactly what it is for: other greenlets that want it park in FIFO order.
//!
//! ```
//! use std::rc::Rc;
//! use std::time::Duration;
//! use sprout::sync::Mutex;
//!
//! let log = Rc::new(Mutex::new(Vec::new()));
//! let writers: Vec<_> = (0..3)
//!     .map(|i| {
//!         let log = log.clone();
//!         sprout::spawn(move || {
//!             let mut g = log.lock().unwrap();
//!             g.push(format!("{i} start"));
//!             sprout::sleep(Duration::from_millis(2)); // others park on the lock meanwhile
//!             g.push(format!("{i} end"));
//!         })
//!     })
//!     .collect();
//! sprout::joinall(&writers, None);
//! let log = log.lock().unwrap();
//! for pair in log.chunks(2) {
//!     assert_eq!(pair[0].replace("start", "end"), pair[1]); // never interleaved
//! }
//! ```
//!
//! There is no poisoning: a greenlet that panics or is killed while holding the guard releases
//! it as the stack unwinds, and the data stays as it left it.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::sync::semaphore::Permits;
use crate::waiter::WaitError;

/// A lock for greenlets that owns its data. `!Send`; share it with `Rc`.
pub struct Mutex<T: ?Sized> {
    /// One permit: whoever holds it may borrow `value`.
    permits: Permits,
    /// The data. Borrowed mutably exactly while a guard exists (the permit makes that
    /// exclusive, so the borrow never fails).
    value: RefCell<T>,
}

/// Access to a [`Mutex`]'s data; unlocks on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    /// The lock to release.
    mutex: &'a Mutex<T>,
    /// The borrow of the data; taken (ended) before the permit is released.
    value: Option<RefMut<'a, T>>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            permits: Permits::new(1),
            value: RefCell::new(value),
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking the greenlet while another holds the lock. Waiters get the lock in
    /// arrival order. Kill and `Timeout` scopes unwind through the wait.
    ///
    /// # Errors
    ///
    /// [`WaitError::LoopExit`] if nothing left in the hub could ever unlock it (for
    /// example, the thread's root code locking twice).
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, WaitError> {
        self.permits.acquire(None)?;
        Ok(self.guard())
    }

    /// Like [`lock`](Self::lock) but gives up after `timeout` with [`WaitError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes first; otherwise as [`lock`](Self::lock).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T>, WaitError> {
        self.permits.acquire(crate::time::deadline_after(timeout))?;
        Ok(self.guard())
    }

    /// Locks if the lock is free now; never parks.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.permits.try_acquire().then(|| self.guard())
    }

    /// Whether some guard holds the lock (or it was just handed to a waiter).
    pub fn is_locked(&self) -> bool {
        self.permits.free() == 0
    }

    /// The data, through a unique reference (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            value: Some(
                self.value
                    .try_borrow_mut()
                    .expect("sprout: Mutex data borrowed without holding the lock"),
            ),
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
            .as_deref()
            .expect("guard holds the borrow until drop")
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
            .as_deref_mut()
            .expect("guard holds the borrow until drop")
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // End the borrow first: the next holder may run as soon as the permit moves on.
        self.value = None;
        self.mutex.permits.release();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.value.try_borrow() {
            Ok(v) if !self.is_locked() => d.field("data", &&*v),
            _ => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
