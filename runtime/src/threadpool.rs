//! The thread pool: runs what cannot cooperate (file I/O, DNS, CPU-heavy work, C libraries)
//! on OS threads while only the calling greenlet parks (gevent's `ThreadPool`, used as
//! `get_hub().threadpool.apply(f)`).
//!
//! ```
//! use std::time::Duration;
//! use sprout::threadpool::spawn_blocking;
//!
//! let ticker = sprout::spawn(|| {
//!     let mut ticks = 0;
//!     for _ in 0..3 {
//!         sprout::sleep(Duration::from_millis(10));
//!         ticks += 1;
//!     }
//!     ticks
//! });
//! // Blocks a pool thread for 300 ms; the ticker keeps running on this hub meanwhile.
//! let n = spawn_blocking(|| { std::thread::sleep(Duration::from_millis(300)); 42 });
//! assert_eq!(n, 42);
//! assert!(ticker.is_finished());
//! assert_eq!(ticker.join().unwrap(), 3);
//! ```
//!
//! There is one pool per process. Its threads start when jobs need them, up to
//! [`max_threads`] (default [`DEFAULT_MAX_THREADS`], 128; [`set_max_threads`]), and a thread
//! idle for [`idle_timeout`] (default 10 s; [`set_idle_timeout`]) exits.
//!
//! # Sizing: blocking work, not CPU work
//!
//! A pool thread mostly *waits* (a disk, a C library's socket, a resolver), so the number of
//! cores says nothing about how many are useful: with 4 threads, 1,000 jobs of 10 ms from
//! 1,000 greenlets queue for 2.5 s; with 128 they take about 80 ms. The default, 128, sits
//! between gevent's 10 (sized for Python's GIL) and tokio's 512 (`max_blocking_threads`):
//! enough for a server's worth of concurrent blocking calls, while a runaway submitter is
//! still bounded (each thread reserves a 2 MiB stack of address space, committed only as
//! used, and retires after the idle timeout). CPU-heavy work gains nothing above the core
//! count; lower the maximum with [`set_max_threads`] if the pool runs mostly that.
//!
//! # The resolver lane
//!
//! Name lookups (`sprout::net::lookup_host`, every `ToSocketAddrs` with a host name, and,
//! with the `monkey` feature, `getaddrinfo`) run on a second, small set of threads of their
//! own ([`spawn_resolver`]; at most [`resolver_threads_max`], default
//! [`DEFAULT_RESOLVER_THREADS`], 8), so a connect never queues behind long jobs that fill the
//! main pool, and a slow DNS server (seconds per lookup) cannot take the main pool's threads.
//! The lane shares the idle timeout and the protocol below.
//!
//! # Protocol: jobs out, completions back
//!
//! 1. **Submit.** [`spawn_blocking`] opens a park of the calling greenlet, registers it as a
//!    cross-thread wait on its hub (so the hub blocks in epoll rather than declaring
//!    LoopExit; see `remote`), and pushes a job, `f` plus the wait's `Send` waker, onto the
//!    pool's `crossbeam-deque` injector.
//! 2. **Start a worker.** Under the pool's lock the submitter wakes one idle worker (a
//!    `parking_lot` condvar), or, if none is idle and the pool is below its maximum, starts a
//!    thread. Otherwise the job waits for the next worker to finish its current job.
//! 3. **Find work.** A worker pops its own deque, else takes a batch from the injector into its
//!    deque, else steals from a sibling's deque. A worker about to run a job while its own
//!    deque still holds more wakes (or starts) a sibling first: a job may block for long, and
//!    the rest must not wait behind it.
//! 4. **Complete.** The worker runs `f` under `catch_unwind` and posts the outcome (a value
//!    or a panic) to the caller's hub: a push onto the hub's completion queue and, if that
//!    queue was empty, `Poller::notify`. The hub delivers it on its next pass and the
//!    greenlet resumes.
//! 5. **Return.** A value is returned; a panic is resumed in the caller with its original
//!    payload (gevent re-raises the job's exception), so it reaches whoever joins the
//!    greenlet as [`JoinError::Panicked`](crate::JoinError::Panicked). The panic message is
//!    printed once, by the pool thread, as for any thread.
//! 6. **Idle.** A worker with nothing to do parks on the condvar, counted as idle; one that
//!    stays idle for the idle timeout (or finds the pool above its maximum) re-checks the
//!    queues under the lock and exits if they are empty.
//!
//! A job cannot be interrupted. Killing the waiting greenlet, or its `Timeout` scope
//! expiring, unwinds the greenlet at once; the job runs to its end on the pool and its
//! result is dropped when it arrives.
//!
//! # Where `f` runs
//!
//! - From a greenlet, or from root code on a thread whose hub exists: on the pool, parking
//!   only the caller (root code runs the hub loop meanwhile, as for any blocking call).
//! - Inline, on the calling thread: from a pool thread (a job calling `spawn_blocking` must
//!   not wait for a pool it occupies), from a thread without a hub (it has no greenlets, so
//!   nothing else could run meanwhile), and from code already unwinding (a destructor run by
//!   a kill cannot park again).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::hub;
use crate::remote::RemoteWait;
use crate::waiter::{raise, Interrupt, Waiter};

/// A job: the caller's closure wrapped with the completion that wakes it.
type Job = Box<dyn FnOnce() + Send>;

/// Default idle timeout of a pool thread.
const DEFAULT_IDLE: Duration = Duration::from_secs(10);

/// The main pool's default maximum number of threads (see the module docs for why).
pub const DEFAULT_MAX_THREADS: usize = 128;

/// The resolver lane's default maximum number of threads.
pub const DEFAULT_RESOLVER_THREADS: usize = 8;

/// Jobs taken from the injector at once into a worker's deque (the one run plus this many
/// minus one held for itself or for siblings to steal).
const BATCH: usize = 4;

thread_local! {
    /// Whether this thread is a pool worker.
    static IN_POOL: Cell<bool> = const { Cell::new(false) };
}

/// Worker accounting, under the pool's lock.
struct State {
    /// Live worker threads (including ones being started).
    threads: usize,
    /// Workers parked on the condvar and not yet claimed by a wake-up. Incremented by a
    /// worker going idle; decremented by whoever wakes it, or by the worker on timeout.
    /// INVARIANT: `idle <= threads`.
    idle: usize,
    /// Id for the next worker (names its stealer).
    next_id: u64,
}

/// A set of worker threads with its own queue: the main pool or the resolver lane.
struct Pool {
    /// The workers' thread name.
    name: &'static str,
    /// Jobs submitted and not yet taken by a worker; pushed by submitters.
    injector: Injector<Job>,
    /// The stealing ends of live workers' deques, by worker id; written when a worker starts
    /// or exits, read while looking for work.
    stealers: RwLock<Vec<(u64, Stealer<Job>)>>,
    /// Thread counts; held briefly by submitters and by workers going idle or exiting.
    state: Mutex<State>,
    /// Idle workers park here; `wake_one` wakes one.
    wake: Condvar,
    /// Maximum live workers; set by `set_max_threads` (or `set_resolver_threads_max`).
    max_threads: AtomicUsize,
    /// The fork epoch this pool was made in (see `crate::fork`).
    fork_epoch: u64,
}

/// The main pool. INVARIANT: null or a leaked `Box<Pool>`, never freed.
static POOL: AtomicPtr<Pool> = AtomicPtr::new(std::ptr::null_mut());

/// The resolver lane. INVARIANT: as `POOL`.
static RESOLVER: AtomicPtr<Pool> = AtomicPtr::new(std::ptr::null_mut());

/// The process's main thread pool.
fn pool() -> &'static Pool {
    lane(&POOL, "sprout-pool", DEFAULT_MAX_THREADS)
}

/// The resolver lane.
fn resolver_pool() -> &'static Pool {
    lane(&RESOLVER, "sprout-resolver", DEFAULT_RESOLVER_THREADS)
}

/// The pool in `slot`, made on first use and made again on the first use in a forked child
/// (the parent's workers do not exist there; see `crate::fork`).
#[inline]
fn lane(slot: &'static AtomicPtr<Pool>, name: &'static str, default_max: usize) -> &'static Pool {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: see the invariant on POOL and RESOLVER.
        let pool = unsafe { &*p };
        if pool.fork_epoch == crate::fork::epoch() {
            return pool;
        }
    }
    new_lane(slot, p, name, default_max)
}

/// Makes a pool (first use, or first use after a fork, carrying the old pool's maximum over)
/// and installs it unless another thread got there first. An old pool is leaked.
#[cold]
fn new_lane(
    slot: &'static AtomicPtr<Pool>,
    old: *mut Pool,
    name: &'static str,
    default_max: usize,
) -> &'static Pool {
    crate::fork::install();
    // SAFETY: see the invariant on POOL and RESOLVER.
    let max =
        unsafe { old.as_ref() }.map_or(default_max, |p| p.max_threads.load(Ordering::Relaxed));
    let fresh = Box::into_raw(Box::new(Pool::new(name, max)));
    match slot.compare_exchange(old, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just leaked, never freed.
        Ok(_) => unsafe { &*fresh },
        Err(current) => {
            // SAFETY: `fresh` was never shared; `current` is a leaked pool (see POOL).
            unsafe {
                drop(Box::from_raw(fresh));
                &*current
            }
        }
    }
}

/// The idle timeout both lanes use, in milliseconds; set by `set_idle_timeout`.
static IDLE_MS: AtomicU64 = AtomicU64::new(DEFAULT_IDLE.as_millis() as u64);

impl Pool {
    fn new(name: &'static str, max_threads: usize) -> Pool {
        Pool {
            name,
            injector: Injector::new(),
            stealers: RwLock::new(Vec::new()),
            state: Mutex::new(State {
                threads: 0,
                idle: 0,
                next_id: 0,
            }),
            wake: Condvar::new(),
            max_threads: AtomicUsize::new(max_threads),
            fork_epoch: crate::fork::epoch(),
        }
    }

    fn submit(&'static self, job: Job) {
        self.injector.push(job);
        self.wake_one();
    }

    /// Wakes an idle worker, or starts one if none is idle and the pool has room.
    fn wake_one(&'static self) {
        let mut st = self.state.lock();
        debug_assert!(st.idle <= st.threads, "more idle workers than workers");
        if st.idle > 0 {
            if self.wake.notify_one() {
                st.idle -= 1;
            }
            // Otherwise the idle worker is timing out and waits for this lock; it re-checks
            // the queues under it before exiting, and finds the job.
            return;
        }
        if st.threads >= self.max_threads.load(Ordering::Relaxed) {
            return;
        }
        st.threads += 1;
        st.next_id += 1;
        let id = st.next_id;
        drop(st);
        let started = thread::Builder::new()
            .name(self.name.into())
            .spawn(move || self.worker(id));
        if let Err(e) = started {
            let mut st = self.state.lock();
            st.threads -= 1;
            if st.threads == 0 {
                drop(st);
                panic!("sprout: cannot start a thread-pool thread: {e}");
            }
        }
    }

    /// Whether any job is queued anywhere.
    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.read().iter().any(|(_, s)| !s.is_empty())
    }

    /// The next job for the worker owning `local`.
    fn find_job(&self, local: &Worker<Job>) -> Option<Job> {
        if let Some(job) = local.pop() {
            return Some(job);
        }
        loop {
            let mut retry = false;
            match self.injector.steal_batch_with_limit_and_pop(local, BATCH) {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            for (_, s) in self.stealers.read().iter() {
                match s.steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// A worker thread's life.
    fn worker(&'static self, id: u64) {
        IN_POOL.with(|p| p.set(true));
        let local = Worker::new_fifo();
        self.stealers.write().push((id, local.stealer()));
        loop {
            if let Some(job) = self.find_job(&local) {
                if !local.is_empty() {
                    self.wake_one();
                }
                job();
                continue;
            }
            let mut st = self.state.lock();
            if self.has_work() {
                continue;
            }
            if st.threads <= self.max_threads.load(Ordering::Relaxed) {
                st.idle += 1;
                let timeout = Duration::from_millis(IDLE_MS.load(Ordering::Relaxed));
                if !self.wake.wait_for(&mut st, timeout).timed_out() {
                    // Woken by `wake_one`, which took us off the idle count.
                    continue;
                }
                st.idle -= 1;
                if self.has_work() {
                    continue;
                }
            }
            st.threads -= 1;
            drop(st);
            debug_assert!(local.is_empty(), "an exiting worker holds no jobs");
            self.stealers.write().retain(|(i, _)| *i != id);
            return;
        }
    }
}

/// Runs `f` on the thread pool and parks only the calling greenlet until it returns; the hub
/// keeps running every other greenlet meanwhile. Returns what `f` returns.
///
/// See the [module docs](self) for where `f` runs and how it travels.
///
/// # Panics
///
/// A panic in `f` is resumed in the caller with its original payload. Kill and `Timeout`
/// unwind the caller at once, as every blocking call does, while `f` runs to its end on the
/// pool and its result is dropped.
pub fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match spawn_blocking_interruptible(f) {
        Ok(v) => v,
        Err(i) => {
            // Kill and `Timeout` unwind here; LoopExit and a timeout cannot happen: the wait
            // has no deadline and counts as a cross-thread wait.
            let e = raise(i);
            unreachable!("sprout: a thread-pool wait ended with {e}")
        }
    }
}

/// Like [`spawn_blocking`], but a kill or `Timeout` of the calling greenlet comes back as
/// `Err` instead of unwinding (the kill stays pending and is raised at the caller's next
/// suspension point). For callers that must not unwind, such as libc hooks. The job still
/// runs to its end; its result is dropped when it arrives.
pub fn spawn_blocking_interruptible<F, T>(f: F) -> Result<T, Interrupt>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_on(pool(), f)
}

/// Like [`spawn_blocking`], on the resolver lane (see the [module docs](self#the-resolver-lane)):
/// for name lookups and other short blocking calls that must not queue behind long jobs.
///
/// # Panics
///
/// As [`spawn_blocking`].
///
/// ```
/// let addrs = sprout::threadpool::spawn_resolver(|| {
///     std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80)).map(|a| a.count())
/// });
/// assert!(addrs.unwrap() > 0);
/// ```
pub fn spawn_resolver<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match spawn_resolver_interruptible(f) {
        Ok(v) => v,
        Err(i) => {
            let e = raise(i);
            unreachable!("sprout: a resolver wait ended with {e}")
        }
    }
}

/// Like [`spawn_blocking_interruptible`], on the resolver lane.
pub fn spawn_resolver_interruptible<F, T>(f: F) -> Result<T, Interrupt>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_on(resolver_pool(), f)
}

/// Runs `f` on `lane`, parking the caller (see the module docs for where `f` runs).
fn run_on<F, T>(lane: &'static Pool, f: F) -> Result<T, Interrupt>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if IN_POOL.with(Cell::get) || !hub::alive() || thread::panicking() {
        return Ok(f());
    }
    let mut waiter = Waiter::new();
    let wait = RemoteWait::new(waiter.waker());
    let done = wait.remote_waker();
    lane.submit(Box::new(move || {
        let outcome: thread::Result<T> = panic::catch_unwind(AssertUnwindSafe(f));
        done.complete(Box::new(outcome));
    }));
    loop {
        if let Err(i) = waiter.wait(None) {
            drop(wait);
            return Err(i);
        }
        if let Some(v) = wait.take_value() {
            drop(wait);
            let outcome = *v
                .downcast::<thread::Result<T>>()
                .expect("a pool job completes with its own result type");
            return match outcome {
                Ok(v) => Ok(v),
                Err(p) => panic::resume_unwind(p),
            };
        }
        // Resumed without the result (an interrupt that was withdrawn): park again.
        waiter = Waiter::new();
        wait.set_waker(waiter.waker());
    }
}

/// Sets the most threads the pool runs at once (at least 1). Takes effect for the next jobs;
/// threads above a lowered maximum exit when they next find nothing to do.
///
/// # Panics
///
/// If `n` is 0.
pub fn set_max_threads(n: usize) {
    assert!(n > 0, "the thread pool needs at least one thread");
    pool().max_threads.store(n, Ordering::Relaxed);
}

/// The most threads the pool runs at once (default [`DEFAULT_MAX_THREADS`], 128).
pub fn max_threads() -> usize {
    pool().max_threads.load(Ordering::Relaxed)
}

/// Sets the most threads the resolver lane runs at once (at least 1); as
/// [`set_max_threads`].
///
/// # Panics
///
/// If `n` is 0.
pub fn set_resolver_threads_max(n: usize) {
    assert!(n > 0, "the resolver lane needs at least one thread");
    resolver_pool().max_threads.store(n, Ordering::Relaxed);
}

/// The most threads the resolver lane runs at once (default [`DEFAULT_RESOLVER_THREADS`],
/// 8).
pub fn resolver_threads_max() -> usize {
    resolver_pool().max_threads.load(Ordering::Relaxed)
}

/// Sets how long a pool thread (of either lane) stays idle before it exits (rounded to whole
/// milliseconds). Takes effect for threads going idle from now on.
pub fn set_idle_timeout(d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    IDLE_MS.store(ms, Ordering::Relaxed);
}

/// How long a pool thread stays idle before it exits (default 10 s).
pub fn idle_timeout() -> Duration {
    Duration::from_millis(IDLE_MS.load(Ordering::Relaxed))
}

/// The main pool's live threads, busy or idle (gevent's `ThreadPool.size`); the resolver
/// lane's are counted by [`resolver_threads`].
pub fn threads() -> usize {
    pool().state.lock().threads
}

/// The resolver lane's live threads, busy or idle.
pub fn resolver_threads() -> usize {
    resolver_pool().state.lock().threads
}
