//! Cross-thread wake-ups into a hub: how another OS thread (a thread-pool worker, a thread
//! setting a `ThreadEvent`) wakes a greenlet parked on this hub, and hands it a value.
//!
//! # Protocol
//!
//! - **Register on the hub.** A greenlet (or root code) that another thread may wake registers
//!   its [`Waker`] in its hub's *remote slots*, a slab owned by the hub and never touched by
//!   other threads, through a [`RemoteWait`] guard. The guard hands out [`RemoteWaker`]s:
//!   `Send + Sync` handles made of the hub's shared [`Remote`] and the slot's index and
//!   generation. While the guard lives the hub counts one *external wait*, so it never declares
//!   LoopExit and blocks in epoll instead (see [`hub`](crate::hub)).
//! - **Post from anywhere.** [`RemoteWaker::wake`] and [`RemoteWaker::complete`] push a
//!   completion (the token and, for `complete`, a boxed value) onto the hub's completion
//!   queue: a `parking_lot::Mutex<Vec<_>>` held only for the push. A poster that found the
//!   queue empty then bumps the reactor's notifier (an eventfd in its epoll set), which wakes the hub's `epoll_wait` (or
//!   makes the next one return at once). A poster running on the hub's own thread skips the
//!   queue and the notifier and delivers directly.
//! - **Drain on the hub.** After every blocking poll, and in any other pass where the
//!   `queued` flag is up, the hub swaps the queue's vector out under the lock and delivers
//!   each completion outside it: the value goes into the slot and the slot's current waker
//!   is woken (a park epoch is woken at most once, as everywhere). A completion whose slot
//!   was released meanwhile (the wait timed out, was killed, or already finished) is stale:
//!   its value is dropped right there, on the hub's thread.
//! - **No lost wake-up.** The queue turns non-empty only with a notify that follows the push.
//!   The reactor clears the notifier only inside a poll, and every poll that may have cleared
//!   it is followed by a drain that takes the queue under its lock, so anything pushed
//!   before the clear is drained and anything pushed after the drain notifies again.
//! - **Teardown.** At thread exit the hub closes its `Remote`: the queue is emptied, and
//!   later posts drop their values on the posting thread.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::hub::{self, Hub};
use crate::waiter::Waker;

/// A value handed to a waiting greenlet by another thread.
pub(crate) type Value = Box<dyn Any + Send>;

/// Names one registration in a hub's remote slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    /// Index in `Slots::entries`.
    index: u32,
    /// The slot's generation when the registration was made; a mismatch means stale.
    gen: u32,
}

/// One posted completion.
struct Completion {
    /// The registration it is for.
    token: Token,
    /// The value handed over, if any.
    value: Option<Value>,
}

/// What the completion queue's lock protects.
struct Posted {
    /// Completions not yet drained, in posting order.
    items: Vec<Completion>,
    /// The hub's thread has exited: posts are dropped.
    closed: bool,
}

/// The part of a hub other threads can reach: its notifier and its completion queue.
pub(crate) struct Remote {
    /// The hub's reactor notifier, shared so other threads can wake its poll.
    poller: Arc<crate::reactor::Notifier>,
    /// Completions posted by other threads; pushed by posters, swapped out by the hub.
    queue: Mutex<Posted>,
    /// Raised (under the lock) by a post, lowered (under the lock) by a drain: lets the hub
    /// skip the lock in passes where nothing was posted. INVARIANT: true whenever the queue
    /// holds items (both change only under the lock).
    queued: AtomicBool,
}

impl Remote {
    /// Queues a completion and notifies the hub if the queue was empty.
    fn post(&self, token: Token, value: Option<Value>) {
        let mut q = self.queue.lock();
        if q.closed {
            drop(q);
            // The hub is gone; the value is dropped here, on the posting thread.
            drop(value);
            return;
        }
        let was_empty = q.items.is_empty();
        q.items.push(Completion { token, value });
        self.queued.store(true, Ordering::Release);
        drop(q);
        if was_empty {
            // A failing eventfd write would leave the hub asleep: fail loudly.
            if let Err(e) = self.poller.notify() {
                panic!("sprout: cannot notify a hub from another thread: {e}");
            }
        }
    }
}

/// One registered wait.
#[derive(Default)]
struct Slot {
    /// Bumped when the slot is released, so completions for an older registration are stale.
    gen: u32,
    /// Whether a registration holds the slot.
    live: bool,
    /// Wakes the registered park epoch; replaced by `RemoteWait::set_waker`.
    waker: Option<Waker>,
    /// The value it carried, until the waiter takes it.
    value: Option<Value>,
}

/// The hub's slab of registered waits.
#[derive(Default)]
struct Slots {
    /// Slots by index.
    entries: Vec<Slot>,
    /// Indices of released slots, reused first.
    free: Vec<u32>,
}

/// The hub's side of cross-thread wake-ups: a field of the hub, used only on its thread.
pub(crate) struct HubRemote {
    /// The shared half, made on first registration (it needs the reactor's poller); taken at
    /// thread exit.
    shared: RefCell<Option<Arc<Remote>>>,
    /// Registered waits; borrowed only for short steps, never across a wake.
    slots: RefCell<Slots>,
    /// The vector swapped with the queue's on each drain (keeps both capacities).
    spare: RefCell<Vec<Completion>>,
}

impl HubRemote {
    /// Nothing registered yet.
    pub(crate) fn new() -> HubRemote {
        HubRemote {
            shared: RefCell::new(None),
            slots: RefCell::new(Slots::default()),
            spare: RefCell::new(Vec::new()),
        }
    }

    /// The shared half, made on first use.
    fn shared(&self, hub: &Hub) -> Arc<Remote> {
        if let Some(r) = &*self.shared.borrow() {
            return r.clone();
        }
        let remote = Arc::new(Remote {
            poller: hub.reactor().notifier(),
            queue: Mutex::new(Posted {
                items: Vec::new(),
                closed: false,
            }),
            queued: AtomicBool::new(false),
        });
        *self.shared.borrow_mut() = Some(remote.clone());
        remote
    }

    /// Whether `remote` is this hub's shared half.
    fn owns(&self, remote: &Arc<Remote>) -> bool {
        self.shared
            .borrow()
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, remote))
    }

    /// Delivers completions posted by other threads (see the module docs). `force` takes the
    /// lock even if the `queued` flag looks down (after a blocking poll).
    #[inline]
    pub(crate) fn drain(&self, force: bool) {
        // Called on every pass: a borrow and one load when nothing was posted.
        let posted = match &*self.shared.borrow() {
            Some(remote) => force || remote.queued.load(Ordering::Acquire),
            None => false,
        };
        if posted {
            self.drain_posted();
        }
    }

    /// Takes the queue under its lock and delivers what it held.
    #[cold]
    fn drain_posted(&self) {
        let mut batch = {
            let shared = self.shared.borrow();
            let Some(remote) = &*shared else {
                return;
            };
            let mut batch = std::mem::take(&mut *self.spare.borrow_mut());
            let mut q = remote.queue.lock();
            std::mem::swap(&mut q.items, &mut batch);
            remote.queued.store(false, Ordering::Relaxed);
            batch
        };
        for c in batch.drain(..) {
            self.deliver(c.token, c.value);
        }
        *self.spare.borrow_mut() = batch;
    }

    /// Hands `value` to registration `token` and wakes it; drops the value if it is stale.
    fn deliver(&self, token: Token, value: Option<Value>) {
        let mut slots = self.slots.borrow_mut();
        let slot = slots
            .entries
            .get_mut(token.index as usize)
            .filter(|s| s.live && s.gen == token.gen);
        let Some(slot) = slot else {
            drop(slots);
            drop(value);
            return;
        };
        let extra = match value {
            Some(v) if slot.value.is_none() => {
                slot.value = Some(v);
                None
            }
            other => other,
        };
        let waker = slot.waker.clone();
        drop(slots);
        drop(extra);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// In a forked child: starts a new shared half on next use. The old one is leaked: its
    /// lock may be held by a thread that does not exist in the child.
    pub(crate) fn after_fork(&self) {
        if let Some(old) = self.shared.borrow_mut().take() {
            std::mem::forget(old);
        }
    }

    /// At thread exit: closes the shared half (later posts are dropped) and forgets every
    /// registration.
    pub(crate) fn close(&self) {
        if let Some(remote) = self.shared.borrow_mut().take() {
            let items = {
                let mut q = remote.queue.lock();
                q.closed = true;
                std::mem::take(&mut q.items)
            };
            drop(items);
        }
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        drop(slots);
        self.spare.borrow_mut().clear();
    }
}

/// A wait on the current hub that another thread may complete (see the module docs). While
/// it lives, the hub does not declare LoopExit. `!Send`: it belongs to its hub's thread.
pub(crate) struct RemoteWait {
    /// This registration.
    token: Token,
    /// The hub's shared half, for making `RemoteWaker`s.
    remote: Arc<Remote>,
    /// Keeps the guard on its hub's thread.
    _not_send: PhantomData<Rc<()>>,
}

impl RemoteWait {
    /// Registers `waker` (a park epoch of the current greenlet) on the current hub.
    pub(crate) fn new(waker: Waker) -> RemoteWait {
        let hub = Hub::current();
        let remote = hub.remote.shared(hub);
        let token = {
            let mut slots = hub.remote.slots.borrow_mut();
            let index = match slots.free.pop() {
                Some(i) => i,
                None => {
                    let i = u32::try_from(slots.entries.len())
                        .expect("sprout: more than 4 billion cross-thread waits on one hub");
                    slots.entries.push(Slot::default());
                    i
                }
            };
            let slot = &mut slots.entries[index as usize];
            debug_assert!(!slot.live, "a free slot is not live");
            slot.live = true;
            slot.waker = Some(waker);
            Token {
                index,
                gen: slot.gen,
            }
        };
        hub.external_wait_begin();
        RemoteWait {
            token,
            remote,
            _not_send: PhantomData,
        }
    }

    /// A handle any thread can complete this wait with.
    pub(crate) fn remote_waker(&self) -> RemoteWaker {
        RemoteWaker {
            remote: self.remote.clone(),
            token: self.token,
        }
    }

    /// Points the registration at a new park epoch (after a spurious resume).
    pub(crate) fn set_waker(&self, waker: Waker) {
        let hub = Hub::current();
        let mut slots = hub.remote.slots.borrow_mut();
        let slot = &mut slots.entries[self.token.index as usize];
        debug_assert!(slot.live && slot.gen == self.token.gen);
        slot.waker = Some(waker);
    }

    /// Takes the value a completion handed over, if one has arrived.
    pub(crate) fn take_value(&self) -> Option<Value> {
        let hub = Hub::current();
        let mut slots = hub.remote.slots.borrow_mut();
        let slot = &mut slots.entries[self.token.index as usize];
        debug_assert!(slot.live && slot.gen == self.token.gen);
        slot.value.take()
    }
}

impl Drop for RemoteWait {
    fn drop(&mut self) {
        if !hub::alive() {
            // Thread exit: the slots are gone with the hub's contents.
            return;
        }
        let hub = Hub::current();
        let value = {
            let mut slots = hub.remote.slots.borrow_mut();
            let value = match slots.entries.get_mut(self.token.index as usize) {
                Some(slot) if slot.live && slot.gen == self.token.gen => {
                    slot.live = false;
                    slot.gen = slot.gen.wrapping_add(1);
                    slot.waker = None;
                    let v = slot.value.take();
                    slots.free.push(self.token.index);
                    v
                }
                _ => None,
            };
            value
        };
        hub.external_wait_end();
        // A value nobody took (the waiter left early) is dropped outside the borrow.
        drop(value);
    }
}

/// Completes a [`RemoteWait`] from any thread. `Send + Sync`, cheap to clone.
#[derive(Clone)]
pub(crate) struct RemoteWaker {
    /// The owning hub's shared half.
    remote: Arc<Remote>,
    /// The registration to complete.
    token: Token,
}

impl RemoteWaker {
    /// Wakes the registered greenlet.
    pub(crate) fn wake(&self) {
        self.send(None);
    }

    /// Hands `value` to the registered greenlet and wakes it. The first value wins; a value
    /// for a wait that has ended is dropped.
    pub(crate) fn complete(&self, value: Value) {
        self.send(Some(value));
    }

    fn send(&self, value: Option<Value>) {
        if hub::alive() {
            let hub = Hub::current();
            if hub.remote.owns(&self.remote) {
                hub.remote.deliver(self.token, value);
                return;
            }
        }
        self.remote.post(self.token, value);
    }
}

impl fmt::Debug for RemoteWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWaker")
            .field("slot", &self.token.index)
            .field("gen", &self.token.gen)
            .finish()
    }
}
