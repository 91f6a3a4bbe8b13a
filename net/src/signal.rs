//! Signals, gevent's `signal_handler`: a handler runs in a new greenlet of the hub that
//! installed it, once per delivery, and a blocking-style [`wait`] parks only its caller.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let stop = sprout::sync::Event::new();
//! let s = stop.clone();
//! let _on_term = sprout::signal_handler(sprout::signal::SIGTERM, move || s.set())?;
//! let ticker = sprout::spawn(|| loop { sprout::sleep(Duration::from_secs(1)); });
//! stop.wait().unwrap(); // other greenlets keep running meanwhile
//! ticker.kill();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How a delivery travels
//!
//! - **The async-signal-safe half is signal-hook's.** Each [`SignalHandler`] owns a
//!   non-blocking pipe and registers its write end with `signal_hook::low_level::pipe`: the
//!   process-wide handler signal-hook installs writes one byte to it per delivery, and does
//!   nothing else. sprout has no signal handler code of its own.
//! - **The hub half.** A reader greenlet on the installing hub parks on the pipe's read end
//!   (it is registered with that hub's reactor); for every byte it reads it spawns the
//!   handler in a new greenlet. So delivery is process-wide (any thread may receive the
//!   signal) and routed to every hub that asked: each installation has its own pipe.
//! - **Coalescing.** The kernel keeps at most one pending instance of a standard signal: two
//!   deliveries of the same signal to the process before any thread runs the handler count
//!   as one (real-time signals queue). Once signal-hook's handler has run, each delivery is
//!   one byte and one handler run; if 64 KiB of deliveries pile up unread (the hub is blocked),
//!   later ones are dropped. Bytes that arrive together are still run one handler each.
//! - **Cancelling.** [`SignalHandler::cancel`] (or drop) unregisters the pipe from
//!   signal-hook and kills the reader greenlet; handler greenlets already spawned run on.
//! - **The default action comes back.** signal-hook keeps its process-wide handler installed
//!   once a signal has had one; sprout registers signal-hook's *conditional default* action
//!   beside the pipes (`signal_hook::flag::register_conditional_default`) and arms it while no
//!   sprout handler for that signal is installed: after the last one is cancelled, a
//!   `SIGTERM` terminates the process again and a `SIGWINCH` is ignored again. A signal whose
//!   action was not the default when sprout first handled it (ignored, like `SIGPIPE` in a
//!   Rust program, or another handler) gets no conditional default: signal-hook chains to
//!   that earlier action, so it is ignored (or handled) again. signal-hook
//!   only knows the default action of the standard signals; a real-time signal stays ignored
//!   once its last handler is gone.
//! - **LoopExit.** While a handler is installed its reader greenlet waits on the pipe, so the
//!   hub never reports LoopExit: a blocked root waits for signals instead.
//! - **Fork.** A forked child (by [`sprout::fork`](crate::fork()) or a plain `fork()`) keeps
//!   its installations, but each gets a pipe of its own at once: a `pthread_atfork` child
//!   handler makes a new pipe per installation and `dup3`s its ends onto the old read and
//!   write fd numbers (signal-hook's registration writes to that number; the reactor
//!   re-registers the read end when the child's hub is rebuilt). So a signal runs the
//!   handlers of the process it was sent to, never the other's, as gevent's `ev_loop_fork`
//!   does. Deliveries already in the pipe at the fork stay with the parent. Installations of
//!   other threads (which do not exist in the child) get a new pipe too, never read.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_int;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::low_level::pipe;
use signal_hook::SigId;
use sprout_runtime::sync::Event;
use sprout_runtime::JoinHandle;

use crate::fd_stream::FdStream;
use crate::sys;

// The signal numbers (Linux), so a crate depending only on `sprout` can name them
// (gevent users have Python's `signal.SIGTERM`). Values are `libc`'s.
/// `SIGHUP`: hang-up: the controlling terminal closed (default: terminate).
pub const SIGHUP: c_int = libc::SIGHUP;
/// `SIGINT`: interrupt, Ctrl-C (default: terminate).
pub const SIGINT: c_int = libc::SIGINT;
/// `SIGQUIT`: quit, Ctrl-\\ (default: terminate with a core dump).
pub const SIGQUIT: c_int = libc::SIGQUIT;
/// `SIGABRT`: abort (default: terminate with a core dump).
pub const SIGABRT: c_int = libc::SIGABRT;
/// `SIGUSR1`: user-defined signal 1 (default: terminate).
pub const SIGUSR1: c_int = libc::SIGUSR1;
/// `SIGUSR2`: user-defined signal 2 (default: terminate).
pub const SIGUSR2: c_int = libc::SIGUSR2;
/// `SIGPIPE`: write to a pipe with no reader (Rust programs ignore it by default).
pub const SIGPIPE: c_int = libc::SIGPIPE;
/// `SIGALRM`: timer alarm (default: terminate).
pub const SIGALRM: c_int = libc::SIGALRM;
/// `SIGTERM`: termination request, `kill`'s default (default: terminate).
pub const SIGTERM: c_int = libc::SIGTERM;
/// `SIGCHLD`: a child stopped or exited (default: ignore).
pub const SIGCHLD: c_int = libc::SIGCHLD;
/// `SIGCONT`: continue if stopped.
pub const SIGCONT: c_int = libc::SIGCONT;
/// `SIGTSTP`: stop from the terminal, Ctrl-Z (default: stop).
pub const SIGTSTP: c_int = libc::SIGTSTP;
/// `SIGTTIN`: background read from the terminal (default: stop).
pub const SIGTTIN: c_int = libc::SIGTTIN;
/// `SIGTTOU`: background write to the terminal (default: stop).
pub const SIGTTOU: c_int = libc::SIGTTOU;
/// `SIGURG`: urgent data on a socket (default: ignore).
pub const SIGURG: c_int = libc::SIGURG;
/// `SIGXCPU`: CPU time limit exceeded (default: terminate with a core dump).
pub const SIGXCPU: c_int = libc::SIGXCPU;
/// `SIGXFSZ`: file size limit exceeded (default: terminate with a core dump).
pub const SIGXFSZ: c_int = libc::SIGXFSZ;
/// `SIGVTALRM`: virtual timer alarm (default: terminate).
pub const SIGVTALRM: c_int = libc::SIGVTALRM;
/// `SIGPROF`: profiling timer alarm (default: terminate).
pub const SIGPROF: c_int = libc::SIGPROF;
/// `SIGWINCH`: the terminal window changed size (default: ignore).
pub const SIGWINCH: c_int = libc::SIGWINCH;
/// `SIGIO`: I/O is possible (default: terminate).
pub const SIGIO: c_int = libc::SIGIO;
/// `SIGPWR`: power failure (default: terminate).
pub const SIGPWR: c_int = libc::SIGPWR;
/// `SIGSYS`: bad system call (default: terminate with a core dump).
pub const SIGSYS: c_int = libc::SIGSYS;
/// `SIGKILL`: kill; cannot be caught (handlers for it are refused).
pub const SIGKILL: c_int = libc::SIGKILL;
/// `SIGSTOP`: stop; cannot be caught (handlers for it are refused).
pub const SIGSTOP: c_int = libc::SIGSTOP;

/// A signal handler installed by [`signal_handler`]: dropping it, or calling
/// [`cancel`](Self::cancel), uninstalls it. `!Send`: it belongs to the hub that installed it.
pub struct SignalHandler {
    /// The signal number.
    signum: i32,
    /// The pipe's route from signal-hook (which owns the write end); taken by `cancel`.
    route: Option<Route>,
    /// The reader greenlet; killed by `cancel`.
    reader: Option<JoinHandle<()>>,
}

/// Per signal number: the flag arming signal-hook's conditional default action, and how
/// many routes are installed (the flag is up exactly when none is).
static ROUTES: Mutex<BTreeMap<i32, (Arc<AtomicBool>, usize)>> = Mutex::new(BTreeMap::new());

/// A pipe registered with signal-hook for one signal: one byte per delivery. While any route
/// for a signal exists its default action is disarmed; dropping the last one re-arms it.
pub(crate) struct Route {
    /// The signal.
    signum: i32,
    /// signal-hook's registration (it owns the write end and closes it when unregistered).
    id: SigId,
    /// Its slot in [`FORK_SLOTS`].
    slot: usize,
}

/// How many routes can be re-piped in a forked child at once.
const SLOTS: usize = 4096;

/// The live routes' pipes, for the fork child handler, which may not lock: each slot is 0
/// (free) or `read_fd << 32 | write_fd`. A slot is filled while both fds are open.
static FORK_SLOTS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// Claims a slot for a pipe (`read`, `write`).
fn claim_slot(read: RawFd, write: RawFd) -> io::Result<usize> {
    install_fork_handler();
    let packed = ((read as u32 as u64) << 32) | write as u32 as u64;
    for (i, slot) in FORK_SLOTS.iter().enumerate() {
        if slot
            .compare_exchange(0, packed, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(i);
        }
    }
    Err(io::Error::other(format!(
        "sprout: more than {SLOTS} signal handlers are installed at once"
    )))
}

/// Installs [`repipe_in_child`] as a `pthread_atfork` child handler, once per process.
fn install_fork_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `repipe_in_child` is an `extern "C" fn()` that only makes async-signal-safe
        // system calls (pipe2, dup3, close) and reads atomics.
        let r = unsafe { libc::pthread_atfork(None, None, Some(repipe_in_child)) };
        assert_eq!(r, 0, "sprout: pthread_atfork failed");
    });
}

/// The fork child handler: gives every live route a new pipe under its old fd numbers, so
/// the child's deliveries and reads no longer touch the parent's pipe. Routes that share a
/// read end (several write ends of one pipe) share the new pipe too. Async-signal-safe: no
/// locks, no allocation.
extern "C" fn repipe_in_child() {
    for (i, slot) in FORK_SLOTS.iter().enumerate() {
        let packed = slot.load(Ordering::SeqCst);
        if packed == 0 {
            continue;
        }
        let read = (packed >> 32) as u32 as RawFd;
        // An earlier slot with the same read end already made its new pipe: reuse it.
        let done_before = FORK_SLOTS[..i]
            .iter()
            .any(|s| (s.load(Ordering::SeqCst) >> 32) as u32 as RawFd == read);
        if done_before {
            continue;
        }
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two fds into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            continue; // out of fds: this route stays shared (nothing better can be done here)
        }
        // SAFETY: dup3 onto `read`, an fd this process owns (the slot is filled only while it
        // is open); it atomically replaces it by the new read end.
        unsafe { libc::dup3(fds[0], read, libc::O_CLOEXEC) };
        for s in &FORK_SLOTS[i..] {
            let p = s.load(Ordering::SeqCst);
            if p != 0 && (p >> 32) as u32 as RawFd == read {
                // SAFETY: as above, for the route's write end, which signal-hook writes to.
                unsafe { libc::dup3(fds[1], p as u32 as RawFd, libc::O_CLOEXEC) };
            }
        }
        // SAFETY: the two temporary fds were just made and are not used elsewhere.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}

impl Route {
    /// Routes deliveries of `signum` to `write`, a non-blocking pipe write end whose read end
    /// is `read` (it must stay open as long as the route: a forked child re-pipes both).
    pub(crate) fn new(signum: i32, read: RawFd, write: OwnedFd) -> io::Result<Route> {
        check(signum)?;
        let slot = claim_slot(read, write.as_raw_fd())?;
        {
            let mut routes = ROUTES.lock().unwrap_or_else(|e| e.into_inner());
            let entry = routes.entry(signum).or_insert_with(|| {
                let armed = Arc::new(AtomicBool::new(false));
                // Only a default action comes back: a signal that was ignored (SIGPIPE in
                // every Rust program, SIGINT in a background job) or handled before stays so,
                // as signal-hook chains to the previous action. Unknown to signal-hook
                // (real-time signals): no default to bring back.
                if sys::signal_action_is_default(signum) {
                    let _ = signal_hook::flag::register_conditional_default(signum, armed.clone());
                }
                (armed, 0)
            });
            entry.1 += 1;
            entry.0.store(false, Ordering::SeqCst);
        }
        match pipe::register(signum, write) {
            Ok(id) => Ok(Route { signum, id, slot }),
            Err(e) => {
                FORK_SLOTS[slot].store(0, Ordering::SeqCst);
                release(signum);
                Err(e)
            }
        }
    }
}

/// One route for `signum` is gone; re-arms the default action when it was the last.
fn release(signum: i32) {
    let mut routes = ROUTES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = routes.get_mut(&signum) {
        entry.1 -= 1;
        if entry.1 == 0 {
            entry.0.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // Free the slot first: a fork from now on leaves this route alone (its fds are about
        // to close, and their numbers may be reused).
        FORK_SLOTS[self.slot].store(0, Ordering::SeqCst);
        // Returns once no signal-hook handler can be using the write end, which it closes.
        signal_hook::low_level::unregister(self.id);
        release(self.signum);
    }
}

/// Checks that `signum` is a signal a greenlet can handle.
fn check(signum: i32) -> io::Result<()> {
    let invalid = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()));
    if signum <= 0 || signum > libc::SIGRTMAX() {
        return invalid(&format!(
            "sprout: {signum} is not a signal number (1..={})",
            libc::SIGRTMAX()
        ));
    }
    if signum > 31 && signum < libc::SIGRTMIN() {
        return invalid(&format!(
            "sprout: signal {signum} is reserved by the C library (glibc uses {}..{} for its \
             threads); real-time signals start at {} (SIGRTMIN)",
            32,
            libc::SIGRTMIN(),
            libc::SIGRTMIN()
        ));
    }
    match signum {
        libc::SIGKILL | libc::SIGSTOP => invalid(&format!(
            "sprout: signal {signum} (SIGKILL or SIGSTOP) cannot be caught (POSIX)"
        )),
        libc::SIGILL | libc::SIGFPE | libc::SIGSEGV | libc::SIGBUS => invalid(&format!(
            "sprout: signal {signum} is a synchronous fault (SIGILL, SIGFPE, SIGSEGV, SIGBUS): \
             the faulting code would run again before any greenlet could handle it"
        )),
        _ => Ok(()),
    }
}

/// Runs `handler` in a new greenlet of the current thread's hub each time signal `signum` is
/// delivered to the process (gevent's `gevent.signal_handler`), until the returned
/// [`SignalHandler`] is cancelled or dropped. See the [module docs](crate::signal) for how
/// deliveries travel and coalesce.
///
/// # Errors
/// `InvalidInput` for a number that is not a signal, for 32 and 33 (glibc reserves them), for
/// `SIGKILL` and `SIGSTOP` (they cannot be caught) and for the fault signals `SIGILL`, `SIGFPE`, `SIGSEGV` and `SIGBUS`; the OS
/// error if the pipe cannot be made or registered.
pub fn signal_handler<F>(signum: i32, handler: F) -> io::Result<SignalHandler>
where
    F: Fn() + 'static,
{
    check(signum)?;
    let (read, write) = sys::pipe()?;
    let read_fd = read.as_raw_fd();
    let mut pipe = FdStream::new(read)?;
    let route = Route::new(signum, read_fd, write)?;
    let handler: Rc<dyn Fn()> = Rc::new(handler);
    let reader = sprout_runtime::Builder::new()
        .name(format!("signal {signum} reader"))
        .spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                for _ in 0..n {
                    let h = handler.clone();
                    let _ = sprout_runtime::Builder::new()
                        .name(format!("signal {signum} handler"))
                        .spawn(move || h());
                }
            }
        });
    Ok(SignalHandler {
        signum,
        route: Some(route),
        reader: Some(reader?),
    })
}

impl SignalHandler {
    /// The signal it handles.
    pub fn signum(&self) -> i32 {
        self.signum
    }

    /// Uninstalls the handler: later deliveries no longer run it. Handler greenlets already
    /// started run on. Calling it again does nothing.
    pub fn cancel(&mut self) {
        drop(self.route.take());
        if let Some(r) = self.reader.take() {
            r.kill_nowait();
        }
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandler")
            .field("signum", &self.signum)
            .field("active", &self.route.is_some())
            .finish()
    }
}

/// Deliveries of some signals, queued for a greenlet that waits for them one at a time (the
/// iterator form of [`wait`]). Signals delivered while nobody waits are kept, in order.
///
/// ```no_run
/// let mut signals = sprout::signal::Signals::new(&[sprout::signal::SIGHUP, sprout::signal::SIGTERM])?;
/// for sig in &mut signals {
///     if sig == sprout::signal::SIGTERM { break; }
///     println!("reloading");
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signals {
    /// One installation per signal; they push into `queue`.
    _handlers: Vec<SignalHandler>,
    /// Deliveries not yet taken, oldest first.
    queue: Rc<RefCell<VecDeque<i32>>>,
    /// Set when a delivery is queued, cleared when the queue is emptied.
    ready: Event,
}

impl Signals {
    /// Starts catching `signals` on the current hub.
    ///
    /// # Errors
    /// As [`signal_handler`], for the first signal that cannot be handled.
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        let queue = Rc::new(RefCell::new(VecDeque::new()));
        let ready = Event::new();
        let handlers = signals
            .iter()
            .map(|&sig| {
                let (q, r) = (queue.clone(), ready.clone());
                signal_handler(sig, move || {
                    q.borrow_mut().push_back(sig);
                    r.set();
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Signals {
            _handlers: handlers,
            queue,
            ready,
        })
    }

    /// Parks the calling greenlet until one of the signals is delivered (or returns one
    /// delivered earlier and not yet taken), and returns its number.
    ///
    /// # Errors
    /// The wait was interrupted (see `sprout::sync::Event::wait`); a kill unwinds as from
    /// every blocking call.
    pub fn wait(&mut self) -> io::Result<i32> {
        loop {
            if let Some(sig) = self.queue.borrow_mut().pop_front() {
                return Ok(sig);
            }
            self.ready.clear();
            self.ready.wait().map_err(io::Error::from)?;
        }
    }
}

impl Iterator for &mut Signals {
    type Item = i32;

    /// The next delivery; `None` only if the wait fails.
    fn next(&mut self) -> Option<i32> {
        self.wait().ok()
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("pending", &self.queue.borrow().len())
            .finish()
    }
}

/// Parks the calling greenlet (only it: the hub runs every other greenlet meanwhile) until
/// one of `signals` is delivered, and returns its number. Deliveries before the call or after
/// it returns are not seen; keep a [`Signals`] to catch every one.
///
/// ```no_run
/// let sig = sprout::signal::wait(&[sprout::signal::SIGTERM, sprout::signal::SIGINT])?;
/// println!("stopping on signal {sig}");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// As [`Signals::new`] and [`Signals::wait`].
pub fn wait(signals: &[i32]) -> io::Result<i32> {
    Signals::new(signals)?.wait()
}
