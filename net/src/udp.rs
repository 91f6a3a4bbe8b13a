//! UDP: [`UdpSocket`], mirroring `std::net::UdpSocket`.
//!
//! Host names are resolved on the thread pool (see [`ToSocketAddrs`]).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::resolve::ToSocketAddrs;

use crate::convert::{fd_conversions, socket_timeouts};
use crate::socket::{socket_options, Socket};
use crate::sys::{self, RawAddr};

/// A UDP socket (`std::net::UdpSocket`, cooperative): receives park the calling greenlet
/// until a datagram arrives.
///
/// ```
/// use sprout::net::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1:0")?;
/// let addr = server.local_addr()?;
/// let echo = sprout::spawn(move || -> std::io::Result<()> {
///     let mut buf = [0u8; 1500];
///     let (n, from) = server.recv_from(&mut buf)?; // parks this greenlet only
///     server.send_to(&buf[..n], from)?;
///     Ok(())
/// });
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.connect(addr)?;
/// client.send(b"ping")?;
/// let mut buf = [0u8; 16];
/// let n = client.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// echo.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    /// The registered datagram socket.
    sock: Socket,
}

socket_timeouts!(UdpSocket);
fd_conversions!(UdpSocket, std::net::UdpSocket, tcp = false);
socket_options!(UdpSocket);

type Std = std::net::UdpSocket;

/// The first address `addr` resolves to, as std's `send_to` uses.
fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .first()
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// Those of resolving a host name fails (the resolver's error, `InvalidInput` for a malformed
    /// address string or `"could not resolve to any addresses"`); `AddrInUse`, `AddrNotAvailable`
    /// or `PermissionDenied` from `bind(2)` (std tries each address and returns the last error); an
    /// error of `epoll_ctl(2)` registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(Std::bind(&addr.to_socket_addrs()?[..])?)
    }

    /// Receives one datagram and its sender, parking until one arrives. A datagram larger
    /// than `buf` is truncated.
    ///
    /// # Errors
    ///
    /// Errors of `recvfrom(2)` other than `EAGAIN` (which parks), such as `ConnectionRefused` after
    /// an ICMP port-unreachable on a connected socket; `TimedOut` if the read timeout
    /// ([`set_read_timeout`](Self::set_read_timeout)) passes while parked; an `Other` error if
    /// another greenlet already waits to read this socket (gevent's `ConcurrentObjectUseError`) or
    /// another greenlet closed it meanwhile; `EBADF` if [`cancel_wait`](crate::cancel_wait) ended
    /// the wait. A kill or `Timeout` scope unwinds instead of returning.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .read_with(|| self.sock.view(|s: &Std| s.recv_from(buf)))
    }

    /// Like [`recv_from`](Self::recv_from), leaving the datagram queued.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](Self::recv_from).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .read_with(|| self.sock.view(|s: &Std| s.peek_from(buf)))
    }

    /// Sends one datagram to `addr` (its first resolved address); parks while the send
    /// buffer is full.
    ///
    /// # Errors
    ///
    /// Those of resolving a host name fails (the resolver's error, `InvalidInput` for a malformed
    /// address string or `"could not resolve to any addresses"`), `InvalidInput` if it resolves to
    /// nothing; errors of `sendto(2)` other than `EAGAIN` (which parks): `EMSGSIZE` for a datagram
    /// too large, `NetworkUnreachable`, `PermissionDenied` (broadcast without `SO_BROADCAST`);
    /// `TimedOut` if the write timeout ([`set_write_timeout`](Self::set_write_timeout)) passes
    /// while parked; an `Other` error if another greenlet already waits to write this socket
    /// (gevent's `ConcurrentObjectUseError`) or another greenlet closed it meanwhile; `EBADF` if
    /// [`cancel_wait`](crate::cancel_wait) ended the wait. A kill or `Timeout` scope unwinds
    /// instead of returning.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = RawAddr::from_inet(&first_addr(addr)?);
        self.sock
            .write_with(|| sys::send_to(self.sock.fd(), buf, &addr))
    }

    /// Sets the default peer for [`send`](Self::send) and the only source
    /// [`recv`](Self::recv) accepts.
    ///
    /// # Errors
    ///
    /// Those of resolving a host name fails (the resolver's error, `InvalidInput` for a malformed
    /// address string or `"could not resolve to any addresses"`); errors of `connect(2)` such as
    /// `NetworkUnreachable` (std tries each address and returns the last error).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = addr.to_socket_addrs()?;
        self.sock.view(|s: &Std| s.connect(&addrs[..]))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` ("Destination address required") if [`connect`](Self::connect) was not
    /// called; otherwise as [`send_to`](Self::send_to) (`ConnectionRefused` when the peer's
    /// port answered unreachable).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_with(|| sys::send(self.sock.fd(), buf))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](Self::recv_from); `ConnectionRefused` when an earlier send to the connected
    /// peer was answered with port-unreachable.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_with(|| sys::recv(self.sock.fd(), buf, 0))
    }

    /// Like [`recv`](Self::recv), leaving the datagram queued.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .read_with(|| sys::recv(self.sock.fd(), buf, libc::MSG_PEEK))
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` (`ENOTCONN`) if the socket has no peer; other OS errors of `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &Std| s.peer_addr())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname(2)` (`ENOBUFS` when the kernel is out of memory); not expected
    /// on an open socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &Std| s.local_addr())
    }

    /// A second handle on the same socket (`dup`), registered on its own.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of fds (`dup(2)`); an error of
    /// `epoll_ctl(2)` registering the new fd with this thread's reactor (`ENOMEM`, or `ENOSPC` past
    /// `fs.epoll.max_user_watches`).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            sock: self.sock.try_clone()?,
        })
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `SO_BROADCAST` (`InvalidInput` for a value the kernel
    /// refuses).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_broadcast(on))
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt(2)` for `SO_BROADCAST`; not expected on an open socket.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.view(|s: &Std| s.broadcast())
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_TTL` (`InvalidInput` for a value the kernel
    /// refuses).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_ttl(ttl))
    }

    /// `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt(2)` for `IP_TTL`; not expected on an open socket.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.view(|s: &Std| s.ttl())
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_MULTICAST_LOOP` (`InvalidInput` for a value the
    /// kernel refuses).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_multicast_loop_v4(on))
    }

    /// Sets `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_MULTICAST_TTL` (`InvalidInput` for a value the
    /// kernel refuses).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_multicast_ttl_v4(ttl))
    }

    /// Joins an IPv4 multicast group on `interface`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_ADD_MEMBERSHIP`: `InvalidInput` for an address that
    /// is not multicast, `AddrNotAvailable` for an unknown interface, `AddrInUse` if already
    /// joined.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.join_multicast_v4(group, interface))
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IP_DROP_MEMBERSHIP` (`AddrNotAvailable` if not joined).
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.leave_multicast_v4(group, interface))
    }

    /// Joins an IPv6 multicast group on interface index `interface`.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IPV6_ADD_MEMBERSHIP` (as
    /// [`join_multicast_v4`](Self::join_multicast_v4)).
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.join_multicast_v6(group, interface))
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt(2)` for `IPV6_DROP_MEMBERSHIP` (`AddrNotAvailable` if not
    /// joined).
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.leave_multicast_v6(group, interface))
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Only if reading `SO_ERROR` itself fails (`getsockopt(2)`); the pending error comes back as
    /// `Ok(Some(error))`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|s: &Std| s.take_error())
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}
