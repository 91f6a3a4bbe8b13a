//! The reactor: this hub's epoll instance (through the `polling` crate) and fd readiness.
//!
//! The poller is created on first need. Waiting calls `epoll_wait` on the poller's fd
//! directly: `polling`'s own `wait` re-arms a timerfd and its notifier on every call (four
//! extra syscalls), which the hub's timer queue makes unnecessary. When the rare notifier
//! event shows up, `polling`'s `wait` is called once with a zero timeout to clear it.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::sys;

/// Events read per `epoll_wait`.
const EVENTS_CAP: usize = 1024;

/// One hub's epoll reactor.
pub(crate) struct Reactor {
    /// The epoll instance and its cross-thread notifier; shared with other threads only for
    /// `notify` (see `remote`).
    poller: Arc<polling::Poller>,
    /// Buffer for `epoll_wait`, reused across polls.
    events: RefCell<Vec<libc::epoll_event>>,
    /// Number of fds registered with the poller.
    registered: Cell<usize>,
    /// Number of greenlets parked on fd readiness.
    waiters: Cell<usize>,
}

impl Reactor {
    /// Creates the epoll instance.
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Arc::new(polling::Poller::new()?),
            events: RefCell::new(vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_CAP]),
            registered: Cell::new(0),
            waiters: Cell::new(0),
        })
    }

    /// The poller, for other threads to `notify` this hub (see `remote`).
    pub(crate) fn notifier(&self) -> Arc<polling::Poller> {
        self.poller.clone()
    }

    /// Whether any fd is registered (a non-blocking poll can find something).
    pub(crate) fn has_registrations(&self) -> bool {
        self.registered.get() > 0
    }

    /// Whether any greenlet waits on fd readiness (so blocking in epoll can end).
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.get() > 0
    }

    /// Waits up to `timeout` for readiness and wakes the waiters of every ready fd.
    pub(crate) fn poll(&self, timeout: Option<Duration>) {
        let mut events = self.events.borrow_mut();
        let n = match sys::epoll_wait(self.poller.as_raw_fd(), &mut events, timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => panic!("sprout: epoll_wait failed: {e}"),
        };
        let mut notified = false;
        for ev in &events[..n] {
            let key = ev.u64;
            if key == polling_notify_key() {
                notified = true;
            }
        }
        drop(events);
        if notified {
            let mut scratch = polling::Events::new();
            let _ = self.poller.wait(&mut scratch, Some(Duration::ZERO));
        }
    }
}

/// The key `polling` registers its own notifier (and timerfd) under.
fn polling_notify_key() -> u64 {
    usize::MAX as u64
}
