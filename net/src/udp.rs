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
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(Std::bind(&addr.to_socket_addrs()?[..])?)
    }

    /// Receives one datagram and its sender, parking until one arrives. A datagram larger
    /// than `buf` is truncated.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .read_with(|| self.sock.view(|s: &Std| s.recv_from(buf)))
    }

    /// Like [`recv_from`](Self::recv_from), leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .read_with(|| self.sock.view(|s: &Std| s.peek_from(buf)))
    }

    /// Sends one datagram to `addr` (its first resolved address); parks while the send
    /// buffer is full.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = RawAddr::from_inet(&first_addr(addr)?);
        self.sock
            .write_with(|| sys::send_to(self.sock.fd(), buf, &addr))
    }

    /// Sets the default peer for [`send`](Self::send) and the only source
    /// [`recv`](Self::recv) accepts.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = addr.to_socket_addrs()?;
        self.sock.view(|s: &Std| s.connect(&addrs[..]))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_with(|| sys::send(self.sock.fd(), buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_with(|| sys::recv(self.sock.fd(), buf, 0))
    }

    /// Like [`recv`](Self::recv), leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .read_with(|| sys::recv(self.sock.fd(), buf, libc::MSG_PEEK))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &Std| s.peer_addr())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &Std| s.local_addr())
    }

    /// A second handle on the same socket (`dup`), registered on its own.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            sock: self.sock.try_clone()?,
        })
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_broadcast(on))
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.view(|s: &Std| s.broadcast())
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_ttl(ttl))
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.view(|s: &Std| s.ttl())
    }

    /// Sets `IP_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_multicast_loop_v4(on))
    }

    /// Sets `IP_MULTICAST_TTL`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.sock.view(|s: &Std| s.set_multicast_ttl_v4(ttl))
    }

    /// Joins an IPv4 multicast group on `interface`.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.join_multicast_v4(group, interface))
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.leave_multicast_v4(group, interface))
    }

    /// Joins an IPv6 multicast group on interface index `interface`.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.join_multicast_v6(group, interface))
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock
            .view(|s: &Std| s.leave_multicast_v6(group, interface))
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
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
