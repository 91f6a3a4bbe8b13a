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
    /// The user's non-blocking mode (`set_nonblocking`): calls fail with `WouldBlock`
    /// instead of parking. The fd itself is always non-blocking.
    nonblocking: Cell<bool>,
}

impl Socket {
    /// Registers an fd that is already non-blocking.
    pub(crate) fn new(fd: OwnedFd, tcp: bool) -> io::Result<Socket> {
        Ok(Socket {
            reg: Registration::new(fd)?,
            tcp,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
            nonblocking: Cell::new(false),
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
        if self.nonblocking.get() {
            return self.once(Interest::Read, op);
        }
        retry(&self.reg, Interest::Read, self.read_timeout.get(), op)
    }

    /// A write-side operation through the retry loop, under the write timeout.
    pub(crate) fn write_with<T>(&self, op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        if self.nonblocking.get() {
            return self.once(Interest::Write, op);
        }
        retry(&self.reg, Interest::Write, self.write_timeout.get(), op)
    }

    /// One attempt, for the user's non-blocking mode: `WouldBlock` is returned, as std does.
    fn once<T>(&self, interest: Interest, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reg.clear_ready(interest);
                    return Err(e);
                }
                r => return r,
            }
        }
    }

    /// Sets the user's non-blocking mode (see the `nonblocking` field).
    pub(crate) fn set_nonblocking(&self, on: bool) {
        self.nonblocking.set(on);
    }

    /// `recv` on a stream socket.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len();
        let op = || sys::recv(self.fd(), buf, 0);
        if self.tcp && !self.nonblocking.get() {
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
        if self.tcp && !self.nonblocking.get() {
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
        s.nonblocking.set(self.nonblocking.get());
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

/// Implements the socket options every socket type shares, on `socket2` (`SOL_SOCKET`
/// level): the user's non-blocking mode, buffer sizes, linger, address and port reuse.
macro_rules! socket_options {
    ($ty:ident) => {
        impl $ty {
            /// Non-blocking mode, as std's: calls that would park fail with
            /// `ErrorKind::WouldBlock` instead. Off by default (calls park the greenlet).
            /// The fd is non-blocking either way; this is sprout's setting, not `O_NONBLOCK`.
            ///
            /// # Errors
            /// None today; `io::Result` as in std.
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.sock.set_nonblocking(nonblocking);
                Ok(())
            }

            /// Sets `SO_RCVBUF`, the kernel's receive buffer, in bytes. Linux doubles the
            /// value (for its bookkeeping) and caps it at `net.core.rmem_max`; read back
            /// what it chose with [`recv_buffer_size`](Self::recv_buffer_size).
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_recv_buffer_size(&self, size: usize) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_recv_buffer_size(size)
            }

            /// `SO_RCVBUF` in bytes.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn recv_buffer_size(&self) -> std::io::Result<usize> {
                socket2::SockRef::from(self).recv_buffer_size()
            }

            /// Sets `SO_SNDBUF`, the kernel's send buffer, in bytes (doubled and capped at
            /// `net.core.wmem_max` by Linux, as `SO_RCVBUF`).
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_send_buffer_size(&self, size: usize) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_send_buffer_size(size)
            }

            /// `SO_SNDBUF` in bytes.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn send_buffer_size(&self) -> std::io::Result<usize> {
                socket2::SockRef::from(self).send_buffer_size()
            }

            /// Sets `SO_LINGER`: `Some(d)` makes `close` wait up to `d` (whole seconds) for
            /// unsent data, and `Some(ZERO)` resets the connection on close; `None` (the
            /// default) closes in the background. Note that `close` on a sprout socket is
            /// the kernel's and would block the thread with a non-zero linger.
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_linger(&self, linger: Option<std::time::Duration>) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_linger(linger)
            }

            /// `SO_LINGER`.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn linger(&self) -> std::io::Result<Option<std::time::Duration>> {
                socket2::SockRef::from(self).linger()
            }

            /// Sets `SO_REUSEADDR` (meaningful before `bind`: see `TcpSocket`).
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_reuse_address(&self, on: bool) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_reuse_address(on)
            }

            /// `SO_REUSEADDR`.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn reuse_address(&self) -> std::io::Result<bool> {
                socket2::SockRef::from(self).reuse_address()
            }

            /// Sets `SO_REUSEPORT` (meaningful before `bind`: see `TcpSocket`).
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_reuse_port(&self, on: bool) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_reuse_port(on)
            }

            /// `SO_REUSEPORT`.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn reuse_port(&self) -> std::io::Result<bool> {
                socket2::SockRef::from(self).reuse_port()
            }
        }
    };
}
pub(crate) use socket_options;

/// Implements TCP keepalive on a TCP socket type, on `socket2`.
macro_rules! keepalive_options {
    ($ty:ident) => {
        impl $ty {
            /// Turns `SO_KEEPALIVE` on or off (the kernel's probe timing stays as it is; see
            /// [`set_tcp_keepalive`](Self::set_tcp_keepalive) to set it).
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_keepalive(&self, on: bool) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_keepalive(on)
            }

            /// `SO_KEEPALIVE`.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn keepalive(&self) -> std::io::Result<bool> {
                socket2::SockRef::from(self).keepalive()
            }

            /// Turns keepalive on with the given timing: idle time before the first probe
            /// (`TCP_KEEPIDLE`), time between probes (`TCP_KEEPINTVL`) and probes before the
            /// connection is dropped (`TCP_KEEPCNT`), each when set; whole seconds.
            ///
            /// ```
            /// use std::time::Duration;
            /// use sprout::net::socket2::TcpKeepalive;
            /// use sprout::net::{TcpListener, TcpStream};
            ///
            /// let listener = TcpListener::bind("127.0.0.1:0")?;
            /// let conn = TcpStream::connect(listener.local_addr()?)?;
            /// let ka = TcpKeepalive::new()
            ///     .with_time(Duration::from_secs(30))
            ///     .with_interval(Duration::from_secs(5));
            /// conn.set_tcp_keepalive(&ka)?;
            /// assert!(conn.keepalive()?);
            /// assert_eq!(conn.keepalive_idle()?, Duration::from_secs(30));
            /// # Ok::<(), std::io::Error>(())
            /// ```
            ///
            /// # Errors
            /// As `setsockopt(2)`.
            pub fn set_tcp_keepalive(&self, params: &socket2::TcpKeepalive) -> std::io::Result<()> {
                socket2::SockRef::from(self).set_tcp_keepalive(params)
            }

            /// `TCP_KEEPIDLE`: idle time before the first keepalive probe.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn keepalive_idle(&self) -> std::io::Result<std::time::Duration> {
                socket2::SockRef::from(self).keepalive_time()
            }

            /// `TCP_KEEPINTVL`: time between keepalive probes.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn keepalive_interval(&self) -> std::io::Result<std::time::Duration> {
                socket2::SockRef::from(self).keepalive_interval()
            }

            /// `TCP_KEEPCNT`: probes sent before the connection is dropped.
            ///
            /// # Errors
            /// As `getsockopt(2)`.
            pub fn keepalive_retries(&self) -> std::io::Result<u32> {
                socket2::SockRef::from(self).keepalive_retries()
            }
        }
    };
}
pub(crate) use keepalive_options;
