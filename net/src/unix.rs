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
pub struct UnixStream {
    /// The registered connected socket.
    sock: Socket,
}

/// A Unix datagram socket (`std::os::unix::net::UnixDatagram`, cooperative).
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
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(StdListener::bind(path)?)
    }

    /// Accepts a connection, parking the calling greenlet until one arrives.
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
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|l: &StdListener| l.local_addr())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|l: &StdListener| l.take_error())
    }

    /// A second handle on the same listener (`dup`), registered on its own.
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
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdStream| s.local_addr())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdStream| s.peer_addr())
    }

    /// Shuts down the read half, the write half (the peer reads EOF), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.view(|s: &StdStream| s.shutdown(how))
    }

    /// A second handle on the same connection (`dup`), registered on its own.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            sock: self.sock.try_clone()?,
        })
    }

    /// Reads without removing the data from the queue; parks until some is there.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.peek(buf)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.view(|s: &StdStream| s.take_error())
    }
}

stream_io!(UnixStream);

impl UnixDatagram {
    /// A datagram socket bound to the socket file `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(StdDatagram::bind(path)?)
    }

    /// A datagram socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok(UnixDatagram {
            sock: Socket::new(fd, false)?,
        })
    }

    /// A connected pair of datagram sockets.
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
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.sock.view(|s: &StdDatagram| s.connect(path))
    }

    /// Sends one datagram to the socket at `path`; parks while the peer's queue is full.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let addr = RawAddr::from_path(path.as_ref())?;
        self.sock
            .write_with(|| sys::send_to(self.sock.fd(), buf, &addr))
    }

    /// Receives one datagram and its sender's address, parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .read_with(|| self.sock.view(|s: &StdDatagram| s.recv_from(buf)))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_with(|| sys::send(self.sock.fd(), buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_with(|| sys::recv(self.sock.fd(), buf, 0))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdDatagram| s.local_addr())
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.view(|s: &StdDatagram| s.peer_addr())
    }

    /// Shuts down reading, writing, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.view(|s: &StdDatagram| s.shutdown(how))
    }

    /// A second handle on the same socket (`dup`), registered on its own.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: self.sock.try_clone()?,
        })
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
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
