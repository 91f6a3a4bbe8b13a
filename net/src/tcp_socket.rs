//! [`TcpSocket`]: a TCP socket not yet bound or connected, for the options that must be set
//! before `bind`, `listen` or `connect` (tokio's `TcpSocket`), on `socket2`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Type};

use crate::socket::Socket;
use crate::tcp::{TcpListener, TcpStream};

/// A TCP socket being configured: set options, then [`listen`](TcpSocket::listen) (after
/// [`bind`](TcpSocket::bind)) for a [`TcpListener`], or [`connect`](TcpSocket::connect) for
/// a [`TcpStream`].
///
/// ```
/// use sprout::net::TcpSocket;
///
/// let socket = TcpSocket::new_v4()?;
/// socket.set_reuseaddr(true)?;
/// socket.set_reuseport(true)?;
/// socket.set_recv_buffer_size(256 * 1024)?;
/// socket.bind("127.0.0.1:0".parse().unwrap())?;
/// let listener = socket.listen(4096)?; // capped by net.core.somaxconn
/// let addr = listener.local_addr()?;
///
/// let client = TcpSocket::new_v4()?;
/// client.set_nodelay(true)?;
/// let conn = client.connect(addr)?; // parks the calling greenlet while connecting
/// assert!(conn.nodelay()?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpSocket {
    /// The socket: non-blocking and close-on-exec from the start, not yet registered.
    inner: socket2::Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    ///
    /// # Errors
    /// As `socket(2)` (`EMFILE`...).
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket.
    ///
    /// # Errors
    /// As `socket(2)`.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// A new TCP socket of the family of `addr`.
    ///
    /// # Errors
    /// As `socket(2)`.
    pub fn for_addr(addr: &SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(*addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        let inner = socket2::Socket::new(
            domain,
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        Ok(TcpSocket { inner })
    }

    /// Sets `SO_REUSEADDR` (binding a port in `TIME_WAIT`).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        self.inner.set_reuse_address(on)
    }

    /// `SO_REUSEADDR`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT` (several listeners on one port; the kernel spreads connections).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        self.inner.set_reuse_port(on)
    }

    /// `SO_REUSEPORT`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets `SO_RCVBUF` in bytes (doubled and capped by Linux; set before `listen` so
    /// accepted sockets inherit it and the TCP window scale fits).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.set_recv_buffer_size(size)
    }

    /// `SO_RCVBUF` in bytes.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.inner.recv_buffer_size()
    }

    /// Sets `SO_SNDBUF` in bytes (doubled and capped by Linux).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.set_send_buffer_size(size)
    }

    /// `SO_SNDBUF` in bytes.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.inner.send_buffer_size()
    }

    /// Sets `SO_KEEPALIVE`.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.inner.set_keepalive(on)
    }

    /// `SO_KEEPALIVE`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `SO_LINGER` (see [`TcpStream::set_linger`]).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(linger)
    }

    /// `SO_LINGER`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// As `bind(2)` (`EADDRINUSE`...).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    /// The address it is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("sprout: not an inet socket"))
    }

    /// Listens with a backlog of `backlog` pending connections (capped by the kernel at
    /// `net.core.somaxconn`) and becomes a [`TcpListener`] on this thread's reactor. Binds
    /// to a free port of the unspecified address first if not bound.
    ///
    /// # Errors
    /// As `listen(2)`, or registering with the reactor.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner
            .listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let fd = OwnedFd::from(self.inner);
        TcpListener::from_socket(Socket::new(fd, false)?)
    }

    /// Connects to `addr`, parking the calling greenlet until the handshake completes, and
    /// becomes a [`TcpStream`].
    ///
    /// # Errors
    /// As `connect(2)` (`ECONNREFUSED`...).
    pub fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_socket(OwnedFd::from(self.inner), &addr, None)
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
