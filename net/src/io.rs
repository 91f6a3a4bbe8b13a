//! The one retry loop: try the non-blocking syscall, on `WouldBlock` park on readiness, retry.
//!
//! Every socket and fd operation in this crate is a short call into [`retry`]. The protocol it
//! follows (ready bits, one waiter per direction, close and interrupt handling) is documented
//! in `sprout::reactor`.

use std::io;
use std::time::{Duration, Instant};

use sprout_runtime::reactor::{Interest, Registration};

/// Runs `op` until it does not fail with `WouldBlock`, parking the current greenlet on
/// `interest` readiness of `reg` in between. `timeout` bounds the whole call (a hub timer,
/// armed only if the call has to park); when it passes the call fails with `TimedOut`.
///
/// `op` is skipped while the ready bit says it would fail. `EINTR` is retried.
pub(crate) fn retry<T>(
    reg: &Registration,
    interest: Interest,
    timeout: Option<Duration>,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut deadline: Option<Option<Instant>> = None;
    loop {
        if reg.is_ready(interest) {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear_ready(interest),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
        let d =
            *deadline.get_or_insert_with(|| timeout.and_then(sprout_runtime::time::deadline_after));
        reg.wait(interest, d)?;
    }
}

/// A read from a TCP socket into `len` bytes of buffer: [`retry`], and a short read also
/// clears the ready bit ([`Registration::drained`]), because TCP returns less than asked only
/// when its receive queue is empty (the next arrival is a new edge). This spares the `EAGAIN`
/// read that would otherwise end every request of a request/response loop.
pub(crate) fn read_tcp(
    reg: &Registration,
    timeout: Option<Duration>,
    len: usize,
    op: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    let n = retry(reg, Interest::Read, timeout, op)?;
    if n > 0 && n < len {
        reg.drained();
    }
    Ok(n)
}
