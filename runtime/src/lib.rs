//! sprout's runtime: greenlets, the per-thread hub, timers, the waiter protocol, sync
//! primitives, greenlet-locals, the thread pool and cross-thread wake-ups.
//!
//! Use it through the `sprout` facade crate. See `hub` for who runs where and the loop's run
//! order, `waiter` for the protocol every blocking call follows, `greenlet` for the
//! explicit-switch layer, `sync` for Event, locks, queues and pools (and their cross-thread
//! versions), `threadpool` for blocking work on OS threads, and `hubs` for one hub per core.
//! `monitor`, `run_info` and `trace` show what a running hub does (a stall, what each greenlet
//! waits on, spawn/switch/finish events).

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("sprout supports Linux on x86-64 only (epoll, and corosensei's x86-64 switch)");

mod fork;
pub mod greenlet;
mod greenlet_handle;
pub mod hub;
pub mod hubs;
pub mod local;
pub mod monitor;
pub mod reactor;
mod remote;
pub mod run_info;
pub mod stack;
pub mod sync;
mod sys;
mod task;
pub mod threadpool;
pub mod time;
mod timer;
pub mod trace;
mod value;
pub mod wait;
pub mod wait_list;
pub mod waiter;

#[doc(hidden)]
pub use fork::after_fork_in_child;
pub use greenlet_handle::{current, Greenlet};
pub use hub::{current_id, current_name, switch_count};
pub use hubs::{run_threads, Hubs};
pub use run_info::run_info;
pub use task::{spawn, spawn_later, Builder, JoinError, JoinHandle, LinkId};
pub use threadpool::spawn_blocking;
pub use time::{sleep, sleep_until, with_timeout, yield_now, Elapsed, Timeout};
pub use wait::{iwait, joinall, killall, wait, wait_any, Armed, Joinable, Waitable};
pub use wait_list::WaitList;
pub use waiter::{Interrupt, WaitError, Waiter, Waker};
