//! [`Listener`]: what a [`StreamServer`](crate::StreamServer) accepts from. sprout's
//! [`TcpListener`] and [`UnixListener`] implement it, and so does
//! [`TlsListener`](crate::tls::TlsListener) (feature `tls`) over either.
//!
//! Accepting is split in two so the accept loop never waits on one client: [`accept`]
//! (in the accept loop) takes the connection from the kernel, and [`establish`] (in the new
//! connection's own greenlet) does whatever must happen before the handler sees it, such as
//! a TLS handshake.
//!
//! [`accept`]: Listener::accept
//! [`establish`]: Listener::establish

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::tcp::{TcpListener, TcpStream};
use crate::unix::{UnixListener, UnixStream};

/// A source of connections for a [`StreamServer`](crate::StreamServer).
pub trait Listener: 'static {
    /// What `accept` hands over (a socket, or a socket and what its handshake needs).
    type Accepted: 'static;
    /// What the handler gets.
    type Stream: 'static;
    /// A peer's (and the listener's) address.
    type Addr: Clone + fmt::Debug + 'static;

    /// Accepts one connection, parking the calling greenlet until one arrives.
    ///
    /// # Errors
    /// As `accept(2)`: `EMFILE` and friends (the server backs off), `ECONNABORTED`.
    fn accept(&self) -> io::Result<(Self::Accepted, Self::Addr)>;

    /// Turns an accepted connection into the handler's stream, in the connection's own
    /// greenlet (the TLS handshake happens here). The default of the plain listeners is the
    /// identity.
    ///
    /// # Errors
    /// The connection could not be set up; the server closes it without calling the handler.
    fn establish(accepted: Self::Accepted) -> io::Result<Self::Stream>;

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    fn local_addr(&self) -> io::Result<Self::Addr>;

    /// A short text naming the listener in the server's log lines.
    fn describe(&self) -> String {
        match self.local_addr() {
            Ok(a) => format!("{a:?}"),
            Err(_) => String::from("?"),
        }
    }
}

impl Listener for TcpListener {
    type Accepted = TcpStream;
    type Stream = TcpStream;
    type Addr = SocketAddr;

    fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self)
    }

    fn establish(accepted: TcpStream) -> io::Result<TcpStream> {
        Ok(accepted)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }

    fn describe(&self) -> String {
        match self.local_addr() {
            Ok(a) => a.to_string(),
            Err(_) => String::from("?"),
        }
    }
}

impl Listener for UnixListener {
    type Accepted = UnixStream;
    type Stream = UnixStream;
    type Addr = std::os::unix::net::SocketAddr;

    fn accept(&self) -> io::Result<(UnixStream, Self::Addr)> {
        UnixListener::accept(self)
    }

    fn establish(accepted: UnixStream) -> io::Result<UnixStream> {
        Ok(accepted)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        UnixListener::local_addr(self)
    }

    fn describe(&self) -> String {
        match self
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
        {
            Some(p) => format!("unix:{p}"),
            None => String::from("unix:(unnamed)"),
        }
    }
}
