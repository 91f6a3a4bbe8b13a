//! [`ConnStream`]: the connection an HTTP server greenlet serves, plain TCP or TLS over TCP,
//! behind one type so the HTTP state machine is written once.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use crate::tcp::TcpStream;
#[cfg(feature = "tls")]
use crate::tls::TlsStream;

/// A served connection: `Read`/`Write` on `&ConnStream` and the few socket calls the HTTP
/// server makes.
pub(crate) enum ConnStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP, handshake done.
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream<TcpStream>>),
}

impl ConnStream {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            ConnStream::Tcp(s) => s,
            #[cfg(feature = "tls")]
            ConnStream::Tls(s) => s.get_ref(),
        }
    }

    /// Sets `TCP_NODELAY` on the socket.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nodelay(on)
    }

    /// Bounds each socket read (a hub timer).
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(t)
    }

    /// Bounds each socket write (a hub timer).
    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(t)
    }

    /// Shuts down a half; for TLS, shutting down the write half sends `close_notify` first.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            ConnStream::Tcp(s) => s.shutdown(how),
            #[cfg(feature = "tls")]
            ConnStream::Tls(s) => match how {
                Shutdown::Read => s.get_ref().shutdown(how),
                Shutdown::Write | Shutdown::Both => {
                    let r = s.shutdown_write();
                    if how == Shutdown::Both {
                        s.get_ref().shutdown(Shutdown::Read)?;
                    }
                    r
                }
            },
        }
    }
}

impl Read for &ConnStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ConnStream::Tcp(s) => (&*s).read(buf),
            #[cfg(feature = "tls")]
            ConnStream::Tls(s) => (&**s).read(buf),
        }
    }
}

impl Write for &ConnStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ConnStream::Tcp(s) => (&*s).write(buf),
            #[cfg(feature = "tls")]
            ConnStream::Tls(s) => (&**s).write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            ConnStream::Tcp(s) => (&*s).write_vectored(bufs),
            #[cfg(feature = "tls")]
            ConnStream::Tls(s) => (&**s).write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ConnStream::Tcp(_) => Ok(()),
            #[cfg(feature = "tls")]
            ConnStream::Tls(s) => (&**s).flush(),
        }
    }
}
