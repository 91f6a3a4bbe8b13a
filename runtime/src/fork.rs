//! The hub across `fork()`: a forked child gets a fresh reactor, notifier and thread pool.
//!
//! # Protocol
//!
//! - **Detect.** When the first reactor or thread pool is made, a `pthread_atfork` child
//!   handler is installed once per process. It only bumps a process-wide *fork epoch* (an
//!   atomic store, async-signal-safe), so it runs for every `fork()`: `sprout::fork`, a plain
//!   `libc::fork`, or a library's.
//! - **Rebuild the forking thread's hub.** Each reactor remembers the epoch its epoll instance
//!   belongs to. Every reactor entry point (poll, register, deregister, foreign waits) first
//!   compares it with the current epoch (one relaxed load); on a mismatch it rebuilds this
//!   thread's hub before touching epoll: a new epoll instance and notifier eventfd, every
//!   registration re-added under its old key (a registration whose fd was closed meanwhile
//!   wakes its waiters as closed), and a new cross-thread completion queue. The parent's
//!   epoll instance is never `epoll_ctl`ed by the child, so the child cannot remove the
//!   parent's registrations. `sprout::fork` does the same at once, in the child, before it
//!   returns; after a plain `fork()` it happens at the child's first blocking call or socket
//!   operation. Timers and greenlets are kept: they are plain memory.
//! - **Fresh thread pool.** The pool is process-wide; it also remembers its epoch, and the
//!   first use after a fork replaces it with an empty one (the parent's workers do not exist
//!   in the child; the old pool is leaked, never locked again).
//! - **Other threads.** Only the forking thread exists in the child. Other threads' hubs are
//!   gone with their threads: their greenlets never run again, and their memory and fds are
//!   leaked (never closed, never deregistered).
//! - **What is lost.** Thread-pool jobs and cross-thread waits in progress at the fork never
//!   complete in the child: their greenlets stay parked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use crate::hub::{self, Hub};

/// Bumped by the fork child handler: how many forks led to this process.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The fork epoch of this process.
#[inline(always)]
pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// The `pthread_atfork` child handler: an atomic add, async-signal-safe.
extern "C" fn forked_child() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// Installs the child handler, once per process.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `forked_child` is an `extern "C" fn()` that only touches an atomic.
        let r = unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        assert_eq!(r, 0, "sprout: pthread_atfork failed");
    });
}

/// Rebuilds this thread's hub for the current fork epoch (see the module docs).
///
/// # Panics
/// If no new epoll instance or eventfd can be made (the child is out of fds or memory): a
/// child that kept using its parent's epoll instance would corrupt the parent silently.
pub(crate) fn rebuild_current_hub() {
    if !hub::alive() {
        return;
    }
    let hub = Hub::current();
    hub.remote.after_fork();
    if let Some(reactor) = hub.reactor_if_any() {
        if let Err(e) = reactor.rebuild_after_fork() {
            panic!("sprout: cannot rebuild the hub's epoll instance after fork: {e}");
        }
    }
}

/// In a child just forked: rebuilds the calling thread's hub now (instead of at its first
/// blocking call) and makes sure the next thread-pool use starts a fresh pool. Used by
/// `sprout::fork`; a plain `fork()` gets the same, lazily.
#[doc(hidden)]
pub fn after_fork_in_child() {
    rebuild_current_hub();
}
