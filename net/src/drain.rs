//! The graceful end of a server's greenlets, shared by `StreamServer` and `DatagramServer`:
//! wait for the running handler greenlets to finish within a timeout, then kill the rest.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use sprout_runtime::{JoinHandle, WaitList};

/// Waits until every greenlet in `running` other than the caller has left it (each removes
/// itself and wakes `done` when it ends), for at most `timeout`; then kills the rest and waits
/// for each, bounded: a greenlet parked inside a libc hook (monkey patching) cannot be unwound
/// and dies only when it next reaches plain sprout code, so after at least a second in all it
/// is left running, with one line on stderr naming `what` (`"StreamServer::stop: connection"`).
///
/// A handler stopping its own server (the caller) is neither waited for nor killed.
pub(crate) fn drain_and_kill(
    running: &RefCell<HashMap<u64, JoinHandle<()>>>,
    done: &WaitList,
    timeout: Duration,
    what: &str,
) {
    let me = sprout_runtime::current_id();
    let others = || {
        let r = running.borrow();
        r.len() - usize::from(r.contains_key(&me))
    };
    let deadline = sprout_runtime::time::deadline_after(timeout);
    while others() > 0 && deadline.is_none_or(|d| Instant::now() < d) {
        if done.wait(deadline).is_err() {
            break;
        }
    }
    let rest: Vec<JoinHandle<()>> = {
        let mut r = running.borrow_mut();
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
