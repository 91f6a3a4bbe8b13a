//! The wait list every cross-thread primitive stands on (`ThreadEvent`, `ThreadAsyncResult`,
//! the thread channel): a FIFO of waiters that may be greenlets on any hub or plain OS
//! threads, kept inside the primitive's own `parking_lot::Mutex`.
//!
//! # Protocol
//!
//! - **Under the primitive's lock.** The list lives in the state its primitive's mutex
//!   protects; every step below that touches it holds that lock, briefly.
//! - **Park.** [`park`] checks nothing: the caller has checked its condition under the lock.
//!   It pushes an entry for the current greenlet (a [`RemoteWait`] on its hub, so the hub
//!   blocks in epoll instead of declaring LoopExit) or, on a thread without a hub, for the
//!   thread itself (a flag and a condvar of its own); then it releases the lock, waits, and
//!   takes the lock back before it returns, like `Condvar::wait`.
//! - **Notify.** A notifier removes entries under the lock ([`ThreadWaitList::pop`],
//!   [`ThreadWaitList::take_all`]) and wakes them after releasing it ([`Target::wake`]): a
//!   greenlet through its hub's completion queue and notifier, a thread through its condvar.
//! - **Notified means removed.** On return the waiter removes its own entry; if a notifier had
//!   removed it first, the waiter was notified ([`Parked::notified`]), whatever woke it
//!   (a notification can race with its deadline, a kill or a `Timeout` scope). Where the
//!   notification itself completes the operation (an event set, a result set), the
//!   primitive reports success and leaves the kill or `Timeout` pending for the next blocking
//!   call (the [waiter protocol](crate::waiter)'s rule). Where it only says an item is
//!   there for somebody (the thread channel), a notified waiter that leaves anyway passes the
//!   notification on to the next waiter, so a notify-one is never lost; broadcasts leave
//!   nobody to pass it to.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::hub;
use crate::remote::{RemoteWait, RemoteWaker};
use crate::waiter::{Interrupt, Waiter};

/// Who a notification wakes.
pub(crate) enum Target {
    /// A greenlet (or root code) parked on some hub.
    Greenlet(RemoteWaker),
    /// An OS thread without a hub, blocked on its own signal.
    Thread(Arc<ThreadSignal>),
}

impl Target {
    /// Wakes the waiter. Call it after releasing the primitive's lock.
    pub(crate) fn wake(self) {
        match self {
            Target::Greenlet(w) => w.wake(),
            Target::Thread(s) => s.wake(),
        }
    }
}

/// Wakes every target, in list order. Call it after releasing the primitive's lock.
pub(crate) fn wake_all(targets: Vec<Target>) {
    for t in targets {
        t.wake();
    }
}

/// A blocked OS thread's wake-up flag.
#[derive(Default)]
pub(crate) struct ThreadSignal {
    /// Set once by the notifier.
    woken: Mutex<bool>,
    /// The waiting thread blocks here until `woken`.
    cond: Condvar,
}

impl ThreadSignal {
    fn wake(&self) {
        *self.woken.lock() = true;
        self.cond.notify_one();
    }

    /// Blocks until woken or `deadline`; returns whether it was woken.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut woken = self.woken.lock();
        while !*woken {
            match deadline {
                None => self.cond.wait(&mut woken),
                Some(d) => {
                    if self.cond.wait_until(&mut woken, d).timed_out() {
                        break;
                    }
                }
            }
        }
        *woken
    }
}

/// The waiters of one cross-thread primitive, in arrival order.
#[derive(Default)]
pub(crate) struct ThreadWaitList {
    /// Entries by id, oldest first.
    entries: VecDeque<(u64, Target)>,
    /// Id for the next entry.
    next_id: u64,
}

impl ThreadWaitList {
    /// An empty list.
    pub(crate) const fn new() -> ThreadWaitList {
        ThreadWaitList {
            entries: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Number of parked waiters.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn push(&mut self, target: Target) -> u64 {
        self.next_id += 1;
        self.entries.push_back((self.next_id, target));
        self.next_id
    }

    /// Removes entry `id`; returns whether it was still there (not notified).
    fn remove(&mut self, id: u64) -> bool {
        match self.entries.iter().position(|(i, _)| *i == id) {
            Some(pos) => {
                self.entries.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Removes the oldest waiter, to be woken after the lock is released.
    pub(crate) fn pop(&mut self) -> Option<Target> {
        self.entries.pop_front().map(|(_, t)| t)
    }

    /// Removes every waiter, to be woken after the lock is released.
    pub(crate) fn take_all(&mut self) -> Vec<Target> {
        self.entries.drain(..).map(|(_, t)| t).collect()
    }
}

/// How a [`park`] ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parked {
    /// `Ok` if woken (by the list, or spuriously); otherwise why the wait ended.
    pub(crate) result: Result<(), Interrupt>,
    /// Whether a notifier removed this waiter's entry (see the module docs).
    pub(crate) notified: bool,
}

/// Takes the entry out if the wait unwinds (a greenlet force-unwound while parked), passing
/// on a notification it had received.
struct Entry<'a, S> {
    /// The primitive's lock.
    mutex: &'a Mutex<S>,
    /// Finds the list in the locked state.
    list: fn(&mut S) -> &mut ThreadWaitList,
    /// The entry; `None` once removed.
    id: Option<u64>,
}

impl<S> Entry<'_, S> {
    /// Removes the entry with the lock held; returns whether it had been notified.
    fn remove(&mut self, state: &mut S) -> bool {
        match self.id.take() {
            Some(id) => !(self.list)(state).remove(id),
            None => false,
        }
    }
}

impl<S> Drop for Entry<'_, S> {
    fn drop(&mut self) {
        if self.id.is_some() {
            let mut state = self.mutex.lock();
            let next = self
                .remove(&mut state)
                .then(|| (self.list)(&mut state).pop());
            drop(state);
            if let Some(Some(t)) = next {
                t.wake();
            }
        }
    }
}

/// Parks the current greenlet (or, on a thread without a hub, the thread) on the list that
/// `list` finds in the locked state, until notified, `deadline` passes, or (greenlets only)
/// an interrupt arrives. Releases the lock while parked and holds it again on return.
pub(crate) fn park<'a, S>(
    mut guard: MutexGuard<'a, S>,
    list: fn(&mut S) -> &mut ThreadWaitList,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, S>, Parked) {
    let mutex = MutexGuard::mutex(&guard);
    if hub::alive() {
        // The first cross-thread wait of a hub makes its reactor and notifier, here under the
        // primitive's lock; later waits only take a slot in the hub's slab.
        let waiter = Waiter::new();
        let wait = RemoteWait::new(waiter.waker());
        let id = list(&mut guard).push(Target::Greenlet(wait.remote_waker()));
        let mut entry = Entry {
            mutex,
            list,
            id: Some(id),
        };
        drop(guard);
        crate::run_info::waits_on(crate::run_info::WaitsOn::CrossThread);
        let result = waiter.wait(deadline);
        let mut guard = mutex.lock();
        let notified = entry.remove(&mut guard);
        drop(wait);
        (guard, Parked { result, notified })
    } else {
        let signal = Arc::new(ThreadSignal::default());
        let id = list(&mut guard).push(Target::Thread(signal.clone()));
        let mut entry = Entry {
            mutex,
            list,
            id: Some(id),
        };
        drop(guard);
        let woken = signal.wait(deadline);
        let mut guard = mutex.lock();
        let notified = entry.remove(&mut guard);
        let result = if woken || notified {
            Ok(())
        } else {
            Err(Interrupt::TimedOut)
        };
        (guard, Parked { result, notified })
    }
}
