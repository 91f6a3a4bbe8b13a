//! The greenlets a server runs its handler in (a [`StreamServer`](crate::StreamServer)'s
//! connections, a [`DatagramServer`](crate::DatagramServer)'s datagrams): spawned directly or
//! in a [`Pool`], tracked by greenlet id until they end, and drained by a graceful stop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout_runtime::sync::Pool;
use sprout_runtime::{JoinHandle, WaitList};

/// A server's live handler greenlets.
pub(crate) struct Handlers {
    /// By greenlet id: inserted by `spawn`, removed by each greenlet's [`Leave`] guard when
    /// it ends, drained by `drain_and_kill`.
    running: RefCell<HashMap<u64, JoinHandle<()>>>,
    /// Notified whenever a handler greenlet ends.
    ended: WaitList,
}

/// Removes a handler greenlet from its server's set when it ends, however it ends.
struct Leave {
    /// The set.
    handlers: Rc<Handlers>,
    /// The greenlet's id.
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let handle = self.handlers.running.borrow_mut().remove(&self.id);
        drop(handle);
        self.handlers.ended.notify_all();
    }
}

impl Handlers {
    /// An empty set.
    pub(crate) fn new() -> Rc<Handlers> {
        Rc::new(Handlers {
            running: RefCell::new(HashMap::new()),
            ended: WaitList::new(),
        })
    }

    /// How many run now.
    pub(crate) fn len(&self) -> usize {
        self.running.borrow().len()
    }

    /// Requests the kill of handler greenlet `id` without waiting.
    pub(crate) fn kill_nowait(&self, id: u64) {
        if let Some(h) = self.running.borrow().get(&id) {
            h.kill_nowait();
        }
    }

    /// Parks until a handler greenlet ends or `deadline` passes.
    pub(crate) fn wait_for_an_end(&self, deadline: Option<Instant>) {
        let _ = self.ended.wait(deadline);
    }

    /// Runs `body` in a greenlet of its own, in `pool` if given, tracked until it ends.
    ///
    /// # Errors
    ///
    /// No greenlet could be spawned (no stack, or the pool was killed); `body` is dropped.
    ///
    /// `#[track_caller]`: without a pool, the greenlet's spawn location (in `run_info` and the
    /// monitor's reports) is the server code that called this.
    #[track_caller]
    pub(crate) fn spawn(
        self: &Rc<Self>,
        pool: Option<&Pool>,
        body: impl FnOnce() + 'static,
    ) -> io::Result<()> {
        let handlers = self.clone();
        let body = move || {
            let _leave = Leave {
                handlers,
                id: sprout_runtime::current_id(),
            };
            body();
        };
        let handle = match pool {
            Some(pool) => pool
                .spawn(body)
                .map_err(|e| io::Error::other(e.to_string()))?,
            None => sprout_runtime::Builder::new().spawn(body)?,
        };
        self.running.borrow_mut().insert(handle.id(), handle);
        Ok(())
    }

    /// Waits until every handler greenlet other than the caller has ended, for at most
    /// `timeout`; then kills the rest and waits for each, bounded: a greenlet parked inside a
    /// libc hook (monkey patching) cannot be unwound and dies only when it next reaches plain
    /// sprout code, so after at least a second in all it is left running, with one line on
    /// stderr naming `what` (`"StreamServer::stop: connection"`).
    ///
    /// A handler stopping its own server (the caller) is neither waited for nor killed.
    pub(crate) fn drain_and_kill(&self, timeout: Duration, what: &str) {
        let me = sprout_runtime::current_id();
        let others = || {
            let r = self.running.borrow();
            r.len() - usize::from(r.contains_key(&me))
        };
        let deadline = sprout_runtime::time::deadline_after(timeout);
        while others() > 0 && deadline.is_none_or(|d| Instant::now() < d) {
            if self.ended.wait(deadline).is_err() {
                break;
            }
        }
        let rest: Vec<JoinHandle<()>> = {
            let mut r = self.running.borrow_mut();
            let ids: Vec<u64> = r.keys().copied().filter(|id| *id != me).collect();
            ids.iter().filter_map(|id| r.remove(id)).collect()
        };
        for h in &rest {
            h.kill_nowait();
        }
        let grace = sprout_runtime::time::saturating_deadline(timeout.max(Duration::from_secs(1)));
        for h in &rest {
            let left = grace.saturating_duration_since(Instant::now());
            if !h.kill_timeout(left) {
                eprintln!(
                    "sprout: {what} greenlet #{} did not die; leaving it",
                    h.id()
                );
            }
        }
    }
}
