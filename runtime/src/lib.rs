//! sprout's runtime: greenlets, the per-thread hub, timers, and the waiter protocol.
//!
//! Use it through the `sprout` facade crate. See `hub` for who runs where and the loop's run
//! order, `waiter` for the protocol every blocking call follows, and `greenlet` for the
//! explicit-switch layer.

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("sprout supports Linux on x86-64 only (epoll, and corosensei's x86-64 switch)");

pub mod greenlet;
pub mod hub;
pub mod reactor;
pub mod stack;
mod sys;
mod task;
pub mod time;
mod timer;
pub mod wait_list;
pub mod waiter;

pub use hub::{current_id, current_name, switch_count};
pub use task::{
    iwait, joinall, killall, spawn, spawn_later, wait_any, Builder, JoinError, JoinHandle, Joinable,
};
pub use time::{sleep, sleep_until, with_timeout, yield_now, Elapsed, Timeout};
pub use wait_list::WaitList;
pub use waiter::{Interrupt, WaitError, Waiter, Waker};
