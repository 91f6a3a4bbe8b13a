//! The one FIFO wait list every blocking primitive stands on (join, Event, Semaphore, Queue...).
//!
//! Waiters queue in arrival order; [`WaitList::notify_one`] wakes the first whose wake takes
//! effect. Removal of a waiter that leaves early (timeout, kill) is O(1): entries live in a
//! slab and are linked by index.
//!
//! No lost wake-ups: a waiter that was notified but leaves with an interrupt (killed, or its
//! `Timeout` scope expired, before it ran) passes the notification on to the next waiter. A
//! notification that meets a waiter already woken by its own timeout skips to the next one.
//! No double wake-ups: a notification removes the entry it wakes.

use std::cell::RefCell;
use std::time::Instant;

use crate::waiter::{raise, Interrupt, WaitError, Waiter, Waker};

const NIL: u32 = u32::MAX;

struct Node {
    /// The parked greenlet's waker; `None` for a free slot.
    waker: Option<Waker>,
    /// Previous entry in FIFO order, or `NIL`.
    prev: u32,
    /// Next entry in FIFO order (or the next free slot), or `NIL`.
    next: u32,
    /// Bumped when the slot is reused, so a stale key never removes a newer entry.
    gen: u32,
}

#[derive(Default)]
struct List {
    /// Entry storage; free slots are chained through `next`.
    nodes: Vec<Node>,
    /// Oldest waiter.
    head: u32,
    /// Newest waiter.
    tail: u32,
    /// First free slot.
    free: u32,
    /// Number of queued waiters.
    len: usize,
}

/// Identifies one queued waiter: slot index and generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key(u32, u32);

impl List {
    fn new() -> List {
        List {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    fn push_back(&mut self, waker: Waker) -> Key {
        let idx = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            i
        } else {
            self.nodes.push(Node {
                waker: None,
                prev: NIL,
                next: NIL,
                gen: 0,
            });
            (self.nodes.len() - 1) as u32
        };
        let tail = self.tail;
        let node = &mut self.nodes[idx as usize];
        node.waker = Some(waker);
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
        let waker = node.waker.take().expect("linked node has a waker");
        node.next = self.free;
        node.prev = NIL;
        self.free = idx;
        self.len -= 1;
        waker
    }

    fn remove(&mut self, key: Key) -> bool {
        match self.nodes.get(key.0 as usize) {
            Some(n) if n.gen == key.1 && n.waker.is_some() => {
                self.unlink(key.0);
                true
            }
            _ => false,
        }
    }

    fn pop_front(&mut self) -> Option<Waker> {
        (self.head != NIL).then(|| self.unlink(self.head))
    }
}

/// A FIFO of parked greenlets. `!Send`; for greenlets of one hub.
pub struct WaitList {
    list: RefCell<List>,
}

impl Default for WaitList {
    fn default() -> Self {
        WaitList::new()
    }
}

impl std::fmt::Debug for WaitList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitList")
            .field("len", &self.len())
            .finish()
    }
}

impl WaitList {
    /// An empty list.
    pub fn new() -> WaitList {
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

    /// Parks the current greenlet at the back of the list until notified or `deadline`
    /// passes. Kill and `Timeout` scopes unwind as everywhere in sprout.
    ///
    /// Errors: [`WaitError::TimedOut`] at the deadline; [`WaitError::LoopExit`] if nothing
    /// could ever notify it.
    pub fn wait(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        self.wait_interruptible(deadline).map_err(raise)
    }

    /// Like [`wait`](Self::wait) but reports kill and `Timeout` as an [`Interrupt`] instead of
    /// unwinding (for callers that must not unwind, such as libc hooks).
    pub fn wait_interruptible(&self, deadline: Option<Instant>) -> Result<(), Interrupt> {
        let w = Waiter::new();
        let key = self.list.borrow_mut().push_back(w.waker());
        let r = w.wait(deadline);
        let still_queued = self.list.borrow_mut().remove(key);
        if r.is_err() && !still_queued && w.was_woken() {
            // We consumed a notification but are leaving: hand it to the next waiter.
            self.notify_one();
        }
        r
    }

    /// Wakes the oldest waiter whose wake takes effect; returns whether one was woken.
    pub fn notify_one(&self) -> bool {
        loop {
            let next = self.list.borrow_mut().pop_front();
            match next {
                Some(w) => {
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
}
