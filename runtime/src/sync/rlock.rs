//! `RLock`: a reentrant lock owned by one greenlet at a time (gevent's `RLock`).
//!
//! The greenlet that holds it may acquire it again; it is released when every guard of the
//! owner is dropped. The owner is the greenlet id ([`current_id`](crate::current_id); the
//! thread's root code is 0). Waiting greenlets get it in arrival order.
//!
//! ```
//! use sprout::sync::RLock;
//!
//! fn nested(lock: &RLock, depth: u32) -> u32 {
//!     let _g = lock.acquire().unwrap();
//!     if depth == 0 { 0 } else { 1 + nested(lock, depth - 1) }
//! }
//!
//! let lock = RLock::new();
//! assert_eq!(nested(&lock, 3), 3);
//! assert!(!lock.is_locked());
//! ```

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::current_id;
use crate::sync::semaphore::Permits;
use crate::waiter::WaitError;

/// The shared state behind an `RLock` handle.
struct Inner {
    /// One permit, held by the owner while `depth > 0`.
    permits: Permits,
    /// The owning greenlet's id; set by the acquirer once it holds the permit, cleared when
    /// the last guard drops.
    owner: Cell<Option<u64>>,
    /// How many guards the owner holds.
    depth: Cell<usize>,
}

/// A reentrant lock for greenlets. Cheap to clone; clones are the same lock. `!Send`.
#[derive(Clone)]
pub struct RLock {
    /// The shared state.
    inner: Rc<Inner>,
}

/// One acquisition of an [`RLock`]; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard {
    /// The lock.
    inner: Rc<Inner>,
}

impl RLock {
    /// An unlocked reentrant lock.
    pub fn new() -> RLock {
        RLock {
            inner: Rc::new(Inner {
                permits: Permits::new(1),
                owner: Cell::new(None),
                depth: Cell::new(0),
            }),
        }
    }

    /// Acquires the lock: at once if the current greenlet owns it already, otherwise parks
    /// until it is free. Kill and `Timeout` scopes unwind through the wait.
    ///
    /// # Errors
    ///
    /// [`WaitError::LoopExit`] if nothing left in the hub could ever release it.
    pub fn acquire(&self) -> Result<RLockGuard, WaitError> {
        self.acquire_deadline(None)
    }

    /// Like [`acquire`](Self::acquire) but gives up after `timeout` with
    /// [`WaitError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes first; otherwise as
    /// [`acquire`](Self::acquire).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard, WaitError> {
        self.acquire_deadline(crate::time::deadline_after(timeout))
    }

    /// Acquires the lock if the current greenlet owns it or it is free; never parks.
    pub fn try_acquire(&self) -> Option<RLockGuard> {
        let me = current_id();
        if self.inner.owner.get() == Some(me) {
            return Some(self.reenter());
        }
        self.inner
            .permits
            .try_acquire()
            .then(|| self.take_ownership(me))
    }

    /// Whether some greenlet holds the lock.
    pub fn is_locked(&self) -> bool {
        self.inner.permits.free() == 0
    }

    /// Whether the current greenlet holds the lock.
    pub fn is_owned(&self) -> bool {
        self.inner.owner.get() == Some(current_id())
    }

    /// The owner's acquisition depth (0 when unlocked).
    pub fn depth(&self) -> usize {
        self.inner.depth.get()
    }

    fn acquire_deadline(&self, deadline: Option<Instant>) -> Result<RLockGuard, WaitError> {
        let me = current_id();
        if self.inner.owner.get() == Some(me) {
            return Ok(self.reenter());
        }
        self.inner.permits.acquire(deadline)?;
        Ok(self.take_ownership(me))
    }

    fn reenter(&self) -> RLockGuard {
        self.inner.depth.set(self.inner.depth.get() + 1);
        RLockGuard {
            inner: self.inner.clone(),
        }
    }

    fn take_ownership(&self, me: u64) -> RLockGuard {
        debug_assert_eq!(self.inner.depth.get(), 0);
        self.inner.owner.set(Some(me));
        self.reenter()
    }
}

impl Default for RLock {
    fn default() -> RLock {
        RLock::new()
    }
}

impl Drop for RLockGuard {
    fn drop(&mut self) {
        let depth = self.inner.depth.get() - 1;
        self.inner.depth.set(depth);
        if depth == 0 {
            self.inner.owner.set(None);
            self.inner.permits.release();
        }
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("owner", &self.inner.owner.get())
            .field("depth", &self.inner.depth.get())
            .finish()
    }
}

impl fmt::Debug for RLockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}
