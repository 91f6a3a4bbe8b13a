//! Tracing hooks: observe greenlet spawn, switch-in, switch-out and finish (the Python
//! `greenlet` package's `settrace`, gevent's `events`).
//!
//! One hook for the whole process, called on the hub thread where the event happens. While no
//! hook is set, each event point costs one relaxed load of a global flag and a predictable
//! branch; the call itself is out of line (`#[cold]`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use sprout::trace::{self, TraceEvent};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! let me = std::thread::current().id();
//! trace::set_hook(move |e: &TraceEvent| {
//!     if std::thread::current().id() == me {
//!         log.lock().unwrap().push(e.to_string());
//!     }
//! });
//! sprout::spawn(|| ()).join().unwrap();
//! trace::clear_hook();
//! assert!(seen.lock().unwrap().iter().any(|l| l.starts_with("spawn")));
//! ```
//!
//! The hook runs inside the hub's switch path: it must not block or switch (no sprout
//! blocking call), and should be short. A panic in it is caught and reported once per panic on
//! stderr.

use std::fmt;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// One event seen by the hook. `id` is the greenlet's id (see [`crate::current_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceEvent {
    /// A greenlet was spawned (it starts at the hub's next pass). `location` is the caller of
    /// `spawn`/`Builder::spawn`.
    Spawn {
        /// The new greenlet's id.
        id: u64,
        /// Where it was spawned.
        location: &'static Location<'static>,
    },
    /// The hub is about to resume the greenlet.
    SwitchIn {
        /// The greenlet's id.
        id: u64,
    },
    /// The greenlet suspended back to the hub (it parked or yielded).
    SwitchOut {
        /// The greenlet's id.
        id: u64,
    },
    /// The greenlet finished (returned, panicked, or was killed; also a greenlet killed
    /// before it ever started).
    Finish {
        /// The greenlet's id.
        id: u64,
    },
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEvent::Spawn { id, location } => write!(f, "spawn #{id} at {location}"),
            TraceEvent::SwitchIn { id } => write!(f, "switch-in #{id}"),
            TraceEvent::SwitchOut { id } => write!(f, "switch-out #{id}"),
            TraceEvent::Finish { id } => write!(f, "finish #{id}"),
        }
    }
}

type Hook = Arc<dyn Fn(&TraceEvent) + Send + Sync>;

/// Whether a hook is set: the only thing the hot path reads.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The hook itself, read only when `ENABLED` is up.
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Sets the process-wide trace hook, replacing any previous one. It is called on the thread
/// of the hub where each event happens, for every hub.
pub fn set_hook(hook: impl Fn(&TraceEvent) + Send + Sync + 'static) {
    *HOOK.write() = Some(Arc::new(hook));
    ENABLED.store(true, Ordering::Relaxed);
}

/// Removes the trace hook; events cost one branch again.
pub fn clear_hook() {
    ENABLED.store(false, Ordering::Relaxed);
    *HOOK.write() = None;
}

/// Whether a hook is set (one relaxed load; inlined into the switch path).
#[inline(always)]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Calls the hook with `event` (the slow path, only when [`enabled`]).
#[cold]
#[inline(never)]
pub(crate) fn emit(event: TraceEvent) {
    let hook = HOOK.read().clone();
    if let Some(hook) = hook {
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| hook(&event))) {
            eprintln!(
                "sprout: the trace hook panicked on {event}: {}",
                crate::greenlet::panic_message(&*p)
            );
        }
    }
}
