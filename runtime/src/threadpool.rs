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
//! [`max_threads`] (default: twice the number of cores, at least 4; [`set_max_threads`]),
//! and a thread idle for [`idle_timeout`] (default 10 s; [`set_idle_timeout`]) exits.
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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
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

/// The process's thread pool.
struct Pool {
    /// Jobs submitted and not yet taken by a worker; pushed by submitters.
    injector: Injector<Job>,
    /// The stealing ends of live workers' deques, by worker id; written when a worker starts
    /// or exits, read while looking for work.
    stealers: RwLock<Vec<(u64, Stealer<Job>)>>,
    /// Thread counts; held briefly by submitters and by workers going idle or exiting.
    state: Mutex<State>,
    /// Idle workers park here; `wake_one` wakes one.
    wake: Condvar,
    /// Maximum live workers; set by `set_max_threads`.
    max_threads: AtomicUsize,
    /// Idle timeout in milliseconds; set by `set_idle_timeout`.
    idle_ms: AtomicU64,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        injector: Injector::new(),
        stealers: RwLock::new(Vec::new()),
        state: Mutex::new(State {
            threads: 0,
            idle: 0,
            next_id: 0,
        }),
        wake: Condvar::new(),
        max_threads: AtomicUsize::new(default_max_threads()),
        idle_ms: AtomicU64::new(DEFAULT_IDLE.as_millis() as u64),
    })
}

fn default_max_threads() -> usize {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).max(4)
}

impl Pool {
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
            .name("sprout-pool".into())
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
                let timeout = Duration::from_millis(self.idle_ms.load(Ordering::Relaxed));
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
    if IN_POOL.with(Cell::get) || !hub::alive() || thread::panicking() {
        return Ok(f());
    }
    let mut waiter = Waiter::new();
    let wait = RemoteWait::new(waiter.waker());
    let done = wait.remote_waker();
    pool().submit(Box::new(move || {
        let outcome: thread::Result<T> = panic::catch_unwind(AssertUnwindSafe(f));
        done.complete(Box::new(outcome));
    }));
    loop {
        crate::run_info::waits_on(crate::run_info::WaitsOn::ThreadPool);
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

/// The most threads the pool runs at once (default: twice the number of cores, at least 4).
pub fn max_threads() -> usize {
    pool().max_threads.load(Ordering::Relaxed)
}

/// Sets how long a pool thread stays idle before it exits (rounded to whole milliseconds).
/// Takes effect for threads going idle from now on.
pub fn set_idle_timeout(d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    pool().idle_ms.store(ms, Ordering::Relaxed);
}

/// How long a pool thread stays idle before it exits (default 10 s).
pub fn idle_timeout() -> Duration {
    Duration::from_millis(pool().idle_ms.load(Ordering::Relaxed))
}

/// The pool's live threads, busy or idle (gevent's `ThreadPool.size`).
pub fn threads() -> usize {
    pool().state.lock().threads
}

/// Live threads and jobs queued but not yet taken by a thread (for `run_info`).
pub(crate) fn stats() -> (usize, usize) {
    let p = pool();
    let queued = p.injector.len()
        + p.stealers
            .read()
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>();
    (threads(), queued)
}
