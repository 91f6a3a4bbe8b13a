//! fd readiness as a [`Waitable`]: [`Readable`] and [`Writable`], for `sprout::wait`,
//! `wait_any` and `iwait` over a mix of sockets, greenlets and events (gevent's `wait` takes
//! sockets too).
//!
//! ```
//! use std::io::Write;
//! use sprout::net::{Readable, TcpListener, TcpStream};
//! use sprout::Waitable;
//! use std::os::fd::AsRawFd;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let mut client = TcpStream::connect(listener.local_addr()?)?;
//! let (conn, _) = listener.accept()?;
//! let stop = sprout::sync::Event::new();
//! client.write_all(b"x")?;
//! let readable = Readable(conn.as_raw_fd());
//! let ready = sprout::wait(&[&readable as &dyn Waitable, &stop], None, Some(1)).unwrap();
//! assert_eq!(ready, [0]); // the socket, not the event
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Readiness is what `poll(2)` reports now (level-triggered): readable means a read would not
//! block (data, EOF, a connection to accept, or an error); an fd `poll` rejects counts as
//! ready, so the caller's next call reports the error. Arming spawns a watcher greenlet that
//! parks in [`wait_readable`](crate::wait_readable)/[`wait_writable`](crate::wait_writable)
//! on the fd; disarming kills it and waits until it is gone, so the caller can read the fd
//! right after the wait without meeting a second waiter in the same direction. The fd must
//! not be waited on in the same direction by another greenlet meanwhile (one reader and one
//! writer per fd, as everywhere in sprout).

use std::os::fd::RawFd;

use sprout_runtime::{Armed, Waitable, Waker};

use crate::sys;

/// Ready while `fd` is readable (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readable(pub RawFd);

/// Ready while `fd` is writable (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writable(pub RawFd);

fn arm(fd: RawFd, write: bool, waker: &Waker) -> Armed<'static> {
    let waker = waker.clone();
    let watcher = sprout_runtime::spawn(move || {
        // An error (the fd closed, a second waiter) also ends the watch: the caller's
        // `is_ready` then decides, and its next call on the fd reports the error.
        let _ = if write {
            crate::wait_writable(fd, None)
        } else {
            crate::wait_readable(fd, None)
        };
        waker.wake();
    });
    // Waits for the watcher to go, so its fd registration is gone when the caller proceeds.
    Armed::new(move || watcher.kill())
}

impl Waitable for Readable {
    fn is_ready(&self) -> bool {
        sys::poll_ready(self.0, false).unwrap_or(true)
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        arm(self.0, false, waker)
    }
}

impl Waitable for Writable {
    fn is_ready(&self) -> bool {
        sys::poll_ready(self.0, true).unwrap_or(true)
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        arm(self.0, true, waker)
    }
}
