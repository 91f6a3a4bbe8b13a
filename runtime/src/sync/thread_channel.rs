//! [`thread_channel`]: an unbounded multi-producer, multi-consumer channel between threads,
//! whose receivers may be greenlets (they park, their hub runs others) or plain threads.
//!
//! ```
//! use sprout::sync::thread_channel;
//!
//! let (tx, rx) = thread_channel();
//! let producers: Vec<_> = (0..2)
//!     .map(|p| {
//!         let tx = tx.clone();
//!         std::thread::spawn(move || for i in 0..50 { tx.send(p * 1000 + i).unwrap() })
//!     })
//!     .collect();
//! drop(tx); // the channel disconnects once the producers' senders are gone
//! let consumer = sprout::spawn(move || rx.iter().count());
//! assert_eq!(consumer.join().unwrap(), 100);
//! for p in producers {
//!     p.join().unwrap();
//! }
//! ```
//!
//! The API is `std::sync::mpsc`'s, with its error types, and both ends clone. `send` never
//! blocks; `recv` returns the oldest item, waits while the channel is empty, and fails with
//! `RecvError` once it is empty and every sender is gone. Items wait in a `VecDeque` under
//! one `parking_lot::Mutex`; each `send` wakes the oldest parked receiver (see
//! `thread_wait_list`), and a receiver that was woken but leaves (killed, or its `Timeout`
//! scope expired) passes the wake-up on. A greenlet's `recv` counts as a cross-thread wait:
//! no LoopExit while it lasts.

use std::collections::VecDeque;
use std::fmt;
use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::thread_wait_list::{park, wake_all, ThreadWaitList};
use crate::waiter::{raise, Interrupt};

/// The state under the channel's lock.
struct State<T> {
    /// Items sent and not yet received, oldest first.
    items: VecDeque<T>,
    /// Live `ThreadSender` handles; the channel disconnects when it reaches 0.
    senders: usize,
    /// Live `ThreadReceiver` handles; sends fail when it reaches 0.
    receivers: usize,
    /// Receivers parked in `recv`.
    waiters: ThreadWaitList,
}

/// Makes an unbounded channel whose ends any thread may use (see the module docs).
pub fn thread_channel<T>() -> (ThreadSender<T>, ThreadReceiver<T>) {
    let inner = Arc::new(Mutex::new(State {
        items: VecDeque::new(),
        senders: 1,
        receivers: 1,
        waiters: ThreadWaitList::new(),
    }));
    (
        ThreadSender {
            inner: inner.clone(),
        },
        ThreadReceiver { inner },
    )
}

/// The sending end of a [`thread_channel`]. `Send + Sync` when `T: Send`; clones send into
/// the same channel.
pub struct ThreadSender<T> {
    /// The shared state.
    inner: Arc<Mutex<State<T>>>,
}

impl<T> ThreadSender<T> {
    /// Queues `value` and wakes the oldest parked receiver. Never blocks. Hands the value
    /// back if every receiver is gone.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if every receiver was dropped.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let woken = {
            let mut st = self.inner.lock();
            if st.receivers == 0 {
                return Err(SendError(value));
            }
            st.items.push_back(value);
            st.waiters.pop()
        };
        if let Some(w) = woken {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for ThreadSender<T> {
    fn clone(&self) -> Self {
        self.inner.lock().senders += 1;
        ThreadSender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Drop for ThreadSender<T> {
    fn drop(&mut self) {
        let woken = {
            let mut st = self.inner.lock();
            st.senders -= 1;
            if st.senders > 0 {
                return;
            }
            st.waiters.take_all()
        };
        // The last sender is gone: every parked receiver wakes to see the disconnection.
        wake_all(woken);
    }
}

impl<T> fmt::Debug for ThreadSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadSender").finish_non_exhaustive()
    }
}

/// The receiving end of a [`thread_channel`]. `Send + Sync` when `T: Send`; clones receive
/// from the same channel, each item going to one of them.
pub struct ThreadReceiver<T> {
    /// The shared state.
    inner: Arc<Mutex<State<T>>>,
}

impl<T> ThreadReceiver<T> {
    /// Takes the oldest item, waiting while the channel is empty: a greenlet parks (kill and
    /// `Timeout` scopes unwind), a thread without a hub blocks.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_deadline(None).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv) but gives up after `timeout` with
    /// [`RecvTimeoutError::Timeout`].
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when `timeout` passes before an item comes;
    /// [`RecvTimeoutError::Disconnected`] once the channel is empty and every sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(crate::time::deadline_after(timeout))
    }

    /// Takes the oldest item if there is one; never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is queued now; [`TryRecvError::Disconnected`] if nothing
    /// is queued and every sender was dropped.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.inner.lock();
        match st.items.pop_front() {
            Some(v) => Ok(v),
            None if st.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// A blocking iterator over received items; ends when the channel disconnects.
    pub fn iter(&self) -> RecvIter<'_, T> {
        RecvIter { rx: self }
    }

    /// An iterator over the items queued now; never waits.
    pub fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.try_recv().ok())
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.inner.lock().items.len()
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut st = self.inner.lock();
        loop {
            if let Some(v) = st.items.pop_front() {
                return Ok(v);
            }
            if st.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            let (next, parked) = park(st, |s| &mut s.waiters, deadline);
            st = next;
            match parked.result {
                Ok(()) => {}
                // An item that arrived by the deadline is still taken.
                Err(Interrupt::TimedOut) => {
                    return match st.items.pop_front() {
                        Some(v) => Ok(v),
                        None if st.senders == 0 => Err(RecvTimeoutError::Disconnected),
                        None => Err(RecvTimeoutError::Timeout),
                    };
                }
                Err(i) => {
                    // Leaving with a wake-up meant for an item: pass it on.
                    let next = if parked.notified && !st.items.is_empty() {
                        st.waiters.pop()
                    } else {
                        None
                    };
                    drop(st);
                    if let Some(t) = next {
                        t.wake();
                    }
                    // Kill and `Timeout` unwind here; only code already unwinding gets back.
                    raise(i);
                    return Err(RecvTimeoutError::Timeout);
                }
            }
        }
    }
}

impl<T> Clone for ThreadReceiver<T> {
    fn clone(&self) -> Self {
        self.inner.lock().receivers += 1;
        ThreadReceiver {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Drop for ThreadReceiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut st = self.inner.lock();
            st.receivers -= 1;
            if st.receivers > 0 {
                return;
            }
            std::mem::take(&mut st.items)
        };
        // Nobody can receive them any more; dropped outside the lock.
        drop(items);
    }
}

impl<T> fmt::Debug for ThreadReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("ThreadReceiver")
            .field("queued", &st.items.len())
            .field("waiting", &st.waiters.len())
            .finish()
    }
}

/// A blocking iterator over a [`ThreadReceiver`]'s items, made by
/// [`iter`](ThreadReceiver::iter); ends when the channel disconnects.
pub struct RecvIter<'a, T> {
    /// The receiver it drains.
    rx: &'a ThreadReceiver<T>,
}

impl<T> Iterator for RecvIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> fmt::Debug for RecvIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvIter").finish_non_exhaustive()
    }
}

impl<'a, T> IntoIterator for &'a ThreadReceiver<T> {
    type Item = T;
    type IntoIter = RecvIter<'a, T>;

    fn into_iter(self) -> RecvIter<'a, T> {
        self.iter()
    }
}
