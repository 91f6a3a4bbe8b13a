//! TCP: [`TcpListener`] and [`TcpStream`], mirroring `std::net`.
//!
//! Host names given to `bind` and `connect` are resolved on the thread pool (see
//! [`ToSocketAddrs`]): a slow DNS server parks only the calling greenlet.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};

use crate::resolve::ToSocketAddrs;
use std::time::Duration;

use crate::convert::{fd_conversions, socket_timeouts, stream_io};
use crate::socket::{keepalive_options, socket_options, Socket};
use crate::sys::{self, RawAddr};

/// A TCP socket server, listening for connections (`std::net::TcpListener`, cooperative).
///
/// ```no_run
/// use std::io::{Read, Write};
/// use sprout::net::TcpListener;
///
/// let listener = TcpListener::bind("127.0.0.1:7788")?;
/// loop {
///     let (mut conn, _peer) = listener.accept()?; // parks this greenlet only
///     sprout::spawn(move || {
///         let mut buf = [0u8; 4096];
///         while let Ok(n) = conn.read(&mut buf) {
///             if n == 0 || conn.write_all(&buf[..n]).is_err() {
///                 break;
///             }
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    /// The registered listening socket.
    sock: Socket,
}

/// An iterator over the connections a [`TcpListener`] accepts; never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The listener accepting.
    listener: &'a TcpListener,
}

/// A TCP connection (`std::net::TcpStream`, cooperative): reads and writes park the calling
/// greenlet, never the thread.
///
/// # Socket options
///
/// Options are set through `socket2` (the methods on each type, and
/// [`TcpSocket`](crate::TcpSocket) for those that must be set before `bind` or `connect`).
/// For anything else, every type is `AsFd`, so `socket2::SockRef::from(&stream)` reaches
/// every option `socket2` knows without giving up the socket:
///
/// ```
/// use sprout::net::socket2::SockRef;
/// use sprout::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let conn = TcpStream::connect(listener.local_addr()?)?;
/// SockRef::from(&conn).set_tos(0x10)?; // IP_TOS, which sprout does not wrap
/// assert_eq!(SockRef::from(&conn).tos()?, 0x10);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Options set that way act on the kernel socket; sprout keeps the fd non-blocking and its
/// timeouts are hub timers, so set those with sprout's methods, not `SockRef`.
pub struct TcpStream {
    /// The registered connected socket.
    sock: Socket,
}

fd_conversions!(TcpListener, std::net::TcpListener, tcp = false);
socket_options!(TcpListener);
socket_timeouts!(TcpStream);
fd_conversions!(TcpStream, std::net::TcpStream, tcp = true);
socket_options!(TcpStream);
keepalive_options!(TcpStream);

/// The listen backlog of [`TcpListener::bind`]: what nginx and the benchmark peers use
/// (std's is 128). The kernel caps it at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Runs `f` on each address `addr` resolves to until one succeeds (std's rule).
fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in &addr.to_socket_addrs()? {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

impl TcpListener {
    /// Binds to `addr` and listens (`SO_REUSEADDR`, a backlog of [`DEFAULT_BACKLOG`] = 1024
    /// pending connections). Port 0 picks a free port; see [`local_addr`](Self::local_addr).
    /// A host name is resolved on the thread pool.
    ///
    /// # Errors
    ///
    /// Those of resolving a host name (the resolver's error, `InvalidInput` for a malformed
    /// address string or `"could not resolve to any addresses"`); for each address, `socket(2)`
    /// failing (`EMFILE`/`ENFILE` out of fds, `EAFNOSUPPORT`), `bind(2)` (`AddrInUse`,
    /// `AddrNotAvailable`, `PermissionDenied` for a privileged port), `listen(2)`, or an error of
    /// `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`). With
    /// several addresses the last error is returned.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(addr, DEFAULT_BACKLOG)
    }

    /// Like [`bind`](Self::bind), with a listen backlog of `backlog` pending connections
    /// (capped by the kernel at `net.core.somaxconn`). For more options before `bind`
    /// (buffer sizes, `SO_REUSEPORT`), see [`TcpSocket`](crate::TcpSocket).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_with_backlog<A: ToSocketAddrs>(addr: A, backlog: u32) -> io::Result<TcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        each_addr(addr, |a| TcpListener::listen_on(a, false, backlog))
    }

    /// Like [`bind`](Self::bind), with `SO_REUSEPORT`: every hub thread binds its own
    /// listener to the same port and the kernel spreads incoming connections across them
    /// (thread-per-core, shared nothing; see `sprout::Hubs`). All listeners on the port must
    /// be bound this way.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind); `AddrInUse` also when a listener already on the port was bound
    /// without `SO_REUSEPORT`.
    pub fn bind_reuse_port<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            TcpListener::listen_on(a, true, DEFAULT_BACKLOG as i32)
        })
    }

    fn listen_on(addr: &SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<TcpListener> {
        let fd = sys::tcp_listen(addr, reuse_port, backlog)?;
        Ok(TcpListener {
            sock: Socket::new(fd, false)?,
        })
    }

    /// A listener on a listening socket (from `TcpSocket::listen`).
    pub(crate) fn from_socket(sock: Socket) -> io::Result<TcpListener> {
        Ok(TcpListener { sock })
    }

    /// Accepts a connection, parking the calling greenlet until one arrives.
    ///
    /// # Errors
    ///
    /// Errors of `accept4(2)` other than `EAGAIN` (which parks): `EMFILE`/`ENFILE` when out of fds
    /// (the pending connection stays queued; back off, as [`StreamServer`](crate::StreamServer)
    /// does), `ConnectionAborted` when the client gave up first, `ENOBUFS`/`ENOMEM`; `TimedOut` if
    /// the listener's read timeout passes while parked; then an error of `epoll_ctl(2)` registering
    /// the fd with this thread's reactor (`ENOMEM`, `ENOSPC`) for the new connection; an `Other`
    /// error if another greenlet already waits to accept on this listener (gevent's
    /// `ConcurrentObjectUseError`) or another greenlet closed it meanwhile; `EBADF` if
    /// [`cancel_wait`](crate::cancel_wait) ended the wait. A kill or `Timeout` scope unwinds
    /// instead of returning.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = self.sock.read_with(|| sys::accept_inet(self.sock.fd()))?;
        Ok((
            TcpStream {
                sock: Socket::new(fd, true)?,
            },
            peer,
        ))
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
        self.sock.view(|s: &std::net::TcpListener| s.local_addr())
    }

    /// Sets `IP_TTL` for accepted sockets.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_TTL` (`InvalidInput` for a value the kernel
    /// refuses).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.view(|s: &std::net::TcpListener| s.set_ttl(ttl))
    }

    /// `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt(2)` for `IP_TTL`; not expected on an open socket.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.view(|s: &std::net::TcpListener| s.ttl())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Only if reading `SO_ERROR` itself fails (`getsockopt(2)`); the pending error comes back as
    /// `Ok(Some(error))`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|s: &std::net::TcpListener| s.take_error())
    }

    /// A second handle on the same listener (`dup`), registered on its own.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of fds (`dup(2)`); an error of
    /// `epoll_ctl(2)` registering the new fd with this thread's reactor (`ENOMEM`, or `ENOSPC` past
    /// `fs.epoll.max_user_watches`).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock: self.sock.try_clone()?,
        })
    }
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn; parks the calling
    /// greenlet while the handshake runs (and while a host name is looked up on the thread pool).
    ///
    /// # Errors
    ///
    /// Those of resolving a host name fails (the resolver's error, `InvalidInput` for a malformed
    /// address string or `"could not resolve to any addresses"`); for each address in turn (the
    /// last error is returned): `socket(2)` failing (`EMFILE`/`ENFILE` out of fds, `EAFNOSUPPORT`),
    /// `ConnectionRefused` (nothing listens), `TimedOut` (the kernel gave up on the handshake),
    /// `HostUnreachable`/`NetworkUnreachable`, `AddrNotAvailable` (out of local ports), or an error
    /// of `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`). A kill
    /// or `Timeout` scope unwinds instead of returning.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_addr(a, None))
    }

    /// Connects to `addr` within `timeout` (gevent's `create_connection(address, timeout)`):
    /// a host name is resolved on the thread pool, then each address it resolves to is tried
    /// in turn, all within the one deadline (a hub timer). `&SocketAddr` works, as in std.
    ///
    /// # Errors
    /// `TimedOut` when the deadline passes (while resolving or connecting); a zero timeout
    /// is `InvalidInput`, as in std; otherwise the last address's error, as
    /// [`connect`](Self::connect).
    pub fn connect_timeout<A: ToSocketAddrs>(addr: A, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let deadline = sprout_runtime::time::saturating_deadline(timeout);
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
        // Resolution runs on the thread pool and cannot be cancelled; the caller stops
        // waiting for it at the deadline.
        let addrs = sprout_runtime::with_timeout(timeout, || addr.to_socket_addrs())
            .map_err(|_| timed_out())??;
        each_addr(addrs, |a| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            TcpStream::connect_addr(a, Some(left))
        })
    }

    pub(crate) fn connect_addr(
        addr: &SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        TcpStream::connect_socket(sys::socket(domain, libc::SOCK_STREAM)?, addr, timeout)
    }

    /// Connects a fresh non-blocking socket, parking until the handshake completes.
    pub(crate) fn connect_socket(
        fd: std::os::fd::OwnedFd,
        addr: &SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let started = match sys::connect(std::os::fd::AsFd::as_fd(&fd), &RawAddr::from_inet(addr)) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => false,
            Err(e) => return Err(e),
        };
        // Registered after connect: the registration then reports the connecting state, not
        // the stale "hung up" of a fresh socket.
        let sock = Socket::new(fd, true)?;
        if !started {
            sock.finish_connect(timeout)?;
        }
        Ok(TcpStream { sock })
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket has no peer; other OS errors of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &std::net::TcpStream| s.peer_addr())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname(2)` (`ENOBUFS` when the kernel is out of memory); not expected
    /// on an open socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &std::net::TcpStream| s.local_addr())
    }

    /// Shuts down the read half, the write half (the peer reads EOF), or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket is not connected; other OS errors of
    /// `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.view(|s: &std::net::TcpStream| s.shutdown(how))
    }

    /// A second handle on the same connection (`dup`), registered on its own: one greenlet
    /// can read through one handle while another writes through the other. Timeouts are
    /// copied, then independent.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of fds (`dup(2)`); an error of
    /// `epoll_ctl(2)` registering the new fd with this thread's reactor (`ENOMEM`, or `ENOSPC` past
    /// `fs.epoll.max_user_watches`).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: self.sock.try_clone()?,
        })
    }

    /// Reads without removing the data from the queue; parks until some is there.
    ///
    /// # Errors
    ///
    /// Errors of `recv(2)` with `MSG_PEEK` other than `EAGAIN` (which parks), such as
    /// `ConnectionReset`; `TimedOut` if the read timeout
    /// ([`set_read_timeout`](Self::set_read_timeout)) passes while parked; an `Other` error if
    /// another greenlet already waits to read this socket (gevent's `ConcurrentObjectUseError`) or
    /// another greenlet closed it meanwhile; `EBADF` if [`cancel_wait`](crate::cancel_wait) ended
    /// the wait. A kill or `Timeout` scope unwinds instead of returning.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.peek(buf)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `TCP_NODELAY` (`InvalidInput` for a value the kernel
    /// refuses).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock
            .view(|s: &std::net::TcpStream| s.set_nodelay(nodelay))
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt(2)` for `TCP_NODELAY`; not expected on an open socket.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.view(|s: &std::net::TcpStream| s.nodelay())
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_TTL` (`InvalidInput` for a value the kernel
    /// refuses).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.view(|s: &std::net::TcpStream| s.set_ttl(ttl))
    }

    /// `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt(2)` for `IP_TTL`; not expected on an open socket.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.view(|s: &std::net::TcpStream| s.ttl())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Only if reading `SO_ERROR` itself fails (`getsockopt(2)`); the pending error comes back as
    /// `Ok(Some(error))`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|s: &std::net::TcpStream| s.take_error())
    }
}

stream_io!(TcpStream);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        if let Ok(peer) = self.peer_addr() {
            d.field("peer", &peer);
        }
        d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}
