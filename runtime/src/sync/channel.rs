//! `Channel<T>`: a rendezvous between greenlets (gevent's `Channel`): it holds no item, so a
//! `put` parks until a getter takes the item, and a `get` parks until a putter brings one.
//!
//! ```
//! use sprout::sync::Channel;
//!
//! let ch = Channel::new();
//! let tx = ch.clone();
//! let putter = sprout::spawn(move || {
//!     tx.put("ping").unwrap(); // parks until the get below takes it
//!     "delivered"
//! });
//! sprout::yield_now();
//! assert!(!putter.is_finished());
//! assert_eq!(ch.get().unwrap(), "ping");
//! assert_eq!(putter.join().unwrap(), "delivered");
//! ```
//!
//! A channel is a [`Queue`] with room for nothing (`Queue::bounded(0)`), and every `Queue`
//! method is available through `Deref`: timeouts, `try_` variants, `close`, `iter`. When a
//! getter is already parked, a put hands the item over and returns at once (the getter has
//! it; it runs on the hub's next pass). See the [queue module](crate::sync::queue) for the
//! hand-off, close and error rules, which are the same.

use std::fmt;
use std::ops::Deref;

use crate::sync::queue::{Iter, Queue};

/// A rendezvous channel between greenlets. Cheap to clone; clones are the same channel.
/// `!Send`.
pub struct Channel<T> {
    /// The queue with capacity zero underneath.
    queue: Queue<T>,
}

impl<T: 'static> Channel<T> {
    /// A new channel.
    pub fn new() -> Channel<T> {
        Channel {
            queue: Queue::bounded(0),
        }
    }
}

impl<T> Deref for Channel<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            queue: self.queue.clone(),
        }
    }
}

impl<T: 'static> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Channel").field(&self.queue).finish()
    }
}

impl<'a, T> IntoIterator for &'a Channel<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.queue.iter()
    }
}
