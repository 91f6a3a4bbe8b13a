//! sprout: gevent for Rust. Green threads on stackful coroutines, one hub per OS thread,
//! and blocking-style code that parks only the calling greenlet.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let sleepers: Vec<_> = (0..100)
//!     .map(|i| sprout::spawn(move || { sprout::sleep(Duration::from_millis(50)); i }))
//!     .collect();
//! let sum: u32 = sleepers.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 4950);
//! // 100 sleeps of 50 ms overlapped on one thread.
//! assert!(start.elapsed() < Duration::from_secs(2));
//! println!("sum={sum}");
//! ```
//!
//! # Implementation
//!
//! Each OS thread gets a **hub** the first time it blocks: an event loop on the thread's own
//! stack with a FIFO of ready greenlets, a deadline queue and an epoll reactor. A greenlet is
//! a corosensei coroutine on a pooled, guarded stack. When a greenlet blocks it suspends to
//! the hub; when the thread's own code blocks, that call runs the hub loop until it can
//! continue. Greenlets never move between threads, so handles are `!Send` and the hot path
//! takes no lock. See [`hub`] for the loop's run order, [`waiter`] for the protocol every
//! blocking call follows, and [`greenlet`] for the explicit-switch layer. [`sync`] has the
//! primitives greenlets coordinate with (Event, AsyncResult, locks, queues, Channel, Pool and
//! Group, all on one FIFO wait list), and [`local`] greenlet-local storage.
//!
//! Work that cannot cooperate (file I/O, DNS, CPU-heavy or C calls) goes to the process's
//! [`threadpool`] with [`spawn_blocking`]: it runs on an OS thread while only the calling
//! greenlet parks, and its result wakes the hub through the poller's cross-thread notifier.
//! The `Thread*` types in [`sync`] carry events, results and items between threads and hubs.
//! [`run_threads`] (or [`Hubs`]) starts one hub per thread, for one per core.
//!
//! Linux on x86-64 only.

pub use sprout_runtime::{current, wait, Armed, Greenlet, LinkId, Waitable};
pub use sprout_runtime::{
    current_id, current_name, iwait, joinall, killall, run_threads, sleep, sleep_until, spawn,
    spawn_blocking, spawn_later, switch_count, wait_any, with_timeout, yield_now, Builder, Elapsed,
    Hubs, Interrupt, JoinError, JoinHandle, Joinable, Timeout, WaitError, WaitList, Waiter, Waker,
};
pub use sprout_runtime::{
    greenlet, hub, hubs, local, stack, sync, threadpool, time, wait_list, waiter,
};
/// Seeing inside a running hub: the blocking monitor ([`monitor`]), [`run_info()`] snapshots
/// and tracing hooks ([`trace`]).
pub use sprout_runtime::{monitor, run_info, trace};

/// Signals, child processes and fork: see `sprout::signal`, `sprout::process`,
/// `sprout::fork` and the pre-fork master `sprout::net::prefork::Workers`.
pub use sprout_net::{fork, process, signal, signal_handler, SignalHandler};

/// Cooperative sockets and fd waits: `std::net` look-alikes that park only the calling
/// greenlet (gevent's `gevent.socket`), the servers (`StreamServer`, `DatagramServer`,
/// `http::Server`), and with the `tls` feature `net::tls` (rustls with the `ring` provider).
pub use sprout_net as net;

/// Monkey patching (the `monkey` feature): after [`monkey::patch_all`], `std::net`,
/// `std::thread::sleep` and third-party blocking crates park only the calling greenlet
/// (gevent's `monkey.patch_all()`).
#[cfg(feature = "monkey")]
pub use sprout_net::monkey;
