//! `Group` and `Pool`: sets of greenlets managed together (gevent's `gevent.pool`).
//!
//! A [`Group`] tracks the greenlets spawned through it (or added to it) until they finish:
//! join them all, kill them all, map a function over items in greenlets. A [`Pool`] is a group
//! with a size limit: at most `size` of its greenlets exist at once, and `spawn` parks the
//! caller while the pool is full.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use sprout::sync::Pool;
//!
//! let pool = Pool::new(3);
//! let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
//! let squares = pool
//!     .map(1..=10u64, {
//!         let (now, peak) = (now.clone(), peak.clone());
//!         move |n| {
//!             now.set(now.get() + 1);
//!             peak.set(peak.get().max(now.get()));
//!             sprout::sleep(Duration::from_millis(2));
//!             now.set(now.get() - 1);
//!             n * n
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(squares, [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
//! assert_eq!(peak.get(), 3); // never more than the pool's size at once
//! ```
//!
//! Membership ends when a greenlet finishes, however it ends (value, panic, kill): a link on
//! the greenlet removes it and, for a pool, hands its slot to the oldest parked `spawn`.
//! Handles are cheap to clone; clones are the same group. `!Send`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::greenlet::is_exit;
use crate::hub::Hub;
use crate::sync::queue::{Queue, QueueError};
use crate::sync::semaphore::Permits;
use crate::task::{wait_dead, Builder, JoinError, JoinHandle, Task};
use crate::time::Elapsed;
use crate::wait_list::WaitList;
use crate::waiter::{raise, TimeoutSignal, WaitError};

/// One tracked greenlet.
struct Member {
    /// Its record, to kill it.
    task: Rc<Task>,
    /// Whether it occupies one of the pool's slots (spawned through the pool).
    holds_slot: bool,
}

/// The shared state behind a `Group` or `Pool` handle.
struct Inner {
    /// Live members by greenlet id (so in spawn order); entries removed by the members' links.
    members: RefCell<BTreeMap<u64, Member>>,
    /// A pool's slots; `None` for a group.
    slots: Option<Permits>,
    /// A pool's size (0 for a group).
    size: usize,
    /// Greenlets parked in `join`; woken when the last member leaves.
    emptied: WaitList,
}

impl Inner {
    fn new(size: Option<usize>) -> Rc<Inner> {
        Rc::new(Inner {
            members: RefCell::new(BTreeMap::new()),
            slots: size.map(Permits::new),
            size: size.unwrap_or(0),
            emptied: WaitList::new(),
        })
    }

    /// Spawns `f` as a member; a pool first takes a slot, parking while it is full.
    fn spawn<T: 'static>(
        self: &Rc<Inner>,
        f: impl FnOnce() -> T + 'static,
        deadline: Option<Instant>,
    ) -> Result<JoinHandle<T>, WaitError> {
        if let Some(slots) = &self.slots {
            slots.acquire(deadline)?;
        }
        let handle = match Builder::new().spawn(f) {
            Ok(h) => h,
            Err(e) => {
                if let Some(slots) = &self.slots {
                    slots.release();
                }
                panic!("failed to spawn greenlet: {e}");
            }
        };
        self.track(&handle, self.slots.is_some());
        Ok(handle)
    }

    /// Tracks a live greenlet until it finishes.
    fn track<T>(self: &Rc<Inner>, handle: &JoinHandle<T>, holds_slot: bool) {
        let id = handle.id();
        self.members.borrow_mut().insert(
            id,
            Member {
                task: handle.task().clone(),
                holds_slot,
            },
        );
        let weak: Weak<Inner> = Rc::downgrade(self);
        handle.link(move || {
            if let Some(inner) = weak.upgrade() {
                inner.remove(id);
            }
        });
    }

    /// Ends a membership: frees its slot, wakes `join`ers if it was the last.
    fn remove(&self, id: u64) -> bool {
        let removed = self.members.borrow_mut().remove(&id);
        let Some(member) = removed else {
            return false;
        };
        if member.holds_slot {
            if let Some(slots) = &self.slots {
                slots.release();
            }
        }
        if self.members.borrow().is_empty() {
            self.emptied.notify_all();
        }
        true
    }

    fn len(&self) -> usize {
        self.members.borrow().len()
    }

    fn join(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        while self.len() > 0 {
            if let Err(i) = self.emptied.park(None, deadline).result {
                return Err(raise(i));
            }
        }
        Ok(())
    }

    fn kill(&self) {
        let me = Hub::current().current_task();
        let tasks: Vec<Rc<Task>> = self
            .members
            .borrow()
            .values()
            .map(|m| m.task.clone())
            .filter(|t| !Rc::ptr_eq(t, &me))
            .collect();
        // No borrow held: killing a greenlet that never started runs its links right here.
        for t in &tasks {
            t.request_kill();
        }
        for t in &tasks {
            let _ = wait_dead(t, None);
        }
        // A member killing its own group dies last.
        if self.members.borrow().contains_key(&me.id) && !me.is_root() {
            me.request_kill();
        }
    }

    fn map<I, R, F>(self: &Rc<Inner>, items: I, f: F) -> Result<Vec<R>, JoinError>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        let f = Rc::new(f);
        let mut handles = Vec::new();
        for item in items {
            let f = f.clone();
            let h = self.spawn(move || f(item), None).map_err(|e| match e {
                WaitError::TimedOut => JoinError::TimedOut,
                WaitError::LoopExit => JoinError::LoopExit,
            })?;
            handles.push(h);
        }
        handles.into_iter().map(JoinHandle::join).collect()
    }

    fn imap_unordered<I, R, F>(self: &Rc<Inner>, items: I, f: F) -> ImapUnordered<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        let results = Queue::new();
        // The feeder counts as one outstanding producer until it has spawned everything.
        let outstanding = Rc::new(Outstanding {
            count: Cell::new(1),
            results: results.clone(),
        });
        let inner = self.clone();
        let feeder = crate::task::spawn(move || {
            let _feeding = Producer {
                outstanding: outstanding.clone(),
                recorded: true,
            };
            let f = Rc::new(f);
            for item in items {
                let f = f.clone();
                outstanding.count.set(outstanding.count.get() + 1);
                // Owned by the worker's closure: dropped (and counted) even if the worker is
                // killed before it starts.
                let mut producer = Producer {
                    outstanding: outstanding.clone(),
                    recorded: false,
                };
                let worker = move || {
                    match panic::catch_unwind(AssertUnwindSafe(|| f(item))) {
                        Ok(v) => producer.record(Ok(v)),
                        // A kill: the producer records it as it drops.
                        Err(p) if is_exit(&*p) => panic::resume_unwind(p),
                        Err(p) => producer.record(Err(JoinError::Panicked(timeout_as_elapsed(p)))),
                    }
                };
                if inner.spawn(worker, None).is_err() {
                    // Only the root gets LoopExit, and the feeder is a greenlet.
                    break;
                }
            }
        });
        ImapUnordered {
            results,
            feeder,
            done: false,
        }
    }
}

/// A `Timeout` that escaped the function shows as `Elapsed`, as in a joined greenlet.
fn timeout_as_elapsed(p: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
    match p.downcast::<TimeoutSignal>() {
        Ok(_) => Box::new(Elapsed),
        Err(p) => p,
    }
}

/// Producers of an `imap_unordered` that have not finished yet; the results queue closes when
/// the count reaches zero.
struct Outstanding<R> {
    /// Live producers: the feeder and every worker not yet finished.
    count: Cell<usize>,
    /// Where results go.
    results: Queue<Result<R, JoinError>>,
}

/// One producer's share of `Outstanding`, given back on drop.
struct Producer<R> {
    /// The shared count.
    outstanding: Rc<Outstanding<R>>,
    /// Whether a result was put (the feeder puts none); otherwise the drop reports a kill.
    recorded: bool,
}

impl<R> Producer<R> {
    fn record(&mut self, r: Result<R, JoinError>) {
        self.recorded = true;
        // Unbounded and not closed while this producer is outstanding: cannot fail or park.
        let _ = self.outstanding.results.put(r);
    }
}

impl<R> Drop for Producer<R> {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(Err(JoinError::Killed));
        }
        let o = &self.outstanding;
        o.count.set(o.count.get() - 1);
        if o.count.get() == 0 {
            o.results.close();
        }
    }
}

/// The iterator of [`Group::imap_unordered`] and [`Pool::imap_unordered`]: results in the
/// order the greenlets finish. Dropping it stops spawning further items; greenlets already
/// running finish on their own.
pub struct ImapUnordered<R> {
    /// Results as they arrive; closed when the feeder and every worker are done.
    results: Queue<Result<R, JoinError>>,
    /// The greenlet spawning the work; killed if the iterator is dropped early.
    feeder: JoinHandle<()>,
    /// Set once the stream ended (or failed with LoopExit).
    done: bool,
}

impl<R> Iterator for ImapUnordered<R> {
    type Item = Result<R, JoinError>;

    /// The next result to finish: the function's value, or how its greenlet failed
    /// (`Panicked`, `Killed`). Yields `Err(JoinError::LoopExit)` once, then ends, if nothing
    /// left in the hub could produce the rest.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.results.get() {
            Ok(r) => Some(r),
            Err(QueueError::LoopExit) => {
                self.done = true;
                Some(Err(JoinError::LoopExit))
            }
            Err(_) => {
                self.done = true;
                None
            }
        }
    }
}

impl<R> Drop for ImapUnordered<R> {
    fn drop(&mut self) {
        self.feeder.kill_nowait();
    }
}

impl<R> fmt::Debug for ImapUnordered<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("ready", &self.results.len())
            .field("done", &self.done)
            .finish()
    }
}

macro_rules! group_methods {
    () => {
        /// Live members (gevent's `len(group)`).
        pub fn len(&self) -> usize {
            self.inner.len()
        }

        /// Whether no member is alive.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Whether the greenlet is a live member.
        pub fn contains<T>(&self, handle: &JoinHandle<T>) -> bool {
            self.inner.members.borrow().contains_key(&handle.id())
        }

        /// Parks until every member has finished (members spawned meanwhile included). Kill
        /// and `Timeout` scopes unwind.
        ///
        /// Errors: [`WaitError::LoopExit`] if nothing left in the hub could finish them.
        pub fn join(&self) -> Result<(), WaitError> {
            self.inner.join(None)
        }

        /// Like [`join`](Self::join) but gives up after `timeout` with
        /// [`WaitError::TimedOut`].
        pub fn join_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
            self.inner.join(Some(Instant::now() + timeout))
        }

        /// Kills every member and waits until they are dead (gevent's `kill`). Called from a
        /// member, it kills the others first and then unwinds the caller.
        pub fn kill(&self) {
            self.inner.kill();
        }

        /// Runs `f` on every item, each in a member greenlet, and returns the results in item
        /// order (gevent's `map`).
        ///
        /// Errors: the first failure in item order (`Panicked` with the payload, `Killed`),
        /// or `LoopExit` if spawning could never proceed.
        pub fn map<I, R, F>(&self, items: I, f: F) -> Result<Vec<R>, JoinError>
        where
            I: IntoIterator,
            I::Item: 'static,
            R: 'static,
            F: Fn(I::Item) -> R + 'static,
        {
            self.inner.map(items, f)
        }

        /// Runs `f` on every item in member greenlets and yields the results as they finish
        /// (gevent's `imap_unordered`). A feeder greenlet spawns the work (parking while a
        /// pool is full), so the caller can consume while work is still being spawned.
        pub fn imap_unordered<I, R, F>(&self, items: I, f: F) -> ImapUnordered<R>
        where
            I: IntoIterator + 'static,
            I::Item: 'static,
            R: 'static,
            F: Fn(I::Item) -> R + 'static,
        {
            self.inner.imap_unordered(items, f)
        }
    };
}

/// A set of greenlets managed together, without a size limit (gevent's `Group`). Cheap to
/// clone; `!Send`.
#[derive(Clone)]
pub struct Group {
    /// The shared state.
    inner: Rc<Inner>,
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        Group {
            inner: Inner::new(None),
        }
    }

    /// Spawns `f` as a member greenlet. Never parks.
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: 'static,
        F: FnOnce() -> T + 'static,
    {
        match self.inner.spawn(f, None) {
            Ok(h) => h,
            Err(_) => unreachable!("a group has no limit to wait for"),
        }
    }

    /// Adds a greenlet spawned elsewhere; it stays a member until it finishes or is
    /// discarded. Adding a finished greenlet or a member again does nothing.
    pub fn add<T>(&self, handle: &JoinHandle<T>) {
        if !handle.is_finished() && !self.contains(handle) {
            self.inner.track(handle, false);
        }
    }

    /// Stops tracking a greenlet (it keeps running). Returns whether it was a member.
    pub fn discard<T>(&self, handle: &JoinHandle<T>) -> bool {
        self.inner.remove(handle.id())
    }

    group_methods!();
}

impl Default for Group {
    fn default() -> Group {
        Group::new()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}

/// A group of at most `size` live greenlets (gevent's `Pool`): `spawn` parks while it is
/// full, and slots go to parked spawners in FIFO order. Cheap to clone; `!Send`.
#[derive(Clone)]
pub struct Pool {
    /// The shared state.
    inner: Rc<Inner>,
}

impl Pool {
    /// A pool of `size` slots.
    ///
    /// # Panics
    /// If `size` is 0 (nothing could ever run in it).
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "sprout: a Pool needs at least one slot");
        Pool {
            inner: Inner::new(Some(size)),
        }
    }

    /// Spawns `f` as a member greenlet, first parking until a slot is free. Kill and
    /// `Timeout` scopes unwind through the wait.
    ///
    /// Errors: [`WaitError::LoopExit`] if nothing left in the hub could ever free a slot.
    pub fn spawn<T, F>(&self, f: F) -> Result<JoinHandle<T>, WaitError>
    where
        T: 'static,
        F: FnOnce() -> T + 'static,
    {
        self.inner.spawn(f, None)
    }

    /// Like [`spawn`](Self::spawn) but gives up after `timeout` with [`WaitError::TimedOut`]
    /// (`f` is dropped unrun).
    pub fn spawn_timeout<T, F>(&self, timeout: Duration, f: F) -> Result<JoinHandle<T>, WaitError>
    where
        T: 'static,
        F: FnOnce() -> T + 'static,
    {
        self.inner.spawn(f, Some(Instant::now() + timeout))
    }

    /// Stops tracking a greenlet and frees its slot (it keeps running; gevent's `discard`).
    /// Returns whether it was a member.
    pub fn discard<T>(&self, handle: &JoinHandle<T>) -> bool {
        self.inner.remove(handle.id())
    }

    /// The pool's size.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Slots free now (gevent's `free_count`).
    pub fn free_count(&self) -> usize {
        self.inner.slots.as_ref().map_or(0, Permits::free)
    }

    /// Whether a `spawn` would park now.
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Parks until a slot is free, without taking it (gevent's `wait_available`).
    ///
    /// Errors: [`WaitError::LoopExit`] if nothing left in the hub could ever free one.
    pub fn wait_available(&self) -> Result<(), WaitError> {
        self.wait_available_deadline(None)
    }

    /// Like [`wait_available`](Self::wait_available) but gives up after `timeout` with
    /// [`WaitError::TimedOut`].
    pub fn wait_available_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_available_deadline(Some(Instant::now() + timeout))
    }

    fn wait_available_deadline(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        if self.free_count() > 0 {
            return Ok(());
        }
        let slots = self.inner.slots.as_ref().expect("a pool has slots");
        // Take a slot in turn and give it straight back (to the next in line, if any).
        slots.acquire(deadline)?;
        slots.release();
        Ok(())
    }

    group_methods!();
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("len", &self.len())
            .field("free", &self.free_count())
            .finish()
    }
}
