//! The core every sprout socket type wraps: a non-blocking fd registered with the thread's
//! reactor, and the timeouts its blocking-style calls honour.
//!
//! Timeouts are hub timers, not kernel options: a call that has to park arms one for the
//! rest of its timeout and fails with `TimedOut` when it fires. They belong to this object,
//! so a [`try_clone`](Socket::try_clone) starts with a copy, not a shared setting.

use std::cell::Cell;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use sprout_runtime::reactor::{Interest, Registration};

use crate::io::{read_tcp, retry};
use crate::sys;

/// A registered non-blocking socket (or other fd) and its timeouts.
pub(crate) struct Socket {
    /// The fd and its registration with this thread's reactor.
    reg: Registration,
    /// Whether reads may use the short-read rule (TCP streams only; see `io::read_tcp`).
    tcp: bool,
    /// Bound on each read-side call; set by `set_read_timeout`.
    read_timeout: Cell<Option<Duration>>,
    /// Bound on each write-side call; set by `set_write_timeout`.
    write_timeout: Cell<Option<Duration>>,
}

impl Socket {
    /// Registers an fd that is already non-blocking.
    pub(crate) fn new(fd: OwnedFd, tcp: bool) -> io::Result<Socket> {
        Ok(Socket {
            reg: Registration::new(fd)?,
            tcp,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
        })
    }

    /// Makes a blocking fd (from std) non-blocking and registers it.
    pub(crate) fn from_blocking(fd: OwnedFd, tcp: bool) -> io::Result<Socket> {
        sys::set_nonblocking(fd.as_fd(), true)?;
        Socket::new(fd, tcp)
    }

    /// Deregisters the fd and hands it back in blocking mode, for std.
    pub(crate) fn into_blocking(self) -> io::Result<OwnedFd> {
        let fd = self.reg.into_fd();
        sys::set_nonblocking(fd.as_fd(), false)?;
        Ok(fd)
    }

    /// Deregisters the fd and hands it back as it is (non-blocking).
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.reg.into_fd()
    }

    /// The fd.
    #[inline]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.reg.fd()
    }

    /// Lends the fd to a std socket type for one call (see `sys::view`).
    pub(crate) fn view<S: FromRawFd, T>(&self, f: impl FnOnce(&S) -> T) -> T {
        sys::view(self.fd(), f)
    }

    /// A read-side operation through the retry loop, under the read timeout.
    pub(crate) fn read_with<T>(&self, op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        retry(&self.reg, Interest::Read, self.read_timeout.get(), op)
    }

    /// A write-side operation through the retry loop, under the write timeout.
    pub(crate) fn write_with<T>(&self, op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        retry(&self.reg, Interest::Write, self.write_timeout.get(), op)
    }

    /// `recv` on a stream socket.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len();
        let op = || sys::recv(self.fd(), buf, 0);
        if self.tcp {
            read_tcp(&self.reg, self.read_timeout.get(), len, op)
        } else {
            self.read_with(op)
        }
    }

    /// Scatter read on a stream socket.
    pub(crate) fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if len == 0 {
            return Ok(0);
        }
        let op = || sys::readv(self.fd(), bufs);
        if self.tcp {
            read_tcp(&self.reg, self.read_timeout.get(), len, op)
        } else {
            self.read_with(op)
        }
    }

    /// `recv` with `MSG_PEEK`: the data stays queued.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_with(|| sys::recv(self.fd(), buf, libc::MSG_PEEK))
    }

    /// `send` (with `MSG_NOSIGNAL`).
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.write_with(|| sys::send(self.fd(), buf))
    }

    /// Gather `send` (with `MSG_NOSIGNAL`).
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        self.write_with(|| sys::send_vectored(self.fd(), bufs))
    }

    /// Finishes a non-blocking `connect` that returned `EINPROGRESS`: waits for writability,
    /// then reports the connect's own result.
    pub(crate) fn finish_connect(&self, timeout: Option<Duration>) -> io::Result<()> {
        // Writability before the connect completes would be stale: wait for the next event.
        self.reg.clear_ready(Interest::Write);
        retry(&self.reg, Interest::Write, timeout, || {
            if let Some(e) = self.view(|s: &std::net::TcpStream| s.take_error())? {
                return Err(e);
            }
            match self.view(|s: &std::net::TcpStream| s.peer_addr()) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })
    }

    /// A second handle on the same socket (`dup`), registered on its own, with a copy of
    /// this one's timeouts.
    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        let fd = self.fd().try_clone_to_owned()?;
        let s = Socket::new(fd, self.tcp)?;
        s.read_timeout.set(self.read_timeout.get());
        s.write_timeout.set(self.write_timeout.get());
        Ok(s)
    }

    /// Sets the read timeout; `Some(ZERO)` is an error, as in std.
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(check_timeout(t)?);
        Ok(())
    }

    /// The read timeout.
    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout.get()
    }

    /// Sets the write timeout; `Some(ZERO)` is an error, as in std.
    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(check_timeout(t)?);
        Ok(())
    }

    /// The write timeout.
    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout.get()
    }
}

fn check_timeout(t: Option<Duration>) -> io::Result<Option<Duration>> {
    match t {
        Some(d) if d.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        )),
        t => Ok(t),
    }
}
