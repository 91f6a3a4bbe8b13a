//! `ThreadAsyncResult<T, E>`: an [`AsyncResult`](crate::sync::AsyncResult) that any thread
//! can set and wait for.
//!
//! ```
//! use sprout::sync::ThreadAsyncResult;
//!
//! let answer: ThreadAsyncResult<u64> = ThreadAsyncResult::new();
//! let a = answer.clone();
//! let worker = std::thread::spawn(move || {
//!     let sum = (1..=100).sum();
//!     a.set(sum).unwrap(); // wakes the greenlets waiting below, on their hub
//! });
//! let readers: Vec<_> = (0..3)
//!     .map(|_| { let a = answer.clone(); sprout::spawn(move || a.get().unwrap()) })
//!     .collect();
//! for r in readers {
//!     assert_eq!(r.join().unwrap(), 5050);
//! }
//! worker.join().unwrap();
//! ```
//!
//! Semantics are `AsyncResult`'s: set once (a second `set` hands its argument back), awaited
//! by any number of waiters, each getting a clone. Greenlets park (their hub counts the wait
//! as a cross-thread wait: no LoopExit while it lasts); a thread without a hub blocks. The
//! default error type `Arc<dyn Error + Send + Sync>` holds any error and clones cheaply.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::thread_wait_list::{park, wake_all, ThreadWaitList};
use super::GetError;
use crate::waiter::{raise, WaitError};

/// The state under the result's lock.
struct State<T, E> {
    /// The outcome once set; written once by `set_result`, moved out by `take`.
    outcome: Option<Result<T, E>>,
    /// Whether an outcome was ever set (stays true after `take`).
    done: bool,
    /// Greenlets and threads parked until the outcome is set.
    waiters: ThreadWaitList,
}

/// A value or error that arrives later, once, from any thread. `Send + Sync` when `T` and
/// `E` are `Send`; cheap to clone, clones share the slot.
pub struct ThreadAsyncResult<T, E = Arc<dyn Error + Send + Sync>> {
    /// The shared state.
    inner: Arc<Mutex<State<T, E>>>,
}

impl<T, E> ThreadAsyncResult<T, E> {
    /// An empty result.
    pub fn new() -> ThreadAsyncResult<T, E> {
        ThreadAsyncResult {
            inner: Arc::new(Mutex::new(State {
                outcome: None,
                done: false,
                waiters: ThreadWaitList::new(),
            })),
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
        let woken = {
            let mut st = self.inner.lock();
            if st.done {
                return Err(outcome);
            }
            st.outcome = Some(outcome);
            st.done = true;
            st.waiters.take_all()
        };
        wake_all(woken);
        Ok(())
    }

    /// Whether the outcome is set (gevent's `ready()`).
    pub fn is_ready(&self) -> bool {
        self.inner.lock().done
    }

    /// Whether the outcome is a value (gevent's `successful()`).
    pub fn is_successful(&self) -> bool {
        matches!(self.inner.lock().outcome, Some(Ok(_)))
    }

    /// Waits until the outcome is set, without reading it. A greenlet parks (kill and
    /// `Timeout` scopes unwind); a thread without a hub blocks. Never returns LoopExit.
    ///
    /// # Errors
    ///
    /// None in practice: without a deadline the wait ends only when the outcome is set (a kill or
    /// `Timeout` scope unwinds a greenlet's wait instead).
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_deadline(None)
    }

    /// Like [`wait`](Self::wait) but gives up after `timeout` with [`WaitError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes first.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_deadline(crate::time::deadline_after(timeout))
    }

    /// Calls `f` with the outcome if it is set (and not taken), under the result's lock; never
    /// waits. `f` must not block.
    pub fn with<R>(&self, f: impl FnOnce(Option<&Result<T, E>>) -> R) -> R {
        f(self.inner.lock().outcome.as_ref())
    }

    /// Moves the outcome out, once; waits until it is set. Later getters see
    /// [`GetError::Taken`].
    ///
    /// # Errors
    ///
    /// [`GetError::Failed`] with the error it was set to; [`GetError::Taken`] if the outcome was
    /// already taken.
    pub fn take(&self) -> Result<T, GetError<E>> {
        self.wait()?;
        match self.inner.lock().outcome.take() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(GetError::Failed(e)),
            None => Err(GetError::Taken),
        }
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        let mut st = self.inner.lock();
        while !st.done {
            let (next, parked) = park(st, |s| &mut s.waiters, deadline);
            st = next;
            match parked.result {
                // Set by the time this waiter ran: the deadline, kill or `Timeout` scope lost
                // the race (a kill or scope stays pending for the next blocking call).
                Err(_) if st.done => break,
                Err(i) => {
                    drop(st);
                    return Err(raise(i));
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }
}

impl<T: Clone, E: Clone> ThreadAsyncResult<T, E> {
    /// Waits until the outcome is set and returns a clone of the value.
    ///
    /// # Errors
    ///
    /// [`GetError::Failed`] with the error it was set to; [`GetError::Taken`] after
    /// [`take`](Self::take).
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

    /// The outcome if it is set; never waits (gevent's `get(block=False)`).
    pub fn try_get(&self) -> Option<Result<T, E>> {
        self.inner.lock().outcome.clone()
    }

    fn read(&self) -> Result<T, GetError<E>> {
        match &self.inner.lock().outcome {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(e)) => Err(GetError::Failed(e.clone())),
            None => Err(GetError::Taken),
        }
    }
}

impl<T, E> Clone for ThreadAsyncResult<T, E> {
    fn clone(&self) -> Self {
        ThreadAsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T, E> Default for ThreadAsyncResult<T, E> {
    fn default() -> Self {
        ThreadAsyncResult::new()
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for ThreadAsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadAsyncResult")
            .field("outcome", &self.inner.lock().outcome)
            .finish()
    }
}
