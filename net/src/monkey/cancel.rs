//! The cancellation contract of the hooks: what a kill or an expired `Timeout` scope does to
//! a greenlet inside a hooked call (see "Cancellation" in the module docs of `monkey`).

use std::ffi::c_int;
use std::time::Instant;

use super::real;

/// The errno of a hooked call a kill or an expired `Timeout` scope cancelled:
/// `ECONNABORTED` (std's `ErrorKind::ConnectionAborted`). Typical code treats it as fatal for
/// the connection, not as a reason to retry: connection pools (r2d2's `has_broken`, the
/// redis and mysql clients' "connection dropped" checks) discard the connection, and no
/// retry loop keyed on `Interrupted`, `WouldBlock` or `TimedOut` catches it. `EINTR` would be
/// retried at once by std's `read_exact`/`write_all`; `EAGAIN`/`ETIMEDOUT` read as an
/// ordinary timeout, after which libraries keep using the connection; `ECANCELED` (the
/// previous choice) maps to an uncategorised error that some libraries retry.
pub(crate) const ERRNO: c_int = libc::ECONNABORTED;

/// Whether a kill or an expired `Timeout` scope is pending for the calling greenlet. Call it
/// only where the caller may park (`patch::cooperative()`).
#[inline]
pub(crate) fn pending() -> bool {
    sprout_runtime::waiter::interrupt_pending()
}

/// Lets the other greenlets run once without raising anything (a hooked sleep or wait
/// entered while an interrupt is pending: returning at once would let a retry loop spin
/// without ever yielding).
pub(crate) fn yield_once() {
    sprout_runtime::waiter::park_cross_thread(Some(Instant::now()), |_| true);
}

/// A call on stream socket `fd` was cancelled: shut the connection down in both directions
/// (errors ignored: it may not be connected), so that no later call on it can read the
/// reply to a request whose exchange was cut short.
pub(crate) fn abort_exchange(fd: c_int) {
    let e = real::errno();
    // SAFETY: shutdown takes no pointers; on a bad fd it fails harmlessly.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    real::set_errno(e);
}
