//! The hub's deadline queue: one per hub, no timer thread.
//!
//! A 4-ary min-heap of `(deadline, arming number)` with an index into a slot table that holds
//! each timer's action and its position in the heap, so arming, cancelling and popping the
//! earliest are all O(log n), and two entries with the same deadline fire in arming order.
//!
//! It is compact because a hub with a million parked sleepers holds a million timers: 16 bytes
//! per heap entry and 32 per slot (a B-tree of `(Instant, u64)` keys spent about 90).

use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::task::Task;
use crate::waiter::{Reason, Waker};

/// What happens when a timer fires.
pub(crate) enum TimerAction {
    /// Wake a parked waiter with [`Reason::TimedOut`] (sleep, wait deadlines).
    Wake(Waker),
    /// Deliver the `Timeout` scope `id` to `task` at its suspension point.
    Scope {
        /// The greenlet (or root) that armed the scope.
        task: Rc<Task>,
        /// The scope's id.
        id: u64,
    },
    /// Run a callback on the hub loop (a link added after its greenlet finished).
    Call(Box<dyn FnOnce()>),
}

impl TimerAction {
    /// Performs the action (called by the hub loop when the deadline passes).
    pub(crate) fn fire(self) {
        match self {
            TimerAction::Wake(w) => {
                w.wake_with(Reason::TimedOut);
            }
            TimerAction::Scope { task, id } => task.deliver_scope_timeout(id),
            TimerAction::Call(f) => f(),
        }
    }
}

/// A handle to an armed timer, for cancelling it.
///
/// It names a slot and the arming number of the timer that took it; a handle whose timer fired
/// or was cancelled matches no armed timer (unless the hub armed 2^32 timers in between and the
/// slot came round to the same number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    /// Index into `TimerQueue::slots`.
    slot: u32,
    /// The arming number of the timer the handle was made for.
    seq: u32,
}

/// One heap entry: when, in which arming order, and where the action is.
#[derive(Clone, Copy)]
struct Entry {
    /// Deadline in nanoseconds since [`epoch`].
    at: u64,
    /// Arming number; orders equal deadlines (compared with wrap-around).
    seq: u32,
    /// Index into `TimerQueue::slots`.
    slot: u32,
}

impl Entry {
    /// Whether `self` fires before `other`.
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        self.at < other.at || (self.at == other.at && (self.seq.wrapping_sub(other.seq) as i32) < 0)
    }
}

/// A timer's action and where its entry is in the heap.
struct Slot {
    /// The action; `None` while the slot is free.
    action: Option<TimerAction>,
    /// Position of this slot's entry in the heap while armed; the next free slot while free.
    pos: u32,
    /// Arming number of the timer in this slot (see [`TimerKey`]).
    seq: u32,
}

/// Children per heap node: four 16-byte entries share a cache line, and the heap is half as
/// deep as a binary one.
const ARITY: usize = 4;

/// Slots kept when the queue empties after a burst (2 MiB of slots and heap).
const KEEP_SLOTS: usize = 1 << 16;

/// No next free slot.
const NONE: u32 = u32::MAX;

/// The queue itself.
pub(crate) struct TimerQueue {
    /// Armed timers, a 4-ary min-heap by [`Entry::before`].
    heap: Vec<Entry>,
    /// Actions and heap positions, indexed by `Entry::slot`.
    slots: Vec<Slot>,
    /// First free slot, chained through `Slot::pos`; `NONE` if none.
    free: u32,
    /// Next arming number.
    seq: u32,
    /// The last `now` given to `pop_expired` and its [`nanos`]: the hub pops many timers with
    /// one reading of the clock.
    now: (Option<Instant>, u64),
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            heap: Vec::new(),
            slots: Vec::new(),
            free: NONE,
            seq: 0,
            now: (None, 0),
        }
    }
}

/// The instant deadlines are counted from (the first use in this process).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `t` in nanoseconds since [`epoch`] (0 before it; saturating after 584 years).
fn nanos(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

impl TimerQueue {
    /// Arms a timer.
    pub(crate) fn insert(&mut self, deadline: Instant, action: TimerAction) -> TimerKey {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let pos = self.heap.len() as u32;
        let slot = if self.free != NONE {
            let i = self.free;
            let s = &mut self.slots[i as usize];
            self.free = s.pos;
            *s = Slot {
                action: Some(action),
                pos,
                seq,
            };
            i
        } else {
            self.slots.push(Slot {
                action: Some(action),
                pos,
                seq,
            });
            (self.slots.len() - 1) as u32
        };
        self.heap.push(Entry {
            at: nanos(deadline),
            seq,
            slot,
        });
        self.sift_up(pos as usize);
        TimerKey { slot, seq }
    }

    /// Disarms a timer; returns its action if it had not fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        let s = self.slots.get(key.slot as usize)?;
        if s.seq != key.seq || s.action.is_none() {
            return None;
        }
        let pos = s.pos as usize;
        Some(self.remove_at(pos))
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .first()
            .map(|e| epoch() + Duration::from_nanos(e.at))
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TimerAction> {
        let first = self.heap.first()?.at;
        if self.now.0 != Some(now) {
            self.now = (Some(now), nanos(now));
        }
        if first <= self.now.1 {
            Some(self.remove_at(0))
        } else {
            None
        }
    }

    /// Whether no timer is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Takes the entry at heap position `pos` out, frees its slot, returns its action.
    fn remove_at(&mut self, pos: usize) -> TimerAction {
        let removed = self.heap.swap_remove(pos);
        if pos < self.heap.len() {
            if pos == 0 {
                self.sift_down_to_bottom();
            } else if self.heap[pos].before(&self.heap[(pos - 1) / ARITY]) {
                self.sift_up(pos);
            } else {
                self.sift_down(pos);
            }
        }
        let s = &mut self.slots[removed.slot as usize];
        let action = s.action.take().expect("an armed slot has an action");
        s.pos = self.free;
        self.free = removed.slot;
        if self.heap.is_empty() && self.slots.len() > KEEP_SLOTS {
            // After a large burst: give the tables back (smaller ones are kept, so a hub that
            // arms thousands of timers per pass does not regrow them every pass). Old keys then
            // match nothing but a slot re-armed with their very arming number (see `TimerKey`).
            self.slots = Vec::new();
            self.free = NONE;
            self.heap.shrink_to(KEEP_SLOTS);
        }
        action
    }

    /// Moves the entry at `pos` towards the root until its parent fires before it.
    fn sift_up(&mut self, mut pos: usize) {
        let e = self.heap[pos];
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            if !e.before(&self.heap[parent]) {
                break;
            }
            self.place(pos, self.heap[parent]);
            pos = parent;
        }
        self.place(pos, e);
    }

    /// The child of `pos` that fires first, if `pos` has children.
    #[inline]
    fn first_child(&self, pos: usize) -> Option<usize> {
        let first = ARITY * pos + 1;
        let n = self.heap.len();
        if first >= n {
            return None;
        }
        let mut best = first;
        for c in first + 1..(first + ARITY).min(n) {
            if self.heap[c].before(&self.heap[best]) {
                best = c;
            }
        }
        Some(best)
    }

    /// Moves the entry at `pos` away from the root until no child fires before it.
    fn sift_down(&mut self, mut pos: usize) {
        let e = self.heap[pos];
        while let Some(c) = self.first_child(pos) {
            if !self.heap[c].before(&e) {
                break;
            }
            self.place(pos, self.heap[c]);
            pos = c;
        }
        self.place(pos, e);
    }

    /// After the root was replaced by the last entry (usually among the latest): moves the
    /// earliest children up along one path to a leaf, then sifts the entry up from there,
    /// which saves a comparison per level (as std's `BinaryHeap::pop` does).
    fn sift_down_to_bottom(&mut self) {
        let e = self.heap[0];
        let mut pos = 0;
        while let Some(c) = self.first_child(pos) {
            self.place(pos, self.heap[c]);
            pos = c;
        }
        self.place(pos, e);
        self.sift_up(pos);
    }

    /// Writes `e` at heap position `pos` and records that in its slot.
    #[inline]
    fn place(&mut self, pos: usize, e: Entry) {
        self.heap[pos] = e;
        self.slots[e.slot as usize].pos = pos as u32;
    }

    /// How many timers are armed.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_then_arming_order_and_cancels() {
        let mut q = TimerQueue::default();
        let t0 = Instant::now();
        let root = Task::new_root();
        let mk = || TimerAction::Scope {
            task: root.clone(),
            id: 0,
        };
        let late = q.insert(t0 + Duration::from_millis(20), mk());
        let a = q.insert(t0 + Duration::from_millis(10), mk());
        let b = q.insert(t0 + Duration::from_millis(10), mk());
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(q.cancel(a).is_some());
        assert!(q.cancel(a).is_none());
        assert!(q.pop_expired(t0).is_none());
        assert!(q.pop_expired(t0 + Duration::from_millis(15)).is_some());
        assert!(q.pop_expired(t0 + Duration::from_millis(15)).is_none());
        assert!(q.cancel(b).is_none(), "b fired");
        assert_eq!(q.heap.len(), 1);
        assert!(q.pop_expired(t0 + Duration::from_millis(20)).is_some());
        assert!(q.is_empty());
        assert!(q.cancel(late).is_none());
    }

    #[test]
    fn matches_a_sorted_model_under_random_arming_and_cancelling() {
        let mut q = TimerQueue::default();
        let t0 = Instant::now();
        let root = Task::new_root();
        // (deadline ms, arming index, key) of armed timers; a simple LCG picks the steps.
        let mut model: Vec<(u64, u64, TimerKey)> = Vec::new();
        let mut fired_keys = Vec::new();
        let mut x: u64 = 12345;
        let mut rand = move |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        for i in 0..20_000u64 {
            match rand(3) {
                0 | 1 => {
                    let ms = rand(50);
                    let id = i;
                    let key = q.insert(
                        t0 + Duration::from_millis(ms),
                        TimerAction::Scope {
                            task: root.clone(),
                            id,
                        },
                    );
                    model.push((ms, i, key));
                }
                _ if !model.is_empty() => {
                    let k = rand(model.len() as u64) as usize;
                    let (_, _, key) = model.swap_remove(k);
                    assert!(q.cancel(key).is_some());
                    assert!(q.cancel(key).is_none());
                }
                _ => {}
            }
            if rand(10) == 0 {
                // Fire everything due at a random time; compare the order with the model.
                let now_ms = rand(50);
                model.sort_by_key(|m| (m.0, m.1));
                let due: Vec<_> = model.iter().filter(|m| m.0 <= now_ms).copied().collect();
                model.retain(|m| m.0 > now_ms);
                for (_, i, key) in due {
                    match q.pop_expired(t0 + Duration::from_millis(now_ms)) {
                        Some(TimerAction::Scope { id, .. }) => assert_eq!(id, i),
                        _ => panic!("timer {i} did not fire"),
                    }
                    fired_keys.push(key);
                }
                assert!(q.pop_expired(t0 + Duration::from_millis(now_ms)).is_none());
                for key in fired_keys.drain(..) {
                    assert!(q.cancel(key).is_none(), "a fired timer cannot be cancelled");
                }
            }
            assert_eq!(q.heap.len(), model.len());
        }
    }

    #[test]
    fn a_large_burst_gives_its_tables_back_and_old_keys_stay_dead() {
        let mut q = TimerQueue::default();
        let t0 = Instant::now();
        let root = Task::new_root();
        let n = KEEP_SLOTS as u64 + 10;
        let keys: Vec<TimerKey> = (0..n)
            .map(|i| {
                q.insert(
                    t0 + Duration::from_micros(i),
                    TimerAction::Scope {
                        task: root.clone(),
                        id: i,
                    },
                )
            })
            .collect();
        let later = t0 + Duration::from_secs(1);
        for i in 0..n {
            match q.pop_expired(later) {
                Some(TimerAction::Scope { id, .. }) => assert_eq!(id, i),
                _ => panic!("timer {i} missing"),
            }
        }
        assert!(q.is_empty());
        assert!(q.slots.is_empty(), "the slot table was released");
        let fresh = q.insert(later, TimerAction::Scope { task: root, id: 0 });
        assert!(keys.iter().all(|&k| k == fresh || q.cancel(k).is_none()));
        assert!(q.cancel(fresh).is_some());
    }
}
