//! [`FdStream`]: cooperative `Read` and `Write` for any pollable fd (pipes, ttys, character
//! devices), the way gevent's `FileObjectPosix` wraps a file descriptor.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::socket::Socket;
use crate::sys;

/// An owned fd made non-blocking, whose reads and writes park the calling greenlet.
///
/// `O_NONBLOCK` belongs to the open file, which other processes may share (a terminal's
/// stdin, an inherited pipe): the original mode is restored when the `FdStream` is dropped or
/// unwrapped. A regular file cannot be polled; its reads and writes simply never park.
/// Writing to a pipe whose reader has gone raises `SIGPIPE` as `write(2)` always does (Rust
/// programs ignore it by default, and the write fails with `BrokenPipe`).
///
/// ```
/// use std::io::Read;
/// use std::os::fd::OwnedFd;
/// use std::process::{Command, Stdio};
///
/// let mut child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn()?;
/// let pipe = OwnedFd::from(child.stdout.take().unwrap());
/// let mut out = String::new();
/// sprout::net::FdStream::new(pipe)?.read_to_string(&mut out)?; // parks, not blocks
/// assert_eq!(out, "hi\n");
/// child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct FdStream {
    /// The registered fd. INVARIANT: `Some` until `into_inner` takes it.
    sock: Option<Socket>,
    /// Whether `O_NONBLOCK` was already set; restored on drop and `into_inner`.
    was_nonblocking: bool,
}

impl FdStream {
    /// Takes `fd`, sets `O_NONBLOCK` on it and registers it with this thread's reactor.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl(2)` setting `O_NONBLOCK` (`EBADF` for a closed fd); an error of
    /// `epoll_ctl(2)` registering it: `EPERM` for an fd epoll cannot watch, such as a regular file
    /// or a directory (use plain file I/O, or `sprout::spawn_blocking`,
    /// for those),
    /// `ENOMEM`/`ENOSPC`. On error the fd is closed (it was moved in).
    pub fn new(fd: OwnedFd) -> io::Result<FdStream> {
        let was_nonblocking = sys::set_nonblocking(fd.as_fd(), true)?;
        Ok(FdStream {
            sock: Some(Socket::new(fd, false)?),
            was_nonblocking,
        })
    }

    fn sock(&self) -> &Socket {
        debug_assert!(self.sock.is_some());
        match &self.sock {
            Some(s) => s,
            None => unreachable!("an FdStream holds its fd until into_inner"),
        }
    }

    /// Deregisters the fd, restores its original blocking mode and hands it back.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl(2)` restoring the original blocking mode; the fd is deregistered
    /// either way, and dropped with the error.
    pub fn into_inner(mut self) -> io::Result<OwnedFd> {
        let fd = self
            .sock
            .take()
            .expect("an FdStream holds its fd until into_inner")
            .into_fd();
        sys::set_nonblocking(fd.as_fd(), self.was_nonblocking)?;
        Ok(fd)
    }

    /// Bounds each read: after `timeout` of waiting it fails with `ErrorKind::TimedOut` (a
    /// hub timer). A zero duration is an error.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std does.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock().set_read_timeout(timeout)
    }

    /// Bounds each write the same way.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std does.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock().set_write_timeout(timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.sock().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.sock().write_timeout()
    }

    fn read_one(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let s = self.sock();
        s.read_with(|| sys::read(s.fd(), buf))
    }

    fn read_many(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let s = self.sock();
        s.read_with(|| sys::readv(s.fd(), bufs))
    }

    fn write_one(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let s = self.sock();
        s.write_with(|| sys::write(s.fd(), buf))
    }

    fn write_many(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let s = self.sock();
        s.write_with(|| sys::writev(s.fd(), bufs))
    }
}

impl FdStream {
    /// Like [`into_inner`](Self::into_inner), but infallible: if the blocking mode cannot be
    /// restored (`fcntl` on an open fd does not fail in practice), the fd is handed back as it
    /// is. For conversions that cannot fail (`Stdio::from(ChildStdout)`).
    pub(crate) fn into_inner_lossy(mut self) -> OwnedFd {
        let fd = self
            .sock
            .take()
            .expect("an FdStream holds its fd until into_inner")
            .into_fd();
        let _ = sys::set_nonblocking(fd.as_fd(), self.was_nonblocking);
        fd
    }
}

impl Drop for FdStream {
    fn drop(&mut self) {
        if let Some(s) = &self.sock {
            if !self.was_nonblocking {
                let _ = sys::set_nonblocking(s.fd(), false);
            }
        }
    }
}

impl Read for FdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_one(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_many(bufs)
    }
}

impl Read for &FdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_one(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_many(bufs)
    }
}

impl Write for FdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_one(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_many(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &FdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_one(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_many(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for FdStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock().fd()
    }
}

impl AsRawFd for FdStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock().fd().as_raw_fd()
    }
}

impl IntoRawFd for FdStream {
    /// Like [`FdStream::into_inner`]; if the original mode cannot be restored the fd is
    /// handed back non-blocking.
    fn into_raw_fd(mut self) -> RawFd {
        let fd = self
            .sock
            .take()
            .expect("an FdStream holds its fd until into_inner")
            .into_fd();
        let _ = sys::set_nonblocking(fd.as_fd(), self.was_nonblocking);
        fd.into_raw_fd()
    }
}

impl FromRawFd for FdStream {
    /// Takes ownership of the fd as [`FdStream::new`] does.
    ///
    /// # Safety
    /// `fd` must be open and owned by nobody else (the contract of `OwnedFd::from_raw_fd`).
    ///
    /// # Panics
    /// If the fd cannot be made non-blocking or registered.
    unsafe fn from_raw_fd(fd: RawFd) -> FdStream {
        // SAFETY: the caller hands over an open fd it owns (this fn's contract).
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        FdStream::new(owned)
            .unwrap_or_else(|e| panic!("sprout: cannot register fd {fd} with the reactor: {e}"))
    }
}

impl fmt::Debug for FdStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdStream")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
