//! `Event`: a flag greenlets wait on until it is set (gevent's `Event`).
//!
//! ```
//! use sprout::sync::Event;
//!
//! let ready = Event::new();
//! let r = ready.clone();
//! let waiter = sprout::spawn(move || { r.wait().unwrap(); "saw it" });
//! sprout::yield_now();
//! assert!(!waiter.is_finished()); // parked on the event
//! ready.set();
//! assert_eq!(waiter.join().unwrap(), "saw it");
//! ```
//!
//! `set` wakes every greenlet waiting at that moment, and each of them returns `Ok` even if
//! the flag is cleared again before it runs (gevent's semantics, which avoid the lost-wakeup
//! race of a set followed quickly by a clear). A greenlet that starts waiting while the flag is
//! set returns at once without switching.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::wait_list::WaitList;
use crate::waiter::{raise, WaitError};

/// The shared state behind an `Event` handle.
struct Inner {
    /// The flag; written by `set` and `clear`.
    flag: Cell<bool>,
    /// Greenlets parked in `wait`; `set` wakes them all.
    waiters: WaitList,
}

/// A settable flag greenlets can wait on. Cheap to clone; clones share the flag. `!Send`.
#[derive(Clone)]
pub struct Event {
    /// The shared state.
    inner: Rc<Inner>,
}

impl Event {
    /// A new, unset event.
    pub fn new() -> Event {
        Event {
            inner: Rc::new(Inner {
                flag: Cell::new(false),
                waiters: WaitList::new(),
            }),
        }
    }

    /// Sets the flag and wakes every waiting greenlet. Does not switch.
    pub fn set(&self) {
        self.inner.flag.set(true);
        self.inner.waiters.notify_all();
    }

    /// Clears the flag; later waits park until the next `set`.
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Parks the greenlet until the flag is set (at once if it is). Kill and `Timeout` scopes
    /// unwind through the wait.
    ///
    /// # Errors
    ///
    /// [`WaitError::LoopExit`] if nothing left in the hub could ever set it.
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_deadline(None)
    }

    /// Like [`wait`](Self::wait) but gives up after `timeout` with [`WaitError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes first; otherwise as [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_deadline(crate::time::deadline_after(timeout))
    }

    /// Greenlets parked in `wait` (may count one that timed out and has not run yet).
    pub fn waiting(&self) -> usize {
        self.inner.waiters.len()
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        loop {
            if self.is_set() {
                return Ok(());
            }
            crate::run_info::waits_on(crate::run_info::WaitsOn::Sync("Event"));
            let parked = self.inner.waiters.park(None, deadline);
            match parked.result {
                // Woken by a `set`: done, whatever the flag says now.
                Ok(()) if parked.woken => return Ok(()),
                Ok(()) => {}
                // A broadcast is not passed on: a later waiter must not see an earlier set.
                Err(i) => return Err(raise(i)),
            }
        }
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiting", &self.waiting())
            .finish()
    }
}
