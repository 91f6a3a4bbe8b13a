//! The switch: `patch_all`, `is_patched`, the list of interposed functions, and the fork
//! child handler that turns everything back into pass-through.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Once;

use super::real;

/// The hooks forward everything (before `patch_all`).
const OFF: u8 = 0;
/// Patched: new sockets are managed, hooks in greenlets cooperate.
const ON: u8 = 1;
/// A child forked from a patched process: hooks only keep the program's view of the sockets
/// it inherited (blocking emulation with a real `poll`) and never touch the hub, whose epoll
/// instance the child shares with its parent.
const CHILD: u8 = 2;

/// The process's mode: `OFF`, `ON` or `CHILD`. Written by `patch_all` and the fork child
/// handler; read by every hook.
static MODE: AtomicU8 = AtomicU8::new(OFF);

/// Every libc function sprout defines with the `monkey` feature. All of them forward to the
/// real function until [`patch_all`] runs.
pub const PATCHED: &[&str] = &[
    // Socket I/O: cooperative inside greenlets.
    "accept",
    "accept4",
    "connect",
    "read",
    "readv",
    "recv",
    "recvfrom",
    "recvmsg",
    "write",
    "writev",
    "send",
    "sendto",
    "sendmsg",
    // Waiting and sleeping: cooperative inside greenlets.
    "poll",
    "select",
    "nanosleep",
    "clock_nanosleep",
    "usleep",
    "sleep",
    // Event loops and child waits: cooperative inside greenlets.
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "waitpid",
    "wait4",
    "waitid",
    // Futex waits (std::sync, thread::park): cooperative inside greenlets.
    "syscall",
    // Name resolution: the real call runs on the thread pool.
    "getaddrinfo",
    // Bookkeeping: the program's view of each socket.
    "socket",
    "socketpair",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "ioctl",
    "setsockopt",
];

/// The hooks' view of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Not patched: forward everything.
    Off,
    /// Patched.
    On,
    /// A forked child of a patched process.
    Child,
}

/// The current mode; one relaxed atomic load.
#[inline(always)]
pub(crate) fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        OFF => Mode::Off,
        ON => Mode::On,
        _ => Mode::Child,
    }
}

/// Whether a hook called now may switch greenlets: the process is patched (and not a forked
/// child), and the calling code may park on this thread's hub (see
/// `sprout::hub::may_park`: a greenlet or the root code of a thread that has a hub,
/// never the hub loop itself nor an explicit `greenlet::Greenlet`).
#[inline]
pub(crate) fn cooperative() -> bool {
    mode() == Mode::On && sprout_runtime::hub::may_park()
}

/// Switches the hooks on, gevent's `monkey.patch_all()`: from now on, blocking socket calls,
/// sleeps, `poll` and `select` made by a greenlet (or by the root code of a thread that has a
/// hub) park only that greenlet, whoever makes them: `std::net`, `std::thread::sleep`, or a
/// third-party crate built on them. Calls from other threads keep their blocking behaviour.
///
/// Call it first thing in `main`: only sockets created after it are managed (see the module
/// docs). If sockets created before it are still open, the first call prints one warning
/// line to stderr naming their fds: they stay blocking. It also creates the calling thread's hub, so `main`'s own blocking calls run the
/// hub loop. Calling it again does nothing.
pub fn patch_all() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        warn_about_open_sockets();
        real::ensure_resolved();
        // SAFETY: `forked_child` is an `extern "C" fn()` that only stores to an atomic, which
        // is async-signal-safe, as a fork child handler must be.
        let r = unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        assert_eq!(r, 0, "sprout::monkey: pthread_atfork failed");
    });
    // Creates the calling thread's hub.
    let _ = sprout_runtime::current_id();
    let _ = MODE.compare_exchange(OFF, ON, Ordering::AcqRel, Ordering::Relaxed);
}

/// Whether hooked `epoll_wait`/`epoll_pwait`/`epoll_pwait2` park the calling greenlet (the
/// default after [`patch_all`]); see [`set_cooperative_epoll`].
static EPOLL_COOPERATIVE: AtomicBool = AtomicBool::new(true);

/// Whether an `epoll_wait` hook may park the caller: patched, the caller may park, and
/// [`set_cooperative_epoll`] did not turn it off.
#[inline]
pub(crate) fn epoll_cooperative() -> bool {
    EPOLL_COOPERATIVE.load(Ordering::Relaxed) && cooperative()
}

/// Turns the cooperative `epoll_wait` hooks off (`false`) or back on (`true`, the default),
/// process-wide, at any time.
///
/// With them on, an event loop inside a blocking call (a tokio current-thread runtime's
/// `block_on`, as in the `postgres` crate's sync client) parks only its greenlet while it
/// waits. But tokio marks the whole OS thread as "inside a runtime": while one greenlet is
/// parked in `block_on`, a second greenlet of the same thread that enters `block_on` gets
/// tokio's panic "Cannot start a runtime from within a runtime". A program whose greenlets
/// use such clients concurrently (a connection per greenlet, a pool) should either give
/// each its own thread (`sprout::Hubs`, `sprout::spawn_blocking`) or call
/// `set_cooperative_epoll(false)`: then `epoll_wait` blocks the OS thread as before
/// patching, and those calls run one after another instead.
///
/// ```
/// sprout::monkey::patch_all();
/// sprout::monkey::set_cooperative_epoll(false); // several tokio-wrapping clients per thread
/// ```
pub fn set_cooperative_epoll(on: bool) {
    EPOLL_COOPERATIVE.store(on, Ordering::Relaxed);
}

/// Whether [`patch_all`] has run in this process (false in a child forked after it: there
/// every hook passes through).
pub fn is_patched() -> bool {
    mode() == Mode::On
}

/// The fork child handler: from now on the hooks never touch the parent's hub.
extern "C" fn forked_child() {
    let _ = MODE.compare_exchange(ON, CHILD, Ordering::Relaxed, Ordering::Relaxed);
}

/// In a child forked by `sprout::fork` from a patched process, whose hub has been rebuilt on
/// an epoll instance of its own: the hooks cooperate again (and `is_patched` says so).
pub(crate) fn resume_after_fork() {
    let _ = MODE.compare_exchange(CHILD, ON, Ordering::AcqRel, Ordering::Relaxed);
}

/// The sockets open now (fd numbers), from `/proc/self/fd`.
fn open_sockets() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            target.to_str()?.starts_with("socket:").then_some(fd)
        })
        .collect();
    fds.sort_unstable();
    fds
}

/// Prints one warning line if sockets made before `patch_all` are still open: the hooks do
/// not manage them, so they stay blocking.
fn warn_about_open_sockets() {
    let fds = open_sockets();
    if fds.is_empty() {
        return;
    }
    let list: Vec<String> = fds.iter().map(i32::to_string).collect();
    eprintln!(
        "sprout::monkey: warning: {} socket{} created before patch_all {} still open (fd {}); \
         {} blocking: call patch_all before creating sockets",
        fds.len(),
        if fds.len() == 1 { "" } else { "s" },
        if fds.len() == 1 { "is" } else { "are" },
        list.join(", "),
        if fds.len() == 1 {
            "it stays"
        } else {
            "they stay"
        },
    );
}
