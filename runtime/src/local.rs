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

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hub::Hub;

/// Keys handed out so far, process-wide (0 means "not assigned yet").
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// A greenlet-local slot: each greenlet sees its own `T`. `Sync`, so it can be a `static`;
/// the values themselves never leave the greenlet's thread.
pub struct Local<T: 'static> {
    /// Makes a greenlet's value on its first access.
    init: fn() -> T,
    /// This key's id in the greenlets' local tables; assigned on first use, never reused.
    key: AtomicUsize,
}

impl<T: 'static> Local<T> {
    /// A key whose value starts as `init()` in each greenlet. `const`, for use in statics.
    pub const fn new(init: fn() -> T) -> Local<T> {
        Local {
            init,
            key: AtomicUsize::new(0),
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
        let task = Hub::current().current_task();
        let found = task
            .locals
            .borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| {
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
        task.locals.borrow_mut().push((key, boxed));
        slot
    }
}

impl<T: 'static> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("key", &self.key.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
