//! `AsyncResult<T, E>`: a value or an error, set once, that any number of greenlets wait for
//! (gevent's `AsyncResult`; a one-shot future for blocking-style code).
//!
//! ```
//! use std::time::Duration;
//! use sprout::sync::AsyncResult;
//!
//! let answer: AsyncResult<u32> = AsyncResult::new();
//! let a = answer.clone();
//! sprout::spawn(move || { sprout::sleep(Duration::from_millis(5)); a.set(42).unwrap() });
//! let readers: Vec<_> = (0..3)
//!     .map(|_| { let a = answer.clone(); sprout::spawn(move || a.get().unwrap()) })
//!     .collect();
//! for r in readers {
//!     assert_eq!(r.join().unwrap(), 42);
//! }
//! assert!(answer.is_successful());
//! ```
//!
//! The result is set once: a second `set`/`set_error` hands its argument back. Every getter
//! gets a clone, so [`get`](AsyncResult::get) needs `T: Clone` and `E: Clone` (share a large
//! value as `Rc<T>`). The default error type `Rc<dyn Error>` holds any error and clones
//! cheaply. Without `Clone`, [`wait`](AsyncResult::wait) for it and read it in place with
//! [`with`](AsyncResult::with), or move it out once with [`take`](AsyncResult::take).

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::wait_list::WaitList;
use crate::waiter::{raise, WaitError};

/// The shared state behind an `AsyncResult` handle.
struct Inner<T, E> {
    /// The outcome once set; written once by `set`/`set_error`.
    outcome: RefCell<Option<Result<T, E>>>,
    /// Whether an outcome was ever set (stays true after `take`).
    done: std::cell::Cell<bool>,
    /// Greenlets parked in `wait`/`get`; woken all at once when the outcome is set.
    waiters: WaitList,
}

/// A value or error that arrives later, once. Cheap to clone; clones share the slot. `!Send`.
pub struct AsyncResult<T, E = Rc<dyn Error>> {
    /// The shared state.
    inner: Rc<Inner<T, E>>,
}

/// Why [`AsyncResult::get`] did not return a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetError<E> {
    /// The result was set to this error.
    Failed(E),
    /// The timeout given to the call passed first.
    TimedOut,
    /// Nothing left in the hub could ever set the result (LoopExit).
    LoopExit,
    /// The value was moved out by [`AsyncResult::take`].
    Taken,
}

impl<E: fmt::Display> fmt::Display for GetError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Failed(e) => write!(f, "the result is an error: {e}"),
            GetError::TimedOut => f.write_str("timed out waiting for the result"),
            GetError::LoopExit => f.write_str(
                "would block forever: nothing left in the hub could set the result (LoopExit)",
            ),
            GetError::Taken => f.write_str("the result was already taken"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for GetError<E> {}

impl<E> From<WaitError> for GetError<E> {
    fn from(e: WaitError) -> GetError<E> {
        match e {
            WaitError::TimedOut => GetError::TimedOut,
            WaitError::LoopExit => GetError::LoopExit,
        }
    }
}

impl<T, E> AsyncResult<T, E> {
    /// An empty result.
    pub fn new() -> AsyncResult<T, E> {
        AsyncResult {
            inner: Rc::new(Inner {
                outcome: RefCell::new(None),
                done: std::cell::Cell::new(false),
                waiters: WaitList::new(),
            }),
        }
    }

    /// Sets the value and wakes every waiter. Hands `value` back if the result was already
    /// set.
    ///
    /// # Errors
    ///
    /// `Err(value)`, handing `value` back, if the outcome was already set.
    pub fn set(&self, value: T) -> Result<(), T> {
        self.set_result(Ok(value)).map_err(|r| match r {
            Ok(v) => v,
            Err(_) => unreachable!("set_result hands back what it was given"),
        })
    }

    /// Sets an error and wakes every waiter (gevent's `set_exception`). Hands `error` back if
    /// the result was already set.
    ///
    /// # Errors
    ///
    /// `Err(error)`, handing `error` back, if the outcome was already set.
    pub fn set_error(&self, error: E) -> Result<(), E> {
        self.set_result(Err(error)).map_err(|r| match r {
            Err(e) => e,
            Ok(_) => unreachable!("set_result hands back what it was given"),
        })
    }

    /// Sets the outcome and wakes every waiter; hands it back if one was already set.
    ///
    /// # Errors
    ///
    /// `Err(outcome)`, handing it back, if an outcome was already set.
    pub fn set_result(&self, outcome: Result<T, E>) -> Result<(), Result<T, E>> {
        if self.inner.done.get() {
            return Err(outcome);
        }
        *self.inner.outcome.borrow_mut() = Some(outcome);
        self.inner.done.set(true);
        self.inner.waiters.notify_all();
        Ok(())
    }

    /// Whether the outcome is set (gevent's `ready()`).
    pub fn is_ready(&self) -> bool {
        self.inner.done.get()
    }

    /// Whether the outcome is a value (gevent's `successful()`); true after `take` of one.
    pub fn is_successful(&self) -> bool {
        matches!(&*self.inner.outcome.borrow(), Some(Ok(_)))
    }

    /// Parks until the outcome is set, without reading it. Kill and `Timeout` scopes unwind.
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

    /// Calls `f` with the outcome if it is set (and not taken); never parks.
    pub fn with<R>(&self, f: impl FnOnce(Option<&Result<T, E>>) -> R) -> R {
        f(self.inner.outcome.borrow().as_ref())
    }

    /// Moves the outcome out, once; parks until it is set. Later getters see
    /// [`GetError::Taken`].
    ///
    /// # Errors
    ///
    /// [`GetError::Failed`] with the error it was set to; [`GetError::Taken`] if the outcome was
    /// already taken; [`GetError::LoopExit`] if nothing left in the hub could ever set it.
    pub fn take(&self) -> Result<T, GetError<E>> {
        self.wait()?;
        match self.inner.outcome.borrow_mut().take() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(GetError::Failed(e)),
            None => Err(GetError::Taken),
        }
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        while !self.is_ready() {
            crate::run_info::waits_on(crate::run_info::WaitsOn::Sync("AsyncResult"));
            let parked = self.inner.waiters.park(None, deadline);
            if let Err(i) = parked.result {
                return Err(raise(i));
            }
        }
        Ok(())
    }
}

impl<T: Clone, E: Clone> AsyncResult<T, E> {
    /// Parks until the outcome is set and returns a clone of the value. Kill and `Timeout`
    /// scopes unwind.
    ///
    /// # Errors
    ///
    /// [`GetError::Failed`] with the error it was set to; [`GetError::LoopExit`] if
    /// nothing left in the hub could ever set it.
    pub fn get(&self) -> Result<T, GetError<E>> {
        self.wait()?;
        self.read()
    }

    /// Like [`get`](Self::get) but gives up after `timeout` with [`GetError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`GetError::TimedOut`] when `timeout` passes first; otherwise as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError<E>> {
        self.wait_timeout(timeout)?;
        self.read()
    }

    /// The outcome if it is set; never parks (gevent's `get(block=False)`).
    pub fn try_get(&self) -> Option<Result<T, E>> {
        self.inner.outcome.borrow().clone()
    }

    fn read(&self) -> Result<T, GetError<E>> {
        match &*self.inner.outcome.borrow() {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(e)) => Err(GetError::Failed(e.clone())),
            None => Err(GetError::Taken),
        }
    }
}

impl<T, E> Clone for AsyncResult<T, E> {
    fn clone(&self) -> Self {
        AsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult::new()
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("outcome", &*self.inner.outcome.borrow())
            .finish()
    }
}
