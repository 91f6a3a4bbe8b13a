//! `fork()` for a process with a hub (gevent's `gevent.fork`).
//!
//! # What the child gets
//!
//! - **The calling thread's hub, rebuilt before `fork` returns**: a new epoll instance with
//!   every registration re-created (sockets, listeners, pipes and pidfds keep working in the
//!   child), a new cross-thread notifier and completion queue, and, on its first use, a new
//!   empty thread pool. Timers and greenlets are kept: every greenlet of the calling thread
//!   exists in both processes and runs on in both. The child keeps two fds of the parent's
//!   poller open (never used: closing them through `polling` would deregister them from the
//!   parent's epoll instance).
//! - **Signal handlers** get a pipe of their own in the child (see [`crate::signal`]): a
//!   signal runs the handlers of the process it was sent to only.
//! - **Greenlets already woken.** A greenlet whose wake-up was pending at the fork (its fd
//!   had turned readable, say) runs in the child even if the child kills it at once with
//!   `kill_nowait`: a pending wake-up wins over a later kill. So a child's inherited copy of
//!   a reaper greenlet may still call [`wait_pid`](crate::process::wait_pid) on a sibling,
//!   which fails with `ECHILD` (not its child). Code in such greenlets should check
//!   `std::process::id()` against the pid it was started in, as `examples/fork_echo.rs` does.
//! - **Monkey patching** (the `monkey` feature): a child forked by `sprout::fork` from a
//!   patched process stays patched (`sprout::monkey::is_patched()` is true) and its `std::net`
//!   calls cooperate on the child's own hub.
//! - **Other threads** do not exist in the child. Their hubs, greenlets and fds are left as
//!   they were (memory and fds inherited, never run, never closed); a lock one of them held
//!   at the fork stays held. Thread-pool jobs and cross-thread waits in progress at the fork
//!   never complete in the child. Fork before starting threads (the pre-fork master does).
//!
//! # A plain `fork()`
//!
//! A `libc::fork()` (or a library's) after the hub exists is detected, not silently shared:
//! a `pthread_atfork` handler marks the fork, and the child's first blocking call or socket
//! operation on that thread's hub rebuilds it exactly as `sprout::fork` does, before it
//! touches epoll. So the child never changes the parent's epoll registrations. Under
//! `monkey` a plainly forked child is not patched (its hooks pass straight through, and
//! `is_patched()` says false), as before: only `sprout::fork` keeps it cooperative.

use std::io;

use crate::sys;

/// Forks the process: returns 0 in the child and the child's pid in the parent, like
/// `fork(2)`, and gives the child a fresh hub (see the [module docs](self)). The child should
/// end with `std::process::exit`, not by returning into code that belongs to the parent.
///
/// The child must be reaped: [`sprout::process::wait_pid`](crate::process::wait_pid) parks a
/// greenlet until it exits and reaps it.
///
/// ```no_run
/// let pid = sprout::fork()?;
/// if pid == 0 {
///     println!("child {}", std::process::id());
///     std::process::exit(0);
/// }
/// let status = sprout::process::wait_pid(pid)?; // parks this greenlet only
/// assert!(status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// `fork(2)`'s (`EAGAIN`: the process limit; `ENOMEM`).
///
/// # Panics
/// In the child, if its new epoll instance or eventfd cannot be made (out of fds or memory):
/// carrying on with the parent's instance would corrupt the parent silently.
pub fn fork() -> io::Result<u32> {
    #[cfg(feature = "monkey")]
    let patched = crate::monkey::is_patched();
    // SAFETY: the child rebuilds every piece of sprout's per-process state it uses (the hub's
    // reactor, notifier and queue, the thread pool, the signal routes' pipes) instead of
    // waiting on locks other threads may have held; the caller is told (module docs) that
    // other locks stay held.
    let pid = unsafe { sys::fork() }?;
    if pid == 0 {
        sprout_runtime::after_fork_in_child();
        #[cfg(feature = "monkey")]
        if patched {
            crate::monkey::resume_after_fork();
        }
        return Ok(0);
    }
    Ok(pid as u32)
}
