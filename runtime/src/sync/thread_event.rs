//! `ThreadEvent`: an [`Event`](crate::sync::Event) that any thread can set and wait on.
//!
//! ```
//! use std::time::Duration;
//! use sprout::sync::ThreadEvent;
//!
//! let ready = ThreadEvent::new();
//! let r = ready.clone();
//! let setter = std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_millis(20));
//!     r.set(); // wakes the greenlet below through its hub's notifier
//! });
//! let waiter = {
//!     let ready = ready.clone();
//!     sprout::spawn(move || ready.wait().map(|()| "woken"))
//! };
//! assert_eq!(waiter.join().unwrap(), Ok("woken"));
//! setter.join().unwrap();
//! ```
//!
//! Semantics are `Event`'s: `set` wakes everyone waiting at that moment, and each returns `Ok`
//! even if the flag is cleared again before it runs. A greenlet that waits parks only itself
//! (its hub runs others, and counts the wait as a cross-thread wait: no LoopExit while it
//! lasts, since another thread may set the event). A thread without a hub blocks. Built on the
//! cross-thread wait list (see `thread_wait_list`) under one `parking_lot::Mutex`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::thread_wait_list::{park, wake_all, ThreadWaitList};
use crate::waiter::{raise, WaitError};

/// The state under the event's lock.
struct State {
    /// The flag; written by `set` and `clear`.
    flag: bool,
    /// Greenlets and threads parked in `wait`; `set` wakes them all.
    waiters: ThreadWaitList,
}

/// A settable flag that greenlets on any hub, and plain threads, can wait on. `Send + Sync`;
/// cheap to clone, clones share the flag.
#[derive(Clone)]
pub struct ThreadEvent {
    /// The shared state.
    inner: Arc<Mutex<State>>,
}

impl ThreadEvent {
    /// A new, unset event.
    pub fn new() -> ThreadEvent {
        ThreadEvent {
            inner: Arc::new(Mutex::new(State {
                flag: false,
                waiters: ThreadWaitList::new(),
            })),
        }
    }

    /// Sets the flag and wakes every waiter, on whatever thread it waits. Never blocks.
    pub fn set(&self) {
        let woken = {
            let mut st = self.inner.lock();
            st.flag = true;
            st.waiters.take_all()
        };
        wake_all(woken);
    }

    /// Clears the flag; later waits park until the next `set`.
    pub fn clear(&self) {
        self.inner.lock().flag = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.lock().flag
    }

    /// Waits until the flag is set (at once if it is): a greenlet parks, a thread without a
    /// hub blocks. Kill and `Timeout` scopes unwind through a greenlet's wait.
    ///
    /// Never returns LoopExit: another thread may always set the event.
    ///
    /// # Errors
    ///
    /// None in practice: without a deadline the wait ends only when the flag is set (a kill or
    /// `Timeout` scope unwinds a greenlet's wait instead).
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_deadline(None)
    }

    /// Like [`wait`](Self::wait) but gives up after `timeout` with [`WaitError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes before the flag is set.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_deadline(crate::time::deadline_after(timeout))
    }

    /// Waiters parked in `wait`, greenlets and threads.
    pub fn waiting(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        let mut st = self.inner.lock();
        loop {
            if st.flag {
                return Ok(());
            }
            let (next, parked) = park(st, |s| &mut s.waiters, deadline);
            st = next;
            match parked.result {
                // Woken by a `set`: done, whatever the flag says now, even if the deadline
                // passed, or a kill or `Timeout` scope arrived (it stays pending for the next
                // blocking call), before this waiter ran.
                _ if parked.notified => return Ok(()),
                Ok(()) => {}
                // Not notified: kill and `Timeout` win; a broadcast has nobody to be passed
                // on to.
                Err(i) => {
                    drop(st);
                    return Err(raise(i));
                }
            }
        }
    }
}

impl Default for ThreadEvent {
    fn default() -> ThreadEvent {
        ThreadEvent::new()
    }
}

impl fmt::Debug for ThreadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("ThreadEvent")
            .field("set", &st.flag)
            .field("waiting", &st.waiters.len())
            .finish()
    }
}
