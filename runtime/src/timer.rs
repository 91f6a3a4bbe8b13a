//! The hub's deadline queue: one per hub, no timer thread.
//!
//! Entries are keyed by `(deadline, sequence)` in a B-tree, so arming, cancelling and popping
//! the earliest are all O(log n), and two entries with the same deadline fire in arming order.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

/// The queue itself.
#[derive(Default)]
pub(crate) struct TimerQueue {
    /// Armed timers in firing order.
    map: BTreeMap<TimerKey, TimerAction>,
    /// Next sequence number; makes keys unique and ties FIFO.
    seq: u64,
}

impl TimerQueue {
    /// Arms a timer.
    pub(crate) fn insert(&mut self, deadline: Instant, action: TimerAction) -> TimerKey {
        self.seq += 1;
        let key = TimerKey(deadline, self.seq);
        self.map.insert(key, action);
        key
    }

    /// Disarms a timer; returns its action if it had not fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        self.map.remove(&key)
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.first_key_value().map(|(k, _)| k.0)
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TimerAction> {
        match self.map.first_entry() {
            Some(e) if e.key().0 <= now => Some(e.remove()),
            _ => None,
        }
    }

    /// Whether no timer is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many timers are armed.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
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
        assert!(a < b && b < late);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(q.cancel(a).is_some());
        assert!(q.cancel(a).is_none());
        assert!(q.pop_expired(t0).is_none());
        assert!(q.pop_expired(t0 + Duration::from_millis(15)).is_some());
        assert!(q.pop_expired(t0 + Duration::from_millis(15)).is_none());
        assert_eq!(q.map.len(), 1);
        assert!(q.pop_expired(t0 + Duration::from_millis(20)).is_some());
        assert!(q.is_empty());
    }
}
