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

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::greenlet::is_exit;
use crate::hub::Hub;
use crate::sync::queue::Queue;
use crate::sync::semaphore::Permits;
use crate::task::{wait_dead, Builder, JoinError, JoinHandle, Task};
use crate::wait_list::WaitList;
use crate::waiter::{raise, WaitError};

mod imap;

use imap::{timeout_as_elapsed, Outstanding, Producer, Results};
pub use imap::{Imap, ImapUnordered};

/// Why [`Pool::spawn`] (or a pool's `map`, `apply`) did not spawn the greenlet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// `spawn_timeout`'s timeout passed before a slot was free.
    TimedOut,
    /// Nothing left in the hub could ever free a slot (gevent's `LoopExit`).
    LoopExit,
    /// The pool was killed ([`Pool::kill`]) while this spawn waited for a slot, or a kill
    /// is running now: the greenlet was not spawned.
    Killed,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::TimedOut => f.write_str("timed out waiting for a free slot in the pool"),
            SpawnError::LoopExit => f.write_str(
                "spawn would block forever: nothing left in the hub could free a slot (LoopExit)",
            ),
            SpawnError::Killed => f.write_str(
                "the pool was killed while this spawn waited for a slot; nothing was spawned",
            ),
        }
    }
}

impl std::error::Error for SpawnError {}

impl From<WaitError> for SpawnError {
    fn from(e: WaitError) -> SpawnError {
        match e {
            WaitError::TimedOut => SpawnError::TimedOut,
            WaitError::LoopExit => SpawnError::LoopExit,
        }
    }
}

impl From<SpawnError> for JoinError {
    fn from(e: SpawnError) -> JoinError {
        match e {
            SpawnError::TimedOut => JoinError::TimedOut,
            SpawnError::LoopExit => JoinError::LoopExit,
            SpawnError::Killed => JoinError::Killed,
        }
    }
}

impl From<SpawnError> for std::io::Error {
    fn from(e: SpawnError) -> std::io::Error {
        match e {
            SpawnError::TimedOut => std::io::Error::new(std::io::ErrorKind::TimedOut, e),
            _ => std::io::Error::other(e),
        }
    }
}

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
    /// Whether this is a pool (has slots).
    limited: bool,
    /// A pool's size (0 for a group).
    size: usize,
    /// A pool's free slots.
    ///
    /// INVARIANT: non-zero only while no live spawner is parked in `spawners` (a freed slot
    /// is handed to the oldest parked spawner before it is counted free), except while a
    /// kill runs.
    free: Cell<usize>,
    /// Spawners parked for a slot. A freed slot is handed to the oldest as `true`; a kill
    /// hands every parked one `false` (fail with `SpawnError::Killed`).
    spawners: WaitList<bool>,
    /// Kills so far: a running `map`/`imap` that sees it change starts no further item.
    kills: Cell<u64>,
    /// Kills running now: spawns fail (a pool) or are killed before they start (a group).
    killing: Cell<usize>,
    /// Greenlets parked in `join`; woken when the last member leaves.
    emptied: WaitList,
}

impl Inner {
    fn new(size: Option<usize>) -> Rc<Inner> {
        Rc::new(Inner {
            members: RefCell::new(BTreeMap::new()),
            limited: size.is_some(),
            size: size.unwrap_or(0),
            free: Cell::new(size.unwrap_or(0)),
            spawners: WaitList::with_payloads(),
            kills: Cell::new(0),
            killing: Cell::new(0),
            emptied: WaitList::new(),
        })
    }

    /// Takes a slot, parking while the pool is full.
    ///
    /// Truthful under interrupts (issue 11): a slot handed over before this greenlet resumed
    /// is taken and reported (`Ok`) even if a kill or `Timeout` arrived meanwhile; those stay
    /// pending for the caller's next blocking call.
    fn take_slot(&self, deadline: Option<Instant>) -> Result<(), SpawnError> {
        if self.killing.get() > 0 {
            return Err(SpawnError::Killed);
        }
        let kills = self.kills.get();
        if self.free.get() > 0 {
            self.free.set(self.free.get() - 1);
            return Ok(());
        }
        loop {
            crate::run_info::waits_on(crate::run_info::WaitsOn::Sync("Pool slot"));
            let parked = self.spawners.park(None, deadline);
            match parked.payload {
                Some(true) => return Ok(()),
                Some(false) => return Err(SpawnError::Killed),
                None => {}
            }
            if let Err(i) = parked.result {
                return Err(raise(i).into());
            }
            if self.kills.get() != kills || self.killing.get() > 0 {
                return Err(SpawnError::Killed);
            }
            if self.free.get() > 0 {
                self.free.set(self.free.get() - 1);
                return Ok(());
            }
        }
    }

    /// Gives a slot back: to the oldest parked spawner, or to the free count.
    fn release_slot(&self) {
        if self.killing.get() == 0 && self.spawners.notify_one_with(true).is_ok() {
            return;
        }
        self.free.set(self.free.get() + 1);
    }

    /// Spawns `f` as a member; a pool first takes a slot, parking while it is full.
    fn spawn<T: 'static>(
        self: &Rc<Inner>,
        f: impl FnOnce() -> T + 'static,
        deadline: Option<Instant>,
    ) -> Result<JoinHandle<T>, SpawnError> {
        if self.limited {
            let kills = self.kills.get();
            self.take_slot(deadline)?;
            if self.kills.get() != kills || self.killing.get() > 0 {
                // Handed a slot, but the pool was killed before this greenlet resumed: a
                // pending spawn fails (the kill empties the pool).
                self.release_slot();
                return Err(SpawnError::Killed);
            }
        }
        let handle = match Builder::new().spawn(f) {
            Ok(h) => h,
            Err(e) => {
                if self.limited {
                    self.release_slot();
                }
                panic!("failed to spawn greenlet: {e}");
            }
        };
        if !self.limited && self.killing.get() > 0 {
            // A group being killed: the new member never runs.
            handle.kill_nowait();
            return Ok(handle);
        }
        self.track(&handle, self.limited);
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
        handle.task().add_link(Box::new(move |_| {
            if let Some(inner) = weak.upgrade() {
                inner.remove(id);
            }
        }));
    }

    /// Ends a membership: frees its slot, wakes `join`ers if it was the last.
    fn remove(&self, id: u64) -> bool {
        let removed = self.members.borrow_mut().remove(&id);
        let Some(member) = removed else {
            return false;
        };
        if member.holds_slot {
            self.release_slot();
        }
        if self.members.borrow().is_empty() {
            self.emptied.notify_all();
        }
        true
    }

    fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Whether the running greenlet is a member.
    fn current_is_member(&self) -> bool {
        let id = Hub::current().current_ref().id;
        self.members.borrow().contains_key(&id)
    }

    fn join(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        while self.len() > 0 {
            let r = self.emptied.park(None, deadline).result;
            if self.len() == 0 {
                // Emptied before we resumed: done; an interrupt stays pending.
                return Ok(());
            }
            if let Err(i) = r {
                return Err(raise(i));
            }
        }
        Ok(())
    }

    /// Empties the group (issue 11 item 2; gevent#85 and gevent#1215, both still open in
    /// gevent): parked spawners fail with `Killed`, spawns during the kill fail, running
    /// maps stop spawning, and every member is killed and waited for.
    fn kill(&self) {
        self.killing.set(self.killing.get() + 1);
        self.kills.set(self.kills.get() + 1);
        while self.spawners.notify_one_with(false).is_ok() {}
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
        struct Done<'a>(&'a Cell<usize>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        let done = Done(&self.killing);
        for t in &tasks {
            let _ = wait_dead(t, None);
        }
        drop(done);
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
        let kills = self.kills.get();
        let f = Rc::new(f);
        let mut handles = Vec::new();
        for item in items {
            if self.kills.get() != kills {
                return Err(JoinError::Killed);
            }
            let f = f.clone();
            handles.push(self.spawn(move || f(item), None)?);
        }
        handles.into_iter().map(JoinHandle::join).collect()
    }

    /// Applies `f` to every item in member greenlets, spawned by a feeder greenlet (parking
    /// while a pool is full, and, with a `window`, while that many results are unconsumed),
    /// and sends `(index, result)` pairs as they finish.
    fn feed<I, R, F>(
        self: &Rc<Inner>,
        items: I,
        f: F,
        window: Option<Rc<Permits>>,
    ) -> (Results<R>, JoinHandle<()>)
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
            let kills = inner.kills.get();
            let _feeding = Producer {
                outstanding: outstanding.clone(),
                index: usize::MAX,
                recorded: true,
            };
            let f = Rc::new(f);
            for (index, item) in items.into_iter().enumerate() {
                if let Some(w) = &window {
                    if w.acquire(None).is_err() {
                        break;
                    }
                }
                if inner.kills.get() != kills {
                    break;
                }
                let f = f.clone();
                outstanding.count.set(outstanding.count.get() + 1);
                // Owned by the worker's closure: dropped (and counted) even if the worker is
                // killed before it starts.
                let mut producer = Producer {
                    outstanding: outstanding.clone(),
                    index,
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
                    // Killed (or LoopExit, which only the root gets): start nothing more.
                    break;
                }
            }
        });
        (results, feeder)
    }

    fn imap_unordered<I, R, F>(self: &Rc<Inner>, items: I, f: F) -> ImapUnordered<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        let (results, feeder) = self.feed(items, f, None);
        ImapUnordered {
            results,
            feeder,
            done: false,
        }
    }

    fn imap<I, R, F>(self: &Rc<Inner>, window: usize, items: I, f: F) -> Imap<R>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        assert!(
            window > 0,
            "sprout: an imap window needs at least one result"
        );
        let permits = Rc::new(Permits::new(window));
        let (results, feeder) = self.feed(items, f, Some(permits.clone()));
        Imap {
            results,
            feeder,
            window: permits,
            buffered: HashMap::new(),
            next: 0,
            done: false,
        }
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
        /// # Errors
        ///
        /// [`WaitError::LoopExit`] if nothing left in the hub could finish them.
        pub fn join(&self) -> Result<(), WaitError> {
            self.inner.join(None)
        }

        /// Like [`join`](Self::join) but gives up after `timeout`.
        ///
        /// # Errors
        ///
        /// [`WaitError::TimedOut`] when `timeout` passes first; [`WaitError::LoopExit`] as
        /// for [`join`](Self::join).
        pub fn join_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
            self.inner.join(crate::time::deadline_after(timeout))
        }

        /// Kills every member and waits until they are dead (gevent's `kill`), emptying the
        /// group: after it returns no member runs, spawns that were waiting for a slot have
        /// failed with [`SpawnError::Killed`], and a running `map`, `imap` or
        /// `imap_unordered` starts no further item. (gevent#85 and gevent#1215, open in
        /// gevent, let waiting spawners take the freed slots.) Called from a member, it kills
        /// the others first and then unwinds the caller. The group stays usable afterwards.
        pub fn kill(&self) {
            self.inner.kill();
        }

        /// Whether the running greenlet is a member.
        pub fn current_is_member(&self) -> bool {
            self.inner.current_is_member()
        }

        /// Runs `f` on every item, each in a member greenlet, and returns the results in item
        /// order (gevent's `map`).
        ///
        /// # Errors
        /// The first failure in item order (`Panicked` with the payload, `Killed`);
        /// `Killed` also if the pool is killed meanwhile (no further item starts then);
        /// `LoopExit` if spawning could never proceed.
        pub fn map<I, R, F>(&self, items: I, f: F) -> Result<Vec<R>, JoinError>
        where
            I: IntoIterator,
            I::Item: 'static,
            R: 'static,
            F: Fn(I::Item) -> R + 'static,
        {
            self.inner.map(items, f)
        }

        /// Runs `f` on every item in member greenlets and yields the results in item order
        /// (gevent's `imap`), lazily: at most the pool's size (64 for a group) of items are
        /// started and not yet consumed, so finished results waiting for an earlier one are
        /// bounded too. See [`Imap`] and [`imap_window`](Self::imap_window).
        pub fn imap<I, R, F>(&self, items: I, f: F) -> Imap<R>
        where
            I: IntoIterator + 'static,
            I::Item: 'static,
            R: 'static,
            F: Fn(I::Item) -> R + 'static,
        {
            let window = if self.inner.limited {
                self.inner.size
            } else {
                64
            };
            self.inner.imap(window, items, f)
        }

        /// [`imap`](Self::imap) with at most `window` items started and not yet consumed
        /// (gevent's `imap(maxsize=...)`).
        ///
        /// # Panics
        /// If `window` is 0.
        pub fn imap_window<I, R, F>(&self, window: usize, items: I, f: F) -> Imap<R>
        where
            I: IntoIterator + 'static,
            I::Item: 'static,
            R: 'static,
            F: Fn(I::Item) -> R + 'static,
        {
            self.inner.imap(window, items, f)
        }

        /// Runs `f` in a member greenlet and returns its result (gevent's `apply`). Called
        /// from a member of this group or pool, it runs `f` inline in the caller instead: a
        /// member waiting for a slot of its own full pool would wait for ever (the classic
        /// size-1 deadlock).
        ///
        /// # Errors
        /// How the greenlet failed (`Panicked`, `Killed`); `Killed` also if the pool was
        /// killed while waiting for a slot; `LoopExit` if no slot could ever be freed.
        pub fn apply<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Result<T, JoinError> {
            if self.inner.current_is_member() {
                return Ok(f());
            }
            self.inner.spawn(f, None)?.join()
        }

        /// Runs `f` in a member greenlet without waiting (gevent's `apply_async`): returns at
        /// once, even if the pool is full, with a handle to a helper greenlet (not a member)
        /// that waits for a slot, runs `f` as a member, calls `callback` with its value if it
        /// succeeds, and ends with the result. Join it for the value.
        pub fn apply_async<T: 'static>(
            &self,
            f: impl FnOnce() -> T + 'static,
            callback: impl FnOnce(&T) + 'static,
        ) -> JoinHandle<Result<T, JoinError>> {
            let inner = self.inner.clone();
            crate::task::spawn(move || {
                let v = inner.spawn(f, None)?.join()?;
                callback(&v);
                Ok(v)
            })
        }

        /// [`map`](Self::map) without waiting (gevent's `map_async`): a helper greenlet (not
        /// a member) runs the map; join its handle, or link to it, for the results.
        pub fn map_async<I, R, F>(&self, items: I, f: F) -> JoinHandle<Result<Vec<R>, JoinError>>
        where
            I: IntoIterator + 'static,
            I::Item: 'static,
            R: 'static,
            F: Fn(I::Item) -> R + 'static,
        {
            let inner = self.inner.clone();
            crate::task::spawn(move || inner.map(items, f))
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

    /// Spawns `f` as a member greenlet. Never parks, so, unlike [`Pool::spawn`], it cannot
    /// fail and returns the handle itself: `group.spawn(f).join()`, but
    /// `pool.spawn(f)?.join()`. Spawned while [`kill`](Self::kill) runs, the greenlet is
    /// killed before it starts.
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
    /// `Timeout` scopes unwind through the wait, unless a slot was already handed to this
    /// spawn when they arrived: then it spawns and reports success, and the interrupt is
    /// raised at the caller's next blocking call (issue 11's rule).
    ///
    /// Unlike [`Group::spawn`] it returns a `Result`, because waiting for a slot can fail:
    /// write `pool.spawn(f)?.join()` (`SpawnError` converts into `JoinError` and
    /// `io::Error`) where a group's is `group.spawn(f).join()`.
    ///
    /// # Errors
    /// [`SpawnError::Killed`] if the pool is killed while this waits (or during a kill);
    /// [`SpawnError::LoopExit`] if nothing left in the hub could ever free a slot. `f` is
    /// dropped unrun.
    pub fn spawn<T, F>(&self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        T: 'static,
        F: FnOnce() -> T + 'static,
    {
        self.inner.spawn(f, None)
    }

    /// Like [`spawn`](Self::spawn) but gives up after `timeout`.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), plus [`SpawnError::TimedOut`] (`f` is dropped unrun).
    pub fn spawn_timeout<T, F>(&self, timeout: Duration, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        T: 'static,
        F: FnOnce() -> T + 'static,
    {
        self.inner.spawn(f, crate::time::deadline_after(timeout))
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
        self.inner.free.get()
    }

    /// Whether a `spawn` would park now.
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Parks until a slot is free, without taking it (gevent's `wait_available`).
    ///
    /// # Errors
    ///
    /// [`WaitError::LoopExit`] if nothing left in the hub could ever free one.
    pub fn wait_available(&self) -> Result<(), WaitError> {
        self.wait_available_deadline(None)
    }

    /// Like [`wait_available`](Self::wait_available) but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when `timeout` passes first; [`WaitError::LoopExit`] as for
    /// [`wait_available`](Self::wait_available).
    pub fn wait_available_timeout(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_available_deadline(crate::time::deadline_after(timeout))
    }

    fn wait_available_deadline(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        if self.free_count() > 0 {
            return Ok(());
        }
        // Take a slot in turn and give it straight back (to the next in line, if any).
        match self.inner.take_slot(deadline) {
            Ok(()) => {
                self.inner.release_slot();
                Ok(())
            }
            // Killed: the kill frees every slot.
            Err(SpawnError::Killed) => Ok(()),
            Err(SpawnError::TimedOut) => Err(WaitError::TimedOut),
            Err(SpawnError::LoopExit) => Err(WaitError::LoopExit),
        }
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
