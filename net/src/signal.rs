//! Signals, gevent's `signal_handler`: a handler runs in a new greenlet of the hub that
//! installed it, once per delivery, and a blocking-style [`wait`] parks only its caller.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let stop = sprout::sync::Event::new();
//! let s = stop.clone();
//! let _on_term = sprout::signal_handler(libc::SIGTERM, move || s.set())?;
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
//! - **Fork.** A child forked by [`sprout::fork`](crate::fork::fork) inherits the
//!   installations, each on a pipe of its own (swapped in before `fork` returns): a signal
//!   sent to the child runs the child's copies of the handlers, one sent to the parent the
//!   parent's. After a plain `fork()` the child shares the pipes with its parent, so
//!   deliveries to either may run the handlers of either: cancel them in such a child (the
//!   pre-fork master's workers drop its routes; see [`crate::prefork`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use signal_hook::low_level::pipe;
use signal_hook::SigId;
use sprout_runtime::sync::Event;
use sprout_runtime::JoinHandle;

use crate::fd_stream::FdStream;
use crate::sys;

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

/// The pipes of the routes installed in this process: `(write end, read end if a hub reads
/// it)`. `sprout::fork` swaps each for a pipe of the child's own (see [`after_fork_in_child`]).
static PIPES: Mutex<Vec<(RawFd, Option<RawFd>)>> = Mutex::new(Vec::new());

/// Locks the route pipes across `fork` (taken by `sprout::fork` before it forks, so the child
/// never inherits the lock held by another thread).
pub(crate) fn lock_pipes() -> MutexGuard<'static, Vec<(RawFd, Option<RawFd>)>> {
    PIPES.lock().unwrap_or_else(|e| e.into_inner())
}

/// In a child forked by `sprout::fork`, before its hub is rebuilt: every route's pipe is
/// replaced, under the same fd numbers, by a pipe of the child's own. Otherwise a signal sent
/// to the child would run the parent's handlers (the parent's reader shares the pipe), and
/// the child's inherited readers would steal the parent's deliveries. The child's copies of
/// the handlers keep working, for signals sent to the child.
pub(crate) fn after_fork_in_child(pipes: &[(RawFd, Option<RawFd>)]) {
    for &(write, read) in pipes {
        if let Err(e) = sys::replace_pipe_in_child(write, read) {
            eprintln!("sprout: fork: cannot give a signal route its own pipe in the child: {e}");
        }
    }
}

/// A pipe registered with signal-hook for one signal: one byte per delivery. While any route
/// for a signal exists its default action is disarmed; dropping the last one re-arms it.
pub(crate) struct Route {
    /// The signal.
    signum: i32,
    /// signal-hook's registration (it owns the write end and closes it when unregistered).
    id: SigId,
    /// The write end's fd number, to forget it in [`PIPES`] before signal-hook closes it.
    write: RawFd,
}

impl Route {
    /// Routes deliveries of `signum` to `write`, a non-blocking pipe write end whose read end
    /// `read` a hub reads (`None`: read some other way, not registered with a hub).
    pub(crate) fn new(signum: i32, write: OwnedFd, read: Option<RawFd>) -> io::Result<Route> {
        check(signum)?;
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
        let raw = write.as_raw_fd();
        let mut pipes = lock_pipes();
        match pipe::register(signum, write) {
            Ok(id) => {
                pipes.push((raw, read));
                Ok(Route {
                    signum,
                    id,
                    write: raw,
                })
            }
            Err(e) => {
                drop(pipes);
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
        {
            let mut pipes = lock_pipes();
            if let Some(i) = pipes.iter().position(|p| p.0 == self.write) {
                pipes.swap_remove(i);
            }
            // Returns once no signal-hook handler can be using the write end, which it
            // closes; under the lock, so a fork never sees the fd number reused meanwhile.
            signal_hook::low_level::unregister(self.id);
        }
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
/// `InvalidInput` for a number that is not a signal, for `SIGKILL` and `SIGSTOP` (they cannot
/// be caught) and for the fault signals `SIGILL`, `SIGFPE`, `SIGSEGV` and `SIGBUS`; the OS
/// error if the pipe cannot be made or registered.
pub fn signal_handler<F>(signum: i32, handler: F) -> io::Result<SignalHandler>
where
    F: Fn() + 'static,
{
    check(signum)?;
    let (read, write) = sys::pipe()?;
    let mut pipe = FdStream::new(read)?;
    let route = Route::new(signum, write, Some(pipe.as_raw_fd()))?;
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
/// let mut signals = sprout::signal::Signals::new(&[libc::SIGHUP, libc::SIGTERM])?;
/// for sig in &mut signals {
///     if sig == libc::SIGTERM { break; }
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
/// let sig = sprout::signal::wait(&[libc::SIGTERM, libc::SIGINT])?;
/// println!("stopping on signal {sig}");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// As [`Signals::new`] and [`Signals::wait`].
pub fn wait(signals: &[i32]) -> io::Result<i32> {
    Signals::new(signals)?.wait()
}
