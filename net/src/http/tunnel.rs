//! [`Tunnel`]: the raw connection a handler gets after answering `CONNECT` with
//! [`Response::tunnel`](super::Response::tunnel).

use std::fmt;
use std::io::{self, Read, Write};

use crate::conn_stream::ConnStream;
use crate::tcp::TcpStream;

/// The client's connection after a `2xx` answer to `CONNECT` (RFC 9110, section 9.3.6):
/// from here on the bytes are the tunnel's, not HTTP. `Read` gives first what the client
/// sent right after its request (already buffered by the server), then the socket's bytes;
/// `Write` goes straight to the socket. Use [`stream`](Tunnel::stream) to set timeouts or
/// to `try_clone` the socket and pump the other direction from a second greenlet. The
/// connection closes when the tunnel function returns. On an HTTPS server the tunnel's bytes
/// go through TLS: there [`stream`](Tunnel::stream) is the TCP socket under it, for timeouts
/// only (bytes written to it directly, or through a clone, would bypass TLS).
pub struct Tunnel<'a> {
    /// The connection.
    stream: &'a ConnStream,
    /// Client bytes read by the server past the `CONNECT` head, not yet handed out.
    buffered: &'a [u8],
}

impl<'a> Tunnel<'a> {
    pub(crate) fn new(stream: &'a ConnStream, buffered: &'a [u8]) -> Tunnel<'a> {
        Tunnel { stream, buffered }
    }

    /// The connection (for timeouts, `try_clone`, `shutdown`). Read through the
    /// `Tunnel` first while [`buffered`](Tunnel::buffered) is not empty.
    pub fn stream(&self) -> &TcpStream {
        self.stream.tcp()
    }

    /// Client bytes the server had already read past the request, not yet read through
    /// the tunnel.
    pub fn buffered(&self) -> &[u8] {
        self.buffered
    }
}

impl Read for Tunnel<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buffered.is_empty() {
            return (&*self.stream).read(out);
        }
        let n = out.len().min(self.buffered.len());
        out[..n].copy_from_slice(&self.buffered[..n]);
        self.buffered = &self.buffered[n..];
        Ok(n)
    }
}

impl Write for Tunnel<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Tunnel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("buffered", &self.buffered.len())
            .finish()
    }
}
