//! Synchronization between greenlets of one hub: gevent's `gevent.event`, `gevent.lock`,
//! `gevent.queue` and `gevent.pool`.
//!
//! | type | gevent | what it is |
//! | --- | --- | --- |
//! | [`Event`] | `Event` | a flag to wait on until set |
//! | [`AsyncResult`] | `AsyncResult` | a value or error, set once, awaited by many |
//! | [`Semaphore`], [`BoundedSemaphore`] | same | counting permits, FIFO hand-off |
//! | [`Mutex`] | `Lock` | a lock that owns its data, guard parks the greenlet |
//! | [`RLock`] | `RLock` | a reentrant lock owned by one greenlet |
//! | [`Queue`] | `Queue` | FIFO, unbounded or bounded, closeable |
//! | [`LifoQueue`], [`PriorityQueue`], [`JoinableQueue`] | same | other orders; `task_done`/`join` |
//! | [`Channel`] | `Channel` | a rendezvous: put waits for a getter |
//! | [`Group`], [`Pool`] | same | greenlets managed together; a pool caps how many live |
//! | [`ThreadEvent`] | `Event` | an `Event` any thread can set or wait on |
//! | [`ThreadAsyncResult`] | `AsyncResult` | an `AsyncResult` any thread can set or wait for |
//! | [`thread_channel`] | (`queue.Queue`) | an unbounded channel between threads and greenlets |
//!
//! ```
//! use sprout::sync::{Channel, Event};
//!
//! let (ch, stop) = (Channel::new(), Event::new());
//! let worker = {
//!     let (ch, stop) = (ch.clone(), stop.clone());
//!     sprout::spawn(move || {
//!         let mut sum = 0;
//!         while let Ok(n) = ch.get() { sum += n; }
//!         stop.set();
//!         sum
//!     })
//! };
//! for n in 1..=4 { ch.put(n).unwrap(); }
//! ch.close();
//! stop.wait().unwrap();
//! assert_eq!(worker.join().unwrap(), 10);
//! ```
//!
//! # Rules every type here follows
//!
//! - **One wait list.** Each type is a condition over the [`WaitList`](crate::WaitList):
//!   waiters are served in FIFO order, a waiter that times out or is killed leaves in O(1),
//!   no waiter is woken twice, and a wake-up, permit or item handed to a waiter that then
//!   leaves is passed on, never lost.
//! - **Every blocking call can fail instead of hanging**: it has a `_timeout` variant (or takes
//!   one) returning a `TimedOut` error, a non-blocking `try_` variant where that makes sense,
//!   and returns a `LoopExit` error when nothing left in the hub could ever complete it.
//! - **Kill and `Timeout` scopes unwind** through every wait, as everywhere in sprout; guards
//!   release on the way out.
//! - **Handles are cheap clones** (`Rc`): clones are the same event, queue or pool.
//!   [`Mutex`] is the exception, shaped like `std::sync::Mutex`: share it with `Rc`.
//! - Everything is `!Send`: for greenlets of one hub, except the `Thread*` types.
//!
//! # Across threads
//!
//! [`ThreadEvent`], [`ThreadAsyncResult`] and [`thread_channel`] are `Send + Sync`. Any thread
//! sets or sends on them; a greenlet waiting on one parks only itself and is woken through
//! its hub's cross-thread notifier, and a thread without a hub blocks. They keep their state
//! under a `parking_lot::Mutex`, held only for short steps, and stand on one cross-thread
//! wait list, as the types above stand on [`WaitList`](crate::WaitList). A greenlet's wait
//! on one counts as a cross-thread wait: its hub never reports LoopExit while it lasts,
//! since another thread may complete it.

mod async_result;
mod channel;
mod event;
mod mutex;
pub mod pool;
pub mod queue;
mod rlock;
mod semaphore;
mod thread_channel;
mod thread_event;
mod thread_result;
mod thread_wait_list;

pub use crate::waiter::WaitError;
pub use async_result::{AsyncResult, GetError};
pub use channel::Channel;
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use pool::{Group, Imap, ImapUnordered, Pool, SpawnError};
pub use queue::{Iter, JoinableQueue, LifoQueue, PriorityQueue, PutError, Queue, QueueError};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, OverRelease, Semaphore, SemaphoreGuard};
pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError};
pub use thread_channel::{thread_channel, RecvIter, ThreadReceiver, ThreadSender};
pub use thread_event::ThreadEvent;
pub use thread_result::ThreadAsyncResult;
