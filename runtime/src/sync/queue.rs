//! Queues between greenlets (gevent's `gevent.queue`): [`Queue`] (FIFO, unbounded or bounded),
//! [`LifoQueue`], [`PriorityQueue`] and [`JoinableQueue`]. The rendezvous
//! [`Channel`](crate::sync::Channel) is the same machinery with room for nothing.
//!
//! ```
//! use sprout::sync::Queue;
//!
//! let q = Queue::bounded(2);
//! let producer = {
//!     let q = q.clone();
//!     sprout::spawn(move || {
//!         for i in 0..5 {
//!             q.put(i).unwrap(); // parks while the queue holds 2
//!         }
//!         q.close();
//!     })
//! };
//! let got: Vec<i32> = q.iter().collect(); // ends once closed and drained
//! assert_eq!(got, [0, 1, 2, 3, 4]);
//! producer.join().unwrap();
//! ```
//!
//! # Protocol
//!
//! - **Direct hand-off.** A put that finds a getter parked hands the item straight to the
//!   oldest such getter; a get that frees room in a full queue moves the oldest parked
//!   putter's item in (or, with no room at all, takes it directly). So items never wait in
//!   the queue while a getter waits, putters never wait while there is room, nobody can barge
//!   in front of a parked greenlet, and getters and putters are each served in FIFO order.
//! - **Nothing is lost.** A getter handed an item that is killed, or whose `Timeout` scope
//!   expires, before it runs gives the item back: to the next parked getter, or to the front of
//!   the queue (it comes out next). A putter whose put times out or fails gets its item back in
//!   the [`PutError`]. A put whose item was taken, or a get that was handed an item, before
//!   its greenlet resumed reports success even if a kill or an expired `Timeout` scope
//!   reached it meanwhile; the interrupt is raised at its next blocking call (the waiter
//!   protocol's rule, [`crate::waiter`]). So `Ok` always means delivered and `Err` never does.
//! - **Close.** [`close`](Queue::close) wakes every parked greenlet. Parked and later puts
//!   fail with [`QueueError::Closed`] and get their item back; gets keep draining what the
//!   queue holds and fail with `Closed` once it is empty.
//! - **Errors instead of hangs.** Each blocking call has a `_timeout` variant, a `try_` variant
//!   that never parks, and fails with [`QueueError::LoopExit`] when nothing left in the hub
//!   could ever complete it. Kill and `Timeout` scopes unwind through the wait.
//!
//! A queue may briefly hold one item more than its bound, when a getter hands an item back
//! after putters refilled the queue.
//!
//! Handles are cheap to clone (`Rc`); clones are the same queue. `!Send`.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::wait_list::WaitList;
use crate::waiter::{raise, WaitError};

/// Why a queue operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// `try_get`: the queue is empty now.
    Empty,
    /// `try_put`: the queue is full now.
    Full,
    /// The timeout given to the call passed first.
    TimedOut,
    /// The queue was closed (for a get: closed and drained).
    Closed,
    /// Nothing left in the hub could ever complete the call (LoopExit).
    LoopExit,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueError::Empty => "queue is empty",
            QueueError::Full => "queue is full",
            QueueError::TimedOut => "timed out",
            QueueError::Closed => "queue is closed",
            QueueError::LoopExit => {
                "would block forever: nothing left in the hub could complete this queue operation \
                 (LoopExit)"
            }
        })
    }
}

impl std::error::Error for QueueError {}

impl From<WaitError> for QueueError {
    fn from(e: WaitError) -> QueueError {
        match e {
            WaitError::TimedOut => QueueError::TimedOut,
            WaitError::LoopExit => QueueError::LoopExit,
        }
    }
}

/// A put that did not complete, with the item handed back.
pub struct PutError<T> {
    /// Why: `Full`, `TimedOut`, `Closed` or `LoopExit`.
    pub error: QueueError,
    /// The item that was not put.
    pub item: T,
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "put failed: {}", self.error)
    }
}

impl<T> std::error::Error for PutError<T> {}

impl<T> From<PutError<T>> for QueueError {
    fn from(e: PutError<T>) -> QueueError {
        e.error
    }
}

/// The order items come out in.
trait Order<T> {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Removes the next item.
    fn pop(&mut self) -> Option<T>;
    /// Puts back an item that was taken but not used, so that it comes out next (for a
    /// priority queue: where its priority puts it).
    fn unget(&mut self, item: T);
    /// Items held.
    fn len(&self) -> usize;
}

/// First in, first out.
struct Fifo<T>(
    /// Oldest at the front.
    VecDeque<T>,
);

impl<T> Order<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn unget(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out.
struct Lifo<T>(
    /// Newest at the end.
    Vec<T>,
);

impl<T> Order<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn unget(&mut self, item: T) {
        self.0.push(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Lowest first.
struct Lowest<T: Ord>(
    /// A max-heap of reversed items: the lowest on top.
    BinaryHeap<Reverse<T>>,
);

impl<T: Ord> Order<T> for Lowest<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(t)| t)
    }
    fn unget(&mut self, item: T) {
        self.push(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The shared state behind every queue handle.
struct Inner<T> {
    /// The items, in the queue's order; borrowed only for one push or pop at a time.
    items: RefCell<Box<dyn Order<T>>>,
    /// The most items a put may leave in the queue; `None` for unbounded, 0 for a channel.
    capacity: Option<usize>,
    /// Set once by `close`.
    closed: Cell<bool>,
    /// Greenlets parked in `get`; a put hands its item to the oldest.
    ///
    /// INVARIANT: a live getter is parked only while `items` is empty.
    getters: WaitList<T>,
    /// Greenlets parked in `put`, each carrying its item; a get moves the oldest one's item
    /// in.
    ///
    /// INVARIANT: a live putter is parked only while `items` has no room.
    putters: WaitList<T>,
    /// Items put and not yet marked done with `task_done` (JoinableQueue).
    unfinished: Cell<usize>,
    /// Greenlets parked in `join`; woken when `unfinished` drops to zero.
    joiners: WaitList,
}

/// A FIFO queue between greenlets, unbounded ([`Queue::new`]) or bounded
/// ([`Queue::bounded`]). See the [module docs](self) for the protocol. Cheap to clone;
/// clones are the same queue. `!Send`.
pub struct Queue<T> {
    /// The shared state.
    inner: Rc<Inner<T>>,
}

fn deadline(timeout: Duration) -> Option<Instant> {
    crate::time::deadline_after(timeout)
}

impl<T: 'static> Queue<T> {
    /// An unbounded FIFO queue: `put` never parks.
    pub fn new() -> Queue<T> {
        Queue::with_order(Box::new(Fifo(VecDeque::new())), None)
    }

    /// A FIFO queue holding at most `capacity` items: `put` parks while it is full.
    /// `bounded(0)` holds nothing: a put waits for a getter, as with a
    /// [`Channel`](crate::sync::Channel).
    pub fn bounded(capacity: usize) -> Queue<T> {
        Queue::with_order(Box::new(Fifo(VecDeque::new())), Some(capacity))
    }

    fn with_order(items: Box<dyn Order<T>>, capacity: Option<usize>) -> Queue<T> {
        Queue {
            inner: Rc::new(Inner {
                items: RefCell::new(items),
                capacity,
                closed: Cell::new(false),
                getters: WaitList::with_payloads(),
                putters: WaitList::with_payloads(),
                unfinished: Cell::new(0),
                joiners: WaitList::new(),
            }),
        }
    }
}

impl<T> Queue<T> {
    /// Adds an item, parking while a bounded queue is full. Kill and `Timeout` scopes unwind.
    ///
    /// # Errors
    ///
    /// With the item handed back: [`QueueError::Closed`] if the queue is or gets
    /// closed first; [`QueueError::LoopExit`] if nothing left in the hub could ever make room.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_deadline(item, None)
    }

    /// Like [`put`](Self::put) but gives up after `timeout` with [`QueueError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`QueueError::TimedOut`] when `timeout` passes before there is room, with the item handed
    /// back; otherwise as [`put`](Self::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_deadline(item, deadline(timeout))
    }

    /// Adds an item if there is room now (or a getter waiting); never parks.
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`] or [`QueueError::Closed`], with the item handed back.
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        let inner = &*self.inner;
        if inner.closed.get() {
            return Err(PutError {
                error: QueueError::Closed,
                item,
            });
        }
        let item = match inner.getters.notify_one_with(item) {
            Ok(()) => {
                inner.accepted();
                return Ok(());
            }
            Err(item) => item,
        };
        if inner.has_room() {
            debug_assert!(
                !inner.putters.has_pending() || inner.capacity == Some(0),
                "a putter was parked while the queue had room"
            );
            inner.items.borrow_mut().push(item);
            inner.accepted();
            Ok(())
        } else {
            Err(PutError {
                error: QueueError::Full,
                item,
            })
        }
    }

    /// Removes and returns the next item, parking while the queue is empty. Kill and
    /// `Timeout` scopes unwind.
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] once the queue is closed and drained;
    /// [`QueueError::LoopExit`] if nothing left in the hub could ever put an item.
    pub fn get(&self) -> Result<T, QueueError> {
        self.get_deadline(None)
    }

    /// Like [`get`](Self::get) but gives up after `timeout` with [`QueueError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`QueueError::TimedOut`] when `timeout` passes before an item comes; otherwise as
    /// [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.get_deadline(deadline(timeout))
    }

    /// Removes the next item if there is one now; never parks.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`], or [`QueueError::Closed`] if closed and drained.
    pub fn try_get(&self) -> Result<T, QueueError> {
        let inner = &*self.inner;
        let popped = inner.items.borrow_mut().pop();
        if let Some(item) = popped {
            debug_assert!(
                !inner.getters.has_pending(),
                "an item waited in the queue while a getter was parked"
            );
            if inner.has_room() {
                if let Some(waiting) = inner.putters.take_one() {
                    inner.items.borrow_mut().push(waiting);
                    inner.accepted();
                }
            }
            return Ok(item);
        }
        // Nothing held: a parked putter (of a queue with no room at all) hands over directly.
        if let Some(waiting) = inner.putters.take_one() {
            inner.accepted();
            return Ok(waiting);
        }
        Err(if inner.closed.get() {
            QueueError::Closed
        } else {
            QueueError::Empty
        })
    }

    /// Closes the queue: wakes every parked greenlet; puts fail from now on, gets drain what
    /// is left and then fail with [`QueueError::Closed`]. Idempotent.
    pub fn close(&self) {
        let inner = &*self.inner;
        inner.closed.set(true);
        inner.getters.notify_all();
        inner.putters.notify_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Items in the queue now (gevent's `qsize`).
    pub fn len(&self) -> usize {
        self.inner.items.borrow().len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a put would park now.
    pub fn is_full(&self) -> bool {
        !self.inner.has_room()
    }

    /// The bound, or `None` if unbounded (gevent's `maxsize`).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity
    }

    /// Greenlets parked in `get` (may count one that timed out and has not run yet).
    pub fn getters_waiting(&self) -> usize {
        self.inner.getters.len()
    }

    /// Greenlets parked in `put` (same caveat).
    pub fn putters_waiting(&self) -> usize {
        self.inner.putters.len()
    }

    /// A blocking iterator: yields items as they come and ends once the queue is closed and
    /// drained.
    ///
    /// # Panics
    /// In `next`, on LoopExit (nothing left in the hub could ever put or close): failing
    /// loudly beats both hanging and pretending the stream ended.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { queue: self }
    }

    fn put_deadline(&self, item: T, deadline: Option<Instant>) -> Result<(), PutError<T>> {
        let inner = &*self.inner;
        let mut item = item;
        loop {
            match self.try_put(item) {
                Ok(()) => return Ok(()),
                Err(PutError {
                    error: QueueError::Full,
                    item: back,
                }) => item = back,
                Err(e) => return Err(e),
            }
            crate::run_info::waits_on(crate::run_info::WaitsOn::Sync("Queue (put)"));
            let parked = inner.putters.park(Some(item), deadline);
            match parked.payload {
                // A getter took it: delivered. A kill or `Timeout` that arrived since stays
                // pending for the next blocking call (see the waiter protocol).
                None => return Ok(()),
                Some(back) => {
                    item = back;
                    if let Err(i) = parked.result {
                        return Err(PutError {
                            error: raise(i).into(),
                            item,
                        });
                    }
                    // Woken by close (or spuriously): look again.
                }
            }
        }
    }

    fn get_deadline(&self, deadline: Option<Instant>) -> Result<T, QueueError> {
        let inner = &*self.inner;
        loop {
            match self.try_get() {
                Err(QueueError::Empty) => {}
                done => return done,
            }
            crate::run_info::waits_on(crate::run_info::WaitsOn::Sync("Queue (get)"));
            let parked = inner.getters.park(None, deadline);
            match (parked.payload, parked.result) {
                (Some(item), Ok(())) => return Ok(item),
                (Some(item), Err(i)) => {
                    // Handed an item we cannot take: it comes out next for someone else.
                    inner.unget(item);
                    return Err(raise(i).into());
                }
                (None, Err(i)) => return Err(raise(i).into()),
                // Woken by close (or spuriously): look again.
                (None, Ok(())) => {}
            }
        }
    }
}

impl<T> Inner<T> {
    fn has_room(&self) -> bool {
        match self.capacity {
            None => true,
            Some(c) => self.items.borrow().len() < c,
        }
    }

    /// An item entered the queue (or went straight to a getter).
    fn accepted(&self) {
        self.unfinished.set(self.unfinished.get() + 1);
    }

    /// Returns an item a getter was handed but could not take.
    fn unget(&self, item: T) {
        if let Err(item) = self.getters.notify_one_with(item) {
            self.items.borrow_mut().unget(item);
        }
    }

    fn task_done(&self) {
        let n = self.unfinished.get();
        assert!(
            n > 0,
            "sprout: task_done called more times than items were put"
        );
        self.unfinished.set(n - 1);
        if n == 1 {
            self.joiners.notify_all();
        }
    }

    fn join(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        while self.unfinished.get() > 0 {
            let parked = self.joiners.park(None, deadline);
            match parked.result {
                // It reached zero: done, even if new items came since.
                Ok(()) if parked.woken => return Ok(()),
                Ok(()) => {}
                Err(i) => return Err(raise(i)),
            }
        }
        Ok(())
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

/// Ready while a `get` would not park: an item waits, a putter waits (a channel), or the
/// queue is closed. An item handed to the armed wait goes back to the queue (see
/// `sprout::wait`), so a wait consumes nothing.
impl<T> crate::wait::Waitable for Queue<T> {
    fn is_ready(&self) -> bool {
        !self.is_empty() || self.putters_waiting() > 0 || self.is_closed()
    }

    fn arm(&self, waker: &crate::Waker) -> crate::wait::Armed<'_> {
        let mut entry = self.inner.getters.arm(waker.clone());
        crate::wait::Armed::new(move || {
            if let (_, Some(item)) = entry.collect() {
                self.inner.unget(item);
            }
        })
    }
}

impl<T: 'static> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .field("getters", &self.getters_waiting())
            .field("putters", &self.putters_waiting())
            .finish()
    }
}

/// The blocking iterator of [`Queue::iter`].
pub struct Iter<'a, T> {
    /// The queue read from.
    queue: &'a Queue<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self.queue.get() {
            Ok(item) => Some(item),
            Err(QueueError::LoopExit) => panic!(
                "sprout: iterating a queue would block forever: nothing left in the hub could \
                 put an item or close it (LoopExit)"
            ),
            Err(_) => None,
        }
    }
}

impl<'a, T> IntoIterator for &'a Queue<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Declares a queue flavour: a handle type that is a [`Queue`] with another order or extra
/// methods, reachable through `Deref`.
macro_rules! flavour {
    ($(#[$doc:meta])* $name:ident<T $(: $bound:path)?>) => {
        $(#[$doc])*
        pub struct $name<T> {
            /// The queue itself; every `Queue` method is available through `Deref`.
            queue: Queue<T>,
        }

        impl<T> Deref for $name<T> {
            type Target = Queue<T>;

            fn deref(&self) -> &Queue<T> {
                &self.queue
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name {
                    queue: self.queue.clone(),
                }
            }
        }

        impl<T: 'static $(+ $bound)?> Default for $name<T> {
            fn default() -> Self {
                $name::new()
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.queue).finish()
            }
        }

        impl<'a, T> IntoIterator for &'a $name<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;

            fn into_iter(self) -> Iter<'a, T> {
                self.queue.iter()
            }
        }
    };
}

flavour! {
    /// A last-in, first-out queue (gevent's `LifoQueue`): a [`Queue`] that hands out the newest
    /// item first. All `Queue` methods are available through `Deref`.
    ///
    /// ```
    /// let q = sprout::sync::LifoQueue::new();
    /// for i in 0..3 { q.put(i).unwrap(); }
    /// assert_eq!(q.get().unwrap(), 2);
    /// ```
    LifoQueue<T>
}

impl<T: 'static> LifoQueue<T> {
    /// An unbounded LIFO queue.
    pub fn new() -> LifoQueue<T> {
        LifoQueue {
            queue: Queue::with_order(Box::new(Lifo(Vec::new())), None),
        }
    }

    /// A LIFO queue holding at most `capacity` items.
    pub fn bounded(capacity: usize) -> LifoQueue<T> {
        LifoQueue {
            queue: Queue::with_order(Box::new(Lifo(Vec::new())), Some(capacity)),
        }
    }
}

flavour! {
    /// A queue that hands out the lowest item first (gevent's and Python's `PriorityQueue`;
    /// the opposite of `BinaryHeap`). Put `(priority, value)` tuples, or wrap in
    /// `std::cmp::Reverse` for highest first. All `Queue` methods are available through
    /// `Deref`.
    ///
    /// ```
    /// let q = sprout::sync::PriorityQueue::new();
    /// q.put((2, "later")).unwrap();
    /// q.put((1, "first")).unwrap();
    /// assert_eq!(q.get().unwrap(), (1, "first"));
    /// ```
    PriorityQueue<T: Ord>
}

impl<T: Ord + 'static> PriorityQueue<T> {
    /// An unbounded priority queue.
    pub fn new() -> PriorityQueue<T> {
        PriorityQueue {
            queue: Queue::with_order(Box::new(Lowest(BinaryHeap::new())), None),
        }
    }

    /// A priority queue holding at most `capacity` items.
    pub fn bounded(capacity: usize) -> PriorityQueue<T> {
        PriorityQueue {
            queue: Queue::with_order(Box::new(Lowest(BinaryHeap::new())), Some(capacity)),
        }
    }
}

flavour! {
    /// A FIFO queue that also counts unfinished work (gevent's `JoinableQueue`): every item
    /// put is unfinished until a consumer calls [`task_done`](JoinableQueue::task_done) for
    /// it, and [`join`](JoinableQueue::join) parks until none is. All `Queue` methods are
    /// available through `Deref`.
    ///
    /// ```
    /// use sprout::sync::JoinableQueue;
    ///
    /// let q = JoinableQueue::new();
    /// let worker = {
    ///     let q = q.clone();
    ///     sprout::spawn(move || for job in q.iter() {
    ///         let _: u32 = job;
    ///         q.task_done();
    ///     })
    /// };
    /// for job in 0..10 { q.put(job).unwrap(); }
    /// q.join().unwrap(); // every job processed
    /// assert_eq!(q.unfinished(), 0);
    /// q.close();
    /// worker.join().unwrap();
    /// ```
    JoinableQueue<T>
}

impl<T: 'static> JoinableQueue<T> {
    /// An unbounded joinable queue.
    pub fn new() -> JoinableQueue<T> {
        JoinableQueue {
            queue: Queue::new(),
        }
    }

    /// A joinable queue holding at most `capacity` items.
    pub fn bounded(capacity: usize) -> JoinableQueue<T> {
        JoinableQueue {
            queue: Queue::bounded(capacity),
        }
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one item as processed; wakes `join`ers when none is left.
    ///
    /// # Panics
    /// If called more times than items were put (Python's `ValueError`).
    pub fn task_done(&self) {
        self.queue.inner.task_done();
    }

    /// Items put and not yet marked done.
    pub fn unfinished(&self) -> usize {
        self.queue.inner.unfinished.get()
    }

    /// Parks until every item put has been marked done. Kill and `Timeout` scopes unwind.
    ///
    /// # Errors
    ///
    /// [`WaitError::LoopExit`] if nothing left in the hub could ever finish the work.
    pub fn join(&self) -> Result<(), WaitError> {
        self.queue.inner.join(None)
    }

    /// Like [`join`](Self::join) but gives up after `timeout` with [`WaitError::TimedOut`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes first; otherwise as [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.queue.inner.join(deadline(timeout))
    }
}
