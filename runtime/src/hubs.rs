//! Many cores: N OS threads, each with its own hub, each running the same function
//! (thread-per-core, shared nothing).
//!
//! ```
//! use std::time::Duration;
//!
//! // Two hubs, each running 10 greenlets; the results come back in thread order.
//! let totals = sprout::run_threads(2, |i| {
//!     let sleepers: Vec<_> = (0..10u64)
//!         .map(|n| sprout::spawn(move || { sprout::sleep(Duration::from_millis(5)); n }))
//!         .collect();
//!     let sum: u64 = sleepers.into_iter().map(|h| h.join().unwrap()).sum();
//!     (i, sum)
//! });
//! assert_eq!(totals, vec![(0, 45), (1, 45)]);
//! ```
//!
//! Each thread's function is that thread's root code: its first blocking call creates the
//! thread's hub, exactly as on the main thread, and greenlets it spawns stay on that thread.
//! Nothing is shared between the hubs unless the function shares it; the `Send` types in
//! [`sync`](crate::sync) (`ThreadEvent`, `ThreadAsyncResult`, `thread_channel`) cross between
//! them. When the function returns, the thread ends with its hub: join the greenlets you
//! want finished first.

use std::io;
use std::panic;
use std::thread;

use parking_lot::{Condvar, Mutex};

/// Starts N hub threads running one function (see the module docs).
#[derive(Debug, Clone)]
pub struct Hubs {
    /// How many threads.
    threads: usize,
    /// Thread name prefix; threads are named `{prefix}-{i}`.
    name: String,
    /// OS stack size of each thread (its root code's stack), if not the default.
    stack_size: Option<usize>,
}

impl Hubs {
    /// `threads` hub threads.
    ///
    /// # Panics
    ///
    /// If `threads` is 0.
    pub fn new(threads: usize) -> Hubs {
        assert!(threads > 0, "Hubs needs at least one thread");
        Hubs {
            threads,
            name: "sprout-hub".into(),
            stack_size: None,
        }
    }

    /// One hub thread per available core.
    pub fn per_core() -> Hubs {
        Hubs::new(thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Names the threads `{prefix}-{i}` (default `sprout-hub-{i}`).
    pub fn name(mut self, prefix: impl Into<String>) -> Hubs {
        self.name = prefix.into();
        self
    }

    /// Sets the OS stack size of each thread, which its root code runs on (greenlets have
    /// stacks of their own).
    pub fn stack_size(mut self, bytes: usize) -> Hubs {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f(i)` as the root code of thread `i`, for every `i` in `0..threads`, and returns
    /// the results in thread order once all have finished.
    ///
    /// All threads are started before any runs `f`: if one cannot be started, none runs it and
    /// the error is returned.
    ///
    /// # Errors
    ///
    /// The OS error of starting a thread (`std::thread::Builder::spawn`: `WouldBlock` for
    /// `EAGAIN` when the process is out of threads or memory); then no thread runs `f`.
    ///
    /// # Panics
    ///
    /// If `f` panics on a thread, that panic is resumed here (the first one, in thread order)
    /// after every thread has finished.
    pub fn run<T, F>(self, f: F) -> io::Result<Vec<T>>
    where
        F: Fn(usize) -> T + Sync,
        T: Send,
    {
        // None: wait; Some(true): go; Some(false): a thread failed to start, give up.
        let gate: (Mutex<Option<bool>>, Condvar) = (Mutex::new(None), Condvar::new());
        let open = |go: bool| {
            *gate.0.lock() = Some(go);
            gate.1.notify_all();
        };
        let outcomes = thread::scope(|scope| {
            let mut handles = Vec::with_capacity(self.threads);
            for i in 0..self.threads {
                let mut b = thread::Builder::new().name(format!("{}-{i}", self.name));
                if let Some(size) = self.stack_size {
                    b = b.stack_size(size);
                }
                let (gate, f) = (&gate, &f);
                let spawned = b.spawn_scoped(scope, move || {
                    let go = {
                        let mut state = gate.0.lock();
                        while state.is_none() {
                            gate.1.wait(&mut state);
                        }
                        *state == Some(true)
                    };
                    go.then(|| f(i))
                });
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        open(false);
                        return Err(e);
                    }
                }
            }
            open(true);
            Ok(handles.into_iter().map(|h| h.join()).collect::<Vec<_>>())
        })?;
        let mut values = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            match outcome {
                Ok(v) => values.push(v.expect("every thread ran once the gate opened")),
                Err(p) => panic::resume_unwind(p),
            }
        }
        Ok(values)
    }
}

/// Runs `f(i)` on `threads` new OS threads, each with its own hub, and returns the results in
/// thread order: `Hubs::new(threads).run(f)`.
///
/// # Panics
///
/// If a thread cannot be started, or if `f` panics on one (resumed here once all are done).
pub fn run_threads<T, F>(threads: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> T + Sync,
    T: Send,
{
    Hubs::new(threads)
        .run(f)
        .unwrap_or_else(|e| panic!("sprout: cannot start a hub thread: {e}"))
}
