//! Greenlet-local storage (gevent's `gevent.local`): one value per greenlet, created on first
//! use and dropped when the greenlet ends.
//!
//! ```
//! use sprout::local::Local;
//!
//! static REQUEST_ID: Local<u32> = Local::new(|| 0);
//!
//! let handlers: Vec<_> = (1..=3)
//!     .map(|id| sprout::spawn(move || {
//!         REQUEST_ID.set(id);
//!         sprout::yield_now(); // the others set theirs meanwhile
//!         REQUEST_ID.get()
//!     }))
//!     .collect();
//! let seen: Vec<u32> = handlers.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(seen, [1, 2, 3]);
//! assert_eq!(REQUEST_ID.get(), 0); // the thread's root code has its own value
//! ```
//!
//! A `Local` is a key, like `std::thread::LocalKey`: it can live in a `static`, and the values
//! live in each greenlet's record (the thread's root code counts as a greenlet). A value is
//! made by the `init` function the first time its greenlet touches it, and dropped when the
//! greenlet finishes, on the hub (so its destructor must not block). The root's values live
//! until the thread exits.
//!
//! Values are reached through `with`/`with_mut` or copied out with `get`; calling `with_mut`
//! on a key from inside its own `with` panics, as a `RefCell` would.
//!
//! # Keys that come and go (gevent#981)
//!
//! A `Local` need not be a `static`: a key made at run time and dropped releases what it
//! holds. Dropping a key drops its values in every greenlet of the dropping thread at once
//! (including greenlets still running); values that greenlets of *other* threads made for it
//! are dropped when that thread next touches any `Local`, or when their greenlet ends. Access
//! costs the same however many keys were ever made: each greenlet keeps its values in a hash
//! table of the keys it holds now, and each thread keeps, per key, the greenlets that hold a
//! value for it.
//!
//! ```
//! use std::rc::Rc;
//! use sprout::local::Local;
//!
//! for i in 0..1000 {
//!     let key: Local<Vec<u8>> = Local::new(|| vec![0; 4096]);
//!     key.with_mut(|v| v[0] = i as u8);
//!     // `key` drops here, and with it this greenlet's 4 KiB value.
//! }
//! ```

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::hub::Hub;
use crate::task::{Task, TaskState};

/// Keys handed out so far, process-wide (0 means "not assigned yet").
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// Thread numbers handed out so far (0 means "no thread", `MANY` "more than one").
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(1);

/// `Local::threads` value of a key that has values on more than one thread.
const MANY: usize = usize::MAX;

/// Keys dropped while other threads may hold values for them; each thread purges them from
/// its tables when it notices `DEAD_EPOCH` moved. Only keys used on several threads land here.
static DEAD: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Bumped whenever `DEAD` grows.
static DEAD_EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's number, for `Local::threads`.
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    /// Per key, the greenlets of this thread that made a value for it (some may have finished
    /// since; pruned as the list grows).
    static HOLDERS: RefCell<HashMap<usize, Vec<Weak<Task>>, KeyHash>> =
        RefCell::new(HashMap::default());
    /// The `DEAD_EPOCH` this thread last purged up to.
    static SEEN_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// One greenlet's values, by key; lives in the greenlet's record and is dropped with it.
#[derive(Default)]
pub(crate) struct Table(
    /// Key id to the boxed `Rc<RefCell<T>>` of that key's value.
    HashMap<usize, Box<dyn Any>, KeyHash>,
);

/// Hashes key ids (small sequential integers, never chosen by an attacker) with one
/// multiplication instead of SipHash: a local access stays a few nanoseconds.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHash;

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// The hasher of [`KeyHash`].
pub(crate) struct KeyHasher(
    /// The hash so far.
    u64,
);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Fibonacci hashing: the table uses the high bits, which the multiplication mixes.
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A greenlet-local slot: each greenlet sees its own `T`. `Sync`, so it can be a `static`;
/// the values themselves never leave the greenlet's thread. Dropping a key drops its values
/// (see the [module docs](self)).
pub struct Local<T: 'static> {
    /// Makes a greenlet's value on its first access.
    init: fn() -> T,
    /// This key's id in the greenlets' local tables; assigned on first use, never reused.
    key: AtomicUsize,
    /// The thread whose greenlets hold values for this key (0: none yet; `MANY`: several).
    threads: AtomicUsize,
}

impl<T: 'static> Local<T> {
    /// A key whose value starts as `init()` in each greenlet. `const`, for use in statics.
    pub const fn new(init: fn() -> T) -> Local<T> {
        Local {
            init,
            key: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
        }
    }

    /// Calls `f` with the current greenlet's value.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let slot = self.slot();
        let value = slot.borrow();
        f(&value)
    }

    /// Calls `f` with the current greenlet's value, mutably.
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let slot = self.slot();
        let mut value = slot.borrow_mut();
        f(&mut value)
    }

    /// Replaces the current greenlet's value.
    pub fn set(&self, value: T) {
        self.replace(value);
    }

    /// Replaces the current greenlet's value and returns the old one.
    pub fn replace(&self, value: T) -> T {
        self.with_mut(|v| std::mem::replace(v, value))
    }

    /// A copy of the current greenlet's value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// Takes the current greenlet's value, leaving `T::default()`.
    pub fn take(&self) -> T
    where
        T: Default,
    {
        self.replace(T::default())
    }

    fn key(&self) -> usize {
        let k = self.key.load(Ordering::Relaxed);
        if k != 0 {
            return k;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self
            .key
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            // Another thread assigned one first; ours is simply never used.
            Err(won) => won,
        }
    }

    /// The current greenlet's value, made on first use.
    fn slot(&self) -> Rc<RefCell<T>> {
        let key = self.key();
        purge_dead_keys();
        let task = Hub::current().current_task();
        let found = task.locals.borrow().0.get(&key).map(|v| {
            v.downcast_ref::<Rc<RefCell<T>>>()
                .expect("one key, one type")
                .clone()
        });
        if let Some(slot) = found {
            return slot;
        }
        // No borrow held while `init` runs: it may use other locals.
        let slot = Rc::new(RefCell::new((self.init)()));
        let boxed: Box<dyn Any> = Box::new(slot.clone());
        let old = task.locals.borrow_mut().0.insert(key, boxed);
        // `init` may have touched this key itself; keep the newest value, drop the other
        // outside the borrow.
        drop(old);
        self.note_thread();
        HOLDERS.with(|h| {
            let mut h = h.borrow_mut();
            let holders = h.entry(key).or_default();
            if holders.len() == holders.capacity() {
                // Amortised pruning: the list stays proportional to the live holders.
                holders.retain(|w| {
                    w.upgrade()
                        .is_some_and(|t| t.state.get() != TaskState::Dead)
                });
            }
            holders.push(Rc::downgrade(&task));
        });
        slot
    }

    /// Records that the current thread holds values for this key.
    fn note_thread(&self) {
        let me = THREAD.with(|t| *t);
        match self
            .threads
            .compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(cur) if cur == me || cur == MANY => {}
            Err(_) => self.threads.store(MANY, Ordering::Relaxed),
        }
    }
}

impl<T: 'static> Drop for Local<T> {
    fn drop(&mut self) {
        let key = *self.key.get_mut();
        let threads = *self.threads.get_mut();
        if key == 0 || threads == 0 {
            return; // never held a value anywhere
        }
        // `try_with`: a key dropped during thread teardown finds the tables gone, and with
        // them its values.
        let here = THREAD.try_with(|t| *t).ok();
        if threads != here.unwrap_or(0) {
            let mut dead = DEAD.lock().unwrap_or_else(|e| e.into_inner());
            dead.push(key);
            DEAD_EPOCH.fetch_add(1, Ordering::Release);
        }
        if here.is_some() {
            purge_key(key);
        }
    }
}

/// Drops this thread's values of `key`, in every greenlet that holds one.
fn purge_key(key: usize) {
    let holders = HOLDERS
        .try_with(|h| h.borrow_mut().remove(&key))
        .ok()
        .flatten();
    for task in holders.into_iter().flatten().filter_map(|w| w.upgrade()) {
        // Dropped outside the borrow: a destructor may use greenlet-locals itself.
        let value = task.locals.borrow_mut().0.remove(&key);
        drop(value);
    }
}

/// Purges keys that other threads dropped since this thread last looked.
#[inline]
fn purge_dead_keys() {
    let epoch = DEAD_EPOCH.load(Ordering::Acquire);
    if SEEN_EPOCH.with(Cell::get) == epoch {
        return;
    }
    SEEN_EPOCH.with(|s| s.set(epoch));
    let keys: Vec<usize> = {
        let dead = DEAD.lock().unwrap_or_else(|e| e.into_inner());
        HOLDERS.with(|h| {
            let h = h.borrow();
            dead.iter().copied().filter(|k| h.contains_key(k)).collect()
        })
    };
    for key in keys {
        purge_key(key);
    }
}

impl<T: 'static> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("key", &self.key.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
