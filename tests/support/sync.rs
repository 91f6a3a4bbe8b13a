//! Helpers shared by the `sync_*` tests. Included with `#[path = "support/sync.rs"] mod
//! support;` so each test binary takes only what it uses.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const SOON: Duration = Duration::from_secs(10);

/// Lets every ready greenlet run, several passes over, so that chains of wake-ups settle
/// (each `yield_now` runs every ready greenlet once). Bounded.
pub fn settle() {
    for _ in 0..20 {
        sprout::yield_now();
    }
}

/// A shared, append-only log of events, for asserting orders.
#[derive(Clone, Default)]
pub struct Log<T>(Rc<RefCell<Vec<T>>>);

impl<T: Clone> Log<T> {
    pub fn new() -> Log<T> {
        Log(Rc::new(RefCell::new(Vec::new())))
    }

    pub fn push(&self, v: T) {
        self.0.borrow_mut().push(v);
    }

    pub fn items(&self) -> Vec<T> {
        self.0.borrow().clone()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// Counts how many greenlets are inside a section at once, and the peak.
#[derive(Clone, Default)]
pub struct Gauge {
    now: Rc<Cell<usize>>,
    peak: Rc<Cell<usize>>,
}

impl Gauge {
    pub fn new() -> Gauge {
        Gauge::default()
    }

    /// Enters the section; leaves when the returned guard drops (also when unwinding).
    pub fn enter(&self) -> GaugeGuard {
        self.now.set(self.now.get() + 1);
        self.peak.set(self.peak.get().max(self.now.get()));
        GaugeGuard(self.now.clone())
    }

    pub fn now(&self) -> usize {
        self.now.get()
    }

    pub fn peak(&self) -> usize {
        self.peak.get()
    }
}

pub struct GaugeGuard(Rc<Cell<usize>>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Drops a value into a counter when dropped: proves destructors ran.
pub struct DropCounter(pub Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
