//! Unix domain sockets: [`UnixListener`], [`UnixStream`] and [`UnixDatagram`], mirroring
//! `std::os::unix::net`.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::convert::{fd_conversions, socket_timeouts, stream_io};
use crate::socket::{socket_options, Socket};
use crate::sys::{self, RawAddr};

type StdListener = std::os::unix::net::UnixListener;
type StdStream = std::os::unix::net::UnixStream;
type StdDatagram = std::os::unix::net::UnixDatagram;

/// A Unix stream socket server (`std::os::unix::net::UnixListener`, cooperative).
///
/// ```
/// use std::io::{Read, Write};
/// use sprout::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("sprout-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let server = sprout::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _) = listener.accept()?; // parks this greenlet only
///     conn.write_all(b"hello")?;
///     Ok(())
/// });
/// let mut client = UnixStream::connect(&path)?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert_eq!(reply, "hello");
/// server.join().unwrap()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    /// The registered listening socket.
    sock: Socket,
}

/// An iterator over the connections a [`UnixListener`] accepts; never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The listener accepting.
    listener: &'a UnixListener,
}

/// A Unix stream connection (`std::os::unix::net::UnixStream`, cooperative).
///
/// ```
/// use std::io::{Read, Write};
/// use sprout::net::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// let reader = sprout::spawn(move || {
///     let mut buf = [0u8; 4];
///     b.read_exact(&mut buf).map(|()| buf) // parks until the bytes arrive
/// });
/// a.write_all(b"ping")?;
/// assert_eq!(&reader.join().unwrap()?, b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    /// The registered connected socket.
    sock: Socket,
}

/// A Unix datagram socket (`std::os::unix::net::UnixDatagram`, cooperative).
///
/// ```
/// use sprout::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// let receiver = sprout::spawn(move || {
///     let mut buf = [0u8; 16];
///     b.recv(&mut buf).map(|n| buf[..n].to_vec()) // parks until a datagram arrives
/// });
/// a.send(b"one datagram")?;
/// assert_eq!(receiver.join().unwrap()?, b"one datagram");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    /// The registered datagram socket.
    sock: Socket,
}

fd_conversions!(UnixListener, std::os::unix::net::UnixListener, tcp = false);
socket_options!(UnixListener);
socket_timeouts!(UnixStream);
fd_conversions!(UnixStream, std::os::unix::net::UnixStream, tcp = false);
socket_options!(UnixStream);
socket_timeouts!(UnixDatagram);
fd_conversions!(UnixDatagram, std::os::unix::net::UnixDatagram, tcp = false);
socket_options!(UnixDatagram);

impl UnixListener {
    /// Binds to the socket file `path` (which must not exist) and listens.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if `path` exists (remove a stale socket file first);
    /// `NotFound`/`PermissionDenied` for its directory; `InvalidInput` for a path longer than
    /// `sun_path` (107 bytes) or containing NUL; an error of `epoll_ctl(2)` registering the fd with
    /// this thread's reactor (`ENOMEM`, `ENOSPC`).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(StdListener::bind(path)?)
    }

    /// Accepts a connection, parking the calling greenlet until one arrives.
    ///
    /// # Errors
    ///
    /// Errors of `accept4(2)` other than `EAGAIN` (which parks): `EMFILE`/`ENFILE` when out of fds
    /// (the connection stays queued), `ENOBUFS`/`ENOMEM`; `TimedOut` if the listener's read timeout
    /// passes while parked; then an error of `epoll_ctl(2)` registering the fd with this thread's
    /// reactor (`ENOMEM`, `ENOSPC`) for the new connection; an `Other` error if another greenlet
    /// already waits to accept on this listener (gevent's `ConcurrentObjectUseError`) or another
    /// greenlet closed it meanwhile; `EBADF` if [`cancel_wait`](crate::cancel_wait) ended the wait.
    /// A kill or `Timeout` scope unwinds instead of returning.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self
            .sock
            .read_with(|| self.sock.view(|l: &StdListener| l.accept()))?;
        Ok((UnixStream::from_std(s)?, addr))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address it is bound to.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname(2)` (`ENOBUFS` when the kernel is out of memory); not expected
    /// on an open socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|l: &StdListener| l.local_addr())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Only if reading `SO_ERROR` itself fails (`getsockopt(2)`); the pending error comes back as
    /// `Ok(Some(error))`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|l: &StdListener| l.take_error())
    }

    /// A second handle on the same listener (`dup`), registered on its own.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of fds (`dup(2)`); an error of
    /// `epoll_ctl(2)` registering the new fd with this thread's reactor (`ENOMEM`, or `ENOSPC` past
    /// `fs.epoll.max_user_watches`).
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            sock: self.sock.try_clone()?,
        })
    }
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl UnixStream {
    /// Connects to the socket at `path`. While the listener's backlog is full (the kernel
    /// answers `EAGAIN` and signals nothing when it drains), the calling greenlet sleeps and
    /// retries, backing off up to 50 ms.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path longer than `sun_path` or containing NUL; `socket(2)` failing
    /// (`EMFILE`/`ENFILE` out of fds, `EAFNOSUPPORT`); errors of `connect(2)`: `NotFound` (no
    /// socket file), `ConnectionRefused` (nobody listens on it), `PermissionDenied`; an error of
    /// `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`). A full
    /// backlog is waited out, not an error. A kill or `Timeout` scope unwinds instead of returning.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = RawAddr::from_path(path.as_ref())?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        let mut backoff = Duration::from_millis(1);
        loop {
            match sys::connect(fd.as_fd(), &addr) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    sprout_runtime::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(UnixStream {
            sock: Socket::new(fd, false)?,
        })
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair(2)` (`EMFILE`/`ENFILE` out of fds), or an error of
    /// `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::socketpair(libc::SOCK_STREAM)?;
        Ok((
            UnixStream {
                sock: Socket::new(a, false)?,
            },
            UnixStream {
                sock: Socket::new(b, false)?,
            },
        ))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname(2)` (`ENOBUFS` when the kernel is out of memory); not expected
    /// on an open socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdStream| s.local_addr())
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket has no peer; other OS errors of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdStream| s.peer_addr())
    }

    /// Shuts down the read half, the write half (the peer reads EOF), or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket is not connected; other OS errors of
    /// `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.view(|s: &StdStream| s.shutdown(how))
    }

    /// A second handle on the same connection (`dup`), registered on its own.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of fds (`dup(2)`); an error of
    /// `epoll_ctl(2)` registering the new fd with this thread's reactor (`ENOMEM`, or `ENOSPC` past
    /// `fs.epoll.max_user_watches`).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            sock: self.sock.try_clone()?,
        })
    }

    /// Reads without removing the data from the queue; parks until some is there.
    ///
    /// # Errors
    ///
    /// Errors of `recv(2)` with `MSG_PEEK` other than `EAGAIN` (which parks); `TimedOut` if the
    /// read timeout ([`set_read_timeout`](Self::set_read_timeout)) passes while parked; an `Other`
    /// error if another greenlet already waits to read this socket (gevent's
    /// `ConcurrentObjectUseError`) or another greenlet closed it meanwhile; `EBADF` if
    /// [`cancel_wait`](crate::cancel_wait) ended the wait. A kill or `Timeout` scope unwinds
    /// instead of returning.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.peek(buf)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Only if reading `SO_ERROR` itself fails (`getsockopt(2)`); the pending error comes back as
    /// `Ok(Some(error))`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|s: &StdStream| s.take_error())
    }
}

stream_io!(UnixStream);

impl UnixDatagram {
    /// A datagram socket bound to the socket file `path`.
    ///
    /// # Errors
    ///
    /// As [`UnixListener::bind`]: `AddrInUse` if `path` exists, `NotFound`/`PermissionDenied` for
    /// its directory, `InvalidInput` for a path too long or containing NUL; an error of
    /// `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(StdDatagram::bind(path)?)
    }

    /// A datagram socket bound to no address.
    ///
    /// # Errors
    ///
    /// `socket(2)` failing (`EMFILE`/`ENFILE` out of fds, `EAFNOSUPPORT`), or an error of
    /// `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok(UnixDatagram {
            sock: Socket::new(fd, false)?,
        })
    }

    /// A connected pair of datagram sockets.
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair(2)` (`EMFILE`/`ENFILE` out of fds), or an error of
    /// `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sys::socketpair(libc::SOCK_DGRAM)?;
        Ok((
            UnixDatagram {
                sock: Socket::new(a, false)?,
            },
            UnixDatagram {
                sock: Socket::new(b, false)?,
            },
        ))
    }

    /// Sets the default peer for [`send`](Self::send) and [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// Errors of `connect(2)`: `NotFound` (no socket file), `ConnectionRefused` (no datagram socket
    /// bound there), `PermissionDenied`; `InvalidInput` for a path too long or containing NUL.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.sock.view(|s: &StdDatagram| s.connect(path))
    }

    /// Sends one datagram to the socket at `path`; parks while the peer's queue is full.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path too long or containing NUL; errors of `sendto(2)` other than
    /// `EAGAIN` (which parks): `NotFound`, `ConnectionRefused` (nobody bound at `path`), `EMSGSIZE`
    /// (datagram too large); `TimedOut` if the write timeout
    /// ([`set_write_timeout`](Self::set_write_timeout)) passes while parked; an `Other` error if
    /// another greenlet already waits to write this socket (gevent's `ConcurrentObjectUseError`) or
    /// another greenlet closed it meanwhile; `EBADF` if [`cancel_wait`](crate::cancel_wait) ended
    /// the wait. A kill or `Timeout` scope unwinds instead of returning.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let addr = RawAddr::from_path(path.as_ref())?;
        self.sock
            .write_with(|| sys::send_to(self.sock.fd(), buf, &addr))
    }

    /// Receives one datagram and its sender's address, parking until one arrives.
    ///
    /// # Errors
    ///
    /// Errors of `recvfrom(2)` other than `EAGAIN` (which parks); `TimedOut` if the read timeout
    /// ([`set_read_timeout`](Self::set_read_timeout)) passes while parked; an `Other` error if
    /// another greenlet already waits to read this socket (gevent's `ConcurrentObjectUseError`) or
    /// another greenlet closed it meanwhile; `EBADF` if [`cancel_wait`](crate::cancel_wait) ended
    /// the wait. A kill or `Timeout` scope unwinds instead of returning.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .read_with(|| self.sock.view(|s: &StdDatagram| s.recv_from(buf)))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` if [`connect`](Self::connect) was not called; `ConnectionRefused` if the peer
    /// went away; otherwise as [`send_to`](Self::send_to).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_with(|| sys::send(self.sock.fd(), buf))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](Self::recv_from).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_with(|| sys::recv(self.sock.fd(), buf, 0))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname(2)` (`ENOBUFS` when the kernel is out of memory); not expected
    /// on an open socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdDatagram| s.local_addr())
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket has no peer; other OS errors of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdDatagram| s.peer_addr())
    }

    /// Shuts down reading, writing, or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket is not connected; other OS errors of
    /// `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.view(|s: &StdDatagram| s.shutdown(how))
    }

    /// A second handle on the same socket (`dup`), registered on its own.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of fds (`dup(2)`); an error of
    /// `epoll_ctl(2)` registering the new fd with this thread's reactor (`ENOMEM`, or `ENOSPC` past
    /// `fs.epoll.max_user_watches`).
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: self.sock.try_clone()?,
        })
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Only if reading `SO_ERROR` itself fails (`getsockopt(2)`); the pending error comes back as
    /// `Ok(Some(error))`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|s: &StdDatagram| s.take_error())
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixDatagram");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}
