//! The one FIFO wait list every blocking primitive stands on (join, Event, Semaphore, Queue...).
//!
//! # Protocol
//!
//! - **FIFO.** Waiters queue in arrival order; a notification goes to the oldest waiter whose
//!   wake takes effect. A waiter that already left (its own deadline passed, or it was
//!   interrupted, and it has not run yet) is skipped and unlinked: a notification is never
//!   spent on it.
//! - **O(1) cancellation.** Entries live in a slab linked by index; a waiter that leaves early
//!   unlinks its own entry.
//! - **Never twice.** A notification unlinks the entry it wakes, and a park epoch is woken at
//!   most once (see [`waiter`](crate::waiter)), so no waiter is woken twice for one wait.
//! - **Payloads.** A waiter may park with a value (a putter parks with its item), and a
//!   notifier may hand a value to the waiter it wakes (a putter hands its item to a parked
//!   getter, a release hands a permit). An unlinked entry stays in the slab until its waiter
//!   collects what it holds, so a value is always with exactly one party: the notifier, the
//!   entry, or the waiter.
//! - **A notification that took effect is kept.** A waiter notified before it resumed
//!   returns `Ok` with what it was handed, even if it was killed or its `Timeout` scope
//!   expired meanwhile: the interrupt stays pending for its next blocking call (the rule is
//!   written once, in [`waiter`](crate::waiter)). A waiter interrupted first is skipped by
//!   notifiers, so its item, permit or wake-up goes to the next waiter.
//! - **No lost wake-ups.** Should a notified waiter leave with an error anyway,
//!   [`WaitList::wait`] passes the notification on to the next waiter by itself.
//!   [`WaitList::park`] is the primitive underneath: it reports `woken` and whatever payload
//!   the entry holds, and the caller gives a handed value or permit back (to the next waiter,
//!   or to its own store).
//!
//! Broadcasts (an [`Event`](crate::sync::Event) being set) use `park` and do not pass on: every
//! waiter present was woken already, and a waiter that arrived later must not see a broadcast
//! that happened before it came.

use std::cell::RefCell;
use std::time::Instant;

use crate::waiter::{raise, Interrupt, WaitError, Waiter, Waker};

const NIL: u32 = u32::MAX;

/// What one slab slot holds.
enum Slot<T> {
    /// Unused; chained in the free list through `Node::next`.
    Free,
    /// A parked waiter, linked in FIFO order, and the payload it parked with (or was handed
    /// nothing yet).
    Queued {
        /// Wakes the parked greenlet.
        waker: Waker,
        /// What the waiter parked with (a putter's item), if anything.
        payload: Option<T>,
    },
    /// Unlinked by a notifier; holds what its waiter will collect when it runs: the payload it
    /// parked with if nobody took it, or a value handed to it.
    Left(Option<T>),
}

/// One slab slot.
struct Node<T> {
    /// The slot's state; mutated by `push_back`, the notifiers and `collect`.
    slot: Slot<T>,
    /// Previous entry in FIFO order, or `NIL`; meaningful while `Queued`.
    prev: u32,
    /// Next entry in FIFO order while `Queued`, next free slot while `Free`, or `NIL`.
    next: u32,
    /// Bumped when the slot is reused, so a stale key never touches a newer entry.
    gen: u32,
}

/// The slab and its FIFO links.
struct List<T> {
    /// Entry storage.
    nodes: Vec<Node<T>>,
    /// Oldest queued waiter.
    head: u32,
    /// Newest queued waiter.
    tail: u32,
    /// First free slot.
    free: u32,
    /// Number of queued waiters (not counting `Left` entries).
    len: usize,
}

/// Identifies one entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key(
    /// Slot index in `List::nodes`.
    u32,
    /// The slot's generation when the entry was made.
    u32,
);

impl<T> List<T> {
    const fn new() -> List<T> {
        List {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    fn push_back(&mut self, waker: Waker, payload: Option<T>) -> Key {
        let idx = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            i
        } else {
            let i = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("sprout: more than 4 billion waiters on one wait list");
            self.nodes.push(Node {
                slot: Slot::Free,
                prev: NIL,
                next: NIL,
                gen: 0,
            });
            i
        };
        let tail = self.tail;
        let node = &mut self.nodes[idx as usize];
        debug_assert!(matches!(node.slot, Slot::Free));
        node.slot = Slot::Queued { waker, payload };
        node.prev = tail;
        node.next = NIL;
        node.gen = node.gen.wrapping_add(1);
        let gen = node.gen;
        if tail == NIL {
            self.head = idx;
        } else {
            self.nodes[tail as usize].next = idx;
        }
        self.tail = idx;
        self.len += 1;
        Key(idx, gen)
    }

    /// Takes a queued entry out of FIFO order; it becomes `Left` with its payload.
    fn unlink(&mut self, idx: u32) -> Waker {
        let (prev, next) = {
            let n = &self.nodes[idx as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        let node = &mut self.nodes[idx as usize];
        node.prev = NIL;
        node.next = NIL;
        self.len -= 1;
        match std::mem::replace(&mut node.slot, Slot::Free) {
            Slot::Queued { waker, payload } => {
                node.slot = Slot::Left(payload);
                waker
            }
            _ => unreachable!("unlinking an entry that is not queued"),
        }
    }

    fn release(&mut self, idx: u32) {
        let node = &mut self.nodes[idx as usize];
        node.slot = Slot::Free;
        node.next = self.free;
        self.free = idx;
    }

    /// The waiter's side: removes its entry, wherever it is. Returns whether a notifier had
    /// unlinked it, and the payload it holds.
    fn collect(&mut self, key: Key) -> (bool, Option<T>) {
        let Some(node) = self.nodes.get(key.0 as usize) else {
            return (false, None);
        };
        if node.gen != key.1 {
            return (false, None);
        }
        let unlinked = match node.slot {
            Slot::Free => return (false, None),
            Slot::Queued { .. } => {
                drop(self.unlink(key.0));
                false
            }
            Slot::Left(_) => true,
        };
        let node = &mut self.nodes[key.0 as usize];
        let payload = match std::mem::replace(&mut node.slot, Slot::Free) {
            Slot::Left(p) => p,
            _ => None,
        };
        self.release(key.0);
        (unlinked, payload)
    }

    fn pop_front(&mut self) -> Option<(u32, Waker)> {
        (self.head != NIL).then(|| {
            let idx = self.head;
            (idx, self.unlink(idx))
        })
    }

    fn payload_mut(&mut self, idx: u32) -> &mut Option<T> {
        match &mut self.nodes[idx as usize].slot {
            Slot::Left(p) => p,
            _ => unreachable!("a popped entry is Left until its waiter collects it"),
        }
    }
}

/// How a [`WaitList::park`] ended.
#[derive(Debug)]
#[must_use = "a handed value or permit must be used or given back"]
pub struct Parked<T> {
    /// `Ok` if woken (by this list, or spuriously); otherwise why the wait ended. A waiter
    /// woken by a notification and then interrupted before it ran reports `Ok` (the interrupt
    /// stays pending for its next blocking call).
    pub result: Result<(), Interrupt>,
    /// Whether a notification of this list took effect on this waiter. If the waiter leaves
    /// anyway (`result` is an error), the notification is the caller's to pass on.
    pub woken: bool,
    /// What the entry held when the waiter collected it: a value handed to it, or the payload
    /// it parked with if nobody took it.
    pub payload: Option<T>,
}

/// A FIFO of parked greenlets, optionally carrying a value per waiter. `!Send`; for greenlets
/// of one hub. See the module docs for the protocol.
///
/// ```
/// use std::rc::Rc;
/// use sprout::WaitList;
///
/// let list = Rc::new(WaitList::new());
/// let l = list.clone();
/// let waiter = sprout::spawn(move || l.wait(None));
/// sprout::yield_now(); // let it park
/// assert_eq!(list.len(), 1);
/// assert!(list.notify_one());
/// assert!(waiter.join().unwrap().is_ok());
/// ```
pub struct WaitList<T = ()> {
    /// The entries; borrowed only for short, non-blocking steps (never across a wake or a
    /// switch).
    list: RefCell<List<T>>,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList::with_payloads()
    }
}

impl<T> std::fmt::Debug for WaitList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitList")
            .field("len", &self.len())
            .finish()
    }
}

impl WaitList<()> {
    /// An empty list of waiters that carry nothing.
    pub const fn new() -> WaitList<()> {
        WaitList::with_payloads()
    }

    /// Parks the current greenlet at the back of the list until notified or `deadline`
    /// passes. Kill and `Timeout` scopes unwind as everywhere in sprout.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] at the deadline; [`WaitError::LoopExit`] if nothing
    /// could ever notify it.
    pub fn wait(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        self.wait_interruptible(deadline).map_err(raise)
    }

    /// Like [`wait`](Self::wait) but reports kill and `Timeout` as an [`Interrupt`] instead of
    /// unwinding (for callers that must not unwind, such as libc hooks). A notification this
    /// waiter received but cannot use is passed on to the next waiter.
    ///
    /// # Errors
    ///
    /// [`Interrupt::TimedOut`] at the deadline, [`Interrupt::LoopExit`] if nothing could notify it,
    /// [`Interrupt::Killed`] or [`Interrupt::Scope`] for a kill or an expired `Timeout` scope that
    /// arrived before a notification (the flag stays set).
    pub fn wait_interruptible(&self, deadline: Option<Instant>) -> Result<(), Interrupt> {
        let parked = self.park(None, deadline);
        if parked.result.is_err() && parked.woken {
            self.notify_one();
        }
        parked.result
    }
}

impl<T> WaitList<T> {
    /// An empty list whose waiters may carry values (see [`park`](Self::park)).
    pub const fn with_payloads() -> WaitList<T> {
        WaitList {
            list: RefCell::new(List::new()),
        }
    }

    /// Number of parked waiters.
    pub fn len(&self) -> usize {
        self.list.borrow().len
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether some queued waiter would take a wake now (not counting waiters that already
    /// left and have not run). O(n); for `debug_assert!`s of the primitives' invariants.
    pub(crate) fn has_pending(&self) -> bool {
        let list = self.list.borrow();
        let mut i = list.head;
        while i != NIL {
            let node = &list.nodes[i as usize];
            if let Slot::Queued { waker, .. } = &node.slot {
                if waker.is_pending() {
                    return true;
                }
            }
            i = node.next;
        }
        false
    }

    /// Parks the current greenlet at the back of the list, carrying `payload`, until notified,
    /// `deadline` passes, or an interrupt arrives. Never unwinds and never passes a
    /// notification on: the caller decides, from the returned [`Parked`], what to do with a
    /// notification or value it cannot use (and turns the interrupt into the public behaviour
    /// with `raise`).
    pub fn park(&self, payload: Option<T>, deadline: Option<Instant>) -> Parked<T> {
        let w = Waiter::new();
        let key = self.list.borrow_mut().push_back(w.waker(), payload);
        // Collects the entry even if the wait unwinds (a greenlet force-unwound at teardown),
        // so the slab never keeps an entry nobody will collect.
        let mut entry = Entry {
            list: self,
            key: Some(key),
        };
        let result = w.wait(deadline);
        let (unlinked, payload) = entry.collect();
        Parked {
            result,
            woken: unlinked && w.was_woken(),
            payload,
        }
    }

    /// Wakes the oldest waiter whose wake takes effect, without touching payloads; returns
    /// whether one was woken.
    pub fn notify_one(&self) -> bool {
        loop {
            let next = self.list.borrow_mut().pop_front();
            match next {
                // Wake outside the borrow: the entry is already unlinked and stays `Left` for
                // its waiter to collect.
                Some((_, w)) => {
                    if w.wake() {
                        return true;
                    }
                }
                None => return false,
            }
        }
    }

    /// Wakes every waiter; returns how many were woken.
    pub fn notify_all(&self) -> usize {
        let mut n = 0;
        while self.notify_one() {
            n += 1;
        }
        n
    }

    /// Hands `value` to the oldest waiter whose wake takes effect and wakes it. Gives the
    /// value back if nobody could take it. For lists whose waiters park with no payload.
    ///
    /// # Errors
    ///
    /// `Err(value)` if no waiter could take it (none queued, or all had left).
    pub fn notify_one_with(&self, value: T) -> Result<(), T> {
        loop {
            let next = self.list.borrow_mut().pop_front();
            let Some((idx, w)) = next else {
                return Err(value);
            };
            if w.wake() {
                let old = self.list.borrow_mut().payload_mut(idx).replace(value);
                debug_assert!(old.is_none(), "notify_one_with on a waiter with a payload");
                drop(old);
                return Ok(());
            }
        }
    }

    /// Wakes the oldest waiter whose wake takes effect and takes the payload it parked with.
    /// Returns `None` if nobody could be woken (or the woken waiter carried nothing).
    pub fn take_one(&self) -> Option<T> {
        loop {
            let (idx, w) = self.list.borrow_mut().pop_front()?;
            if w.wake() {
                return self.list.borrow_mut().payload_mut(idx).take();
            }
        }
    }
}

impl<T> WaitList<T> {
    /// Queues `waker` (of a park epoch the caller waits on) without parking: a wait on
    /// several things at once (`sprout::wait`). The caller collects the entry when it
    /// resumes and gives back a value handed to it; dropping the entry drops such a value.
    pub(crate) fn arm(&self, waker: Waker) -> Entry<'_, T> {
        let key = self.list.borrow_mut().push_back(waker, None);
        Entry {
            list: self,
            key: Some(key),
        }
    }
}

/// The waiter's own entry while it parks (or an entry armed by `arm`); collected exactly
/// once.
pub(crate) struct Entry<'a, T> {
    /// The list the entry is in.
    list: &'a WaitList<T>,
    /// The entry; `None` once collected.
    key: Option<Key>,
}

impl<T> Entry<'_, T> {
    /// Removes the entry; returns whether a notifier unlinked it, and what it holds (a
    /// value handed to it).
    pub(crate) fn collect(&mut self) -> (bool, Option<T>) {
        match self.key.take() {
            Some(key) => self.list.list.borrow_mut().collect(key),
            None => (false, None),
        }
    }
}

impl<T> Drop for Entry<'_, T> {
    fn drop(&mut self) {
        if self.key.is_some() {
            if let Ok(mut list) = self.list.list.try_borrow_mut() {
                let (_, payload) = list.collect(self.key.take().expect("checked"));
                drop(list);
                drop(payload);
            }
        }
    }
}
