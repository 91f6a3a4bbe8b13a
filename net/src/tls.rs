//! TLS on rustls (feature `tls`): [`TlsStream`], a client or server TLS connection over any
//! of sprout's stream sockets, and [`TlsListener`], which makes a
//! [`StreamServer`](crate::StreamServer) serve TLS (gevent's `gevent.ssl` and
//! `StreamServer(..., ssl_context=...)`).
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use sprout::net::tls::{rustls, TlsStream};
//! use sprout::net::TcpListener;
//!
//! # fn certified() -> (Vec<u8>, Vec<u8>) {
//! #     let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! #     (c.cert.der().to_vec(), c.key_pair.serialize_der())
//! # }
//! let (cert, key) = certified(); // DER certificate and PKCS#8 key for "localhost"
//! let server_config = rustls::ServerConfig::builder()
//!     .with_no_client_auth()
//!     .with_single_cert(vec![cert.clone().into()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()))
//!     .unwrap();
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert.into()).unwrap();
//! let client_config = rustls::ClientConfig::builder()
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//! let server = sprout::spawn(move || -> std::io::Result<()> {
//!     let (sock, _) = listener.accept()?;
//!     let mut tls = TlsStream::accept(sock, Arc::new(server_config))?;
//!     let mut buf = [0u8; 5];
//!     tls.read_exact(&mut buf)?;
//!     tls.write_all(&buf)?;
//!     tls.shutdown_write()
//! });
//! let mut client = TlsStream::connect(("localhost", port), Arc::new(client_config))?;
//! client.write_all(b"hello")?;
//! let mut echoed = String::new();
//! client.read_to_string(&mut echoed)?;
//! server.join().unwrap()?;
//! println!("{echoed}");
//! assert_eq!(echoed, "hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Output:
//!
//! ```text
//! hello
//! ```
//!
//! # Crypto provider
//!
//! rustls runs on `ring` here: it builds with a C compiler alone, where `aws-lc-rs` (rustls'
//! default) needs CMake or a prebuilt library and compiles a much larger C code base. The
//! configurations a user builds with `rustls::ServerConfig::builder()` pick it up as the
//! process default provider.
//!
//! # Implementation
//!
//! A `TlsStream` owns its socket and a `rustls::Connection`, which is a plain state machine:
//! records go in with `read_tls`, plaintext comes out of `reader()`, and the reverse for
//! writes. The stream moves bytes between the two with the socket's own cooperative reads
//! and writes, so a TLS read parks the calling greenlet exactly as a socket read does, under
//! the socket's read timeout. The rustls state is never borrowed across a park: received
//! records wait in an input buffer owned by the (single) reader, records to send in an output
//! buffer owned by the (single) writer. One greenlet may read while another writes; a second
//! concurrent reader or writer gets an error (as on sprout's sockets).
//!
//! Errors: a TLS failure (a bad certificate, a received alert, a record that is not TLS) is
//! an `io::Error` of kind `InvalidData` whose source is the `rustls::Error` and whose message
//! names it (`invalid peer certificate: UnknownIssuer`, `received fatal alert: ...`); the
//! alert rustls owes the peer is sent first, best effort. A connection that ends in the
//! middle of a record, or without `close_notify`, reads as `UnexpectedEof`.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use rustls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::listener::Listener;
use crate::tcp::{TcpListener, TcpStream};
use crate::unix::{UnixListener, UnixStream};

/// Raw bytes read from the socket in one call once a read has filled the first buffer: one
/// full TLS record and its header.
const READ_CHUNK: usize = 16 * 1024 + 5 + 256;
/// The first read buffer: enough for handshakes and small requests, cheap per connection.
const FIRST_READ_CHUNK: usize = 4096;

/// Time a [`TlsListener`] connection may take to finish its handshake, by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream socket a [`TlsStream`] can run over: sprout's [`TcpStream`] and [`UnixStream`].
pub trait Transport: 'static {
    /// One cooperative read (as `Read::read` on `&self`), under the read timeout.
    ///
    /// # Errors
    /// As the socket's read.
    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// One cooperative write (as `Write::write` on `&self`), under the write timeout.
    ///
    /// # Errors
    /// As the socket's write.
    fn write_raw(&self, buf: &[u8]) -> io::Result<usize>;
    /// Shuts down one half (or both) of the socket.
    ///
    /// # Errors
    /// As `shutdown(2)`.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// Sets the read timeout (a hub timer; see the socket types).
    ///
    /// # Errors
    /// A zero duration.
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    /// Sets the write timeout.
    ///
    /// # Errors
    /// A zero duration.
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    /// The read timeout.
    fn read_timeout(&self) -> Option<Duration>;
    /// The write timeout.
    fn write_timeout(&self) -> Option<Duration>;
}

macro_rules! transport {
    ($ty:ty) => {
        impl Transport for $ty {
            fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
                let mut s: &$ty = self;
                s.read(buf)
            }
            fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
                let mut s: &$ty = self;
                s.write(buf)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$ty>::shutdown(self, how)
            }
            fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, t)
            }
            fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, t)
            }
            fn read_timeout(&self) -> Option<Duration> {
                <$ty>::read_timeout(self).ok().flatten()
            }
            fn write_timeout(&self) -> Option<Duration> {
                <$ty>::write_timeout(self).ok().flatten()
            }
        }
    };
}

transport!(TcpStream);
transport!(UnixStream);

/// Received TLS bytes not yet handed to rustls. Owned by the one reader at a time.
struct InBuf {
    /// Storage: `FIRST_READ_CHUNK` long once first used, `READ_CHUNK` after a read filled it.
    buf: Vec<u8>,
    /// First unconsumed byte.
    start: usize,
    /// One past the last received byte.
    end: usize,
    /// The socket reported EOF (and rustls was told).
    eof: bool,
}

/// TLS bytes rustls produced that are not yet sent. Owned by the one writer at a time.
struct OutBuf {
    /// Records to send.
    buf: Vec<u8>,
    /// How much of `buf` is already sent.
    sent: usize,
}

/// A TLS connection over a sprout socket, client or server side: `Read` and `Write` (for the
/// value and for `&TlsStream`) park only the calling greenlet, under the socket's timeouts.
/// Made by [`connect`](TlsStream::connect), [`client`](TlsStream::client) or
/// [`accept`](TlsStream::accept), each of which completes the handshake before returning.
/// See the [module docs](self) for an example. `!Send`.
pub struct TlsStream<S: Transport = TcpStream> {
    /// The socket.
    sock: S,
    /// The rustls state machine; borrowed only between parks, never across one.
    tls: RefCell<Connection>,
    /// Received bytes waiting for rustls; borrowed by the reader for its whole call.
    inbuf: RefCell<InBuf>,
    /// Bytes waiting to be sent; borrowed by the writer for its whole call.
    outbuf: RefCell<OutBuf>,
}

/// The error of a TLS failure: kind `InvalidData`, the rustls error as its source.
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn busy(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        format!("sprout: another greenlet is already {what} this TlsStream"),
    )
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, _)) = rest.split_once(']') {
            return h;
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.parse::<u16>().is_ok() => h,
        _ => s,
    }
}

/// Something a TLS client can connect to: `"host:port"`, `("host", port)`, or a
/// `SocketAddr` (whose IP address is then the name the certificate must carry).
pub trait TlsAddr {
    /// The name to verify the server's certificate against (and to send as SNI), and the
    /// address to connect to.
    ///
    /// # Errors
    /// A name that is neither a DNS name nor an IP address (`InvalidInput`).
    fn server_name(&self) -> io::Result<ServerName<'static>>;
    /// Connects the TCP socket (names resolved on the thread pool).
    ///
    /// # Errors
    /// As [`TcpStream::connect`].
    fn connect_tcp(&self) -> io::Result<TcpStream>;
}

fn name(host: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sprout: {host:?} is not a valid TLS server name: {e}"),
        )
    })
}

impl TlsAddr for str {
    fn server_name(&self) -> io::Result<ServerName<'static>> {
        name(host_of(self))
    }
    fn connect_tcp(&self) -> io::Result<TcpStream> {
        TcpStream::connect(self)
    }
}

impl TlsAddr for String {
    fn server_name(&self) -> io::Result<ServerName<'static>> {
        self.as_str().server_name()
    }
    fn connect_tcp(&self) -> io::Result<TcpStream> {
        TcpStream::connect(self.as_str())
    }
}

impl TlsAddr for (&str, u16) {
    fn server_name(&self) -> io::Result<ServerName<'static>> {
        name(self.0)
    }
    fn connect_tcp(&self) -> io::Result<TcpStream> {
        TcpStream::connect(*self)
    }
}

impl TlsAddr for SocketAddr {
    fn server_name(&self) -> io::Result<ServerName<'static>> {
        Ok(ServerName::IpAddress(self.ip().into()))
    }
    fn connect_tcp(&self) -> io::Result<TcpStream> {
        TcpStream::connect(*self)
    }
}

impl<T: TlsAddr + ?Sized> TlsAddr for &T {
    fn server_name(&self) -> io::Result<ServerName<'static>> {
        (**self).server_name()
    }
    fn connect_tcp(&self) -> io::Result<TcpStream> {
        (**self).connect_tcp()
    }
}

impl TlsStream<TcpStream> {
    /// Connects to `host_or_addr` (`"example.com:443"`, `("localhost", 8443)`, or a
    /// `SocketAddr`), runs the client handshake and verifies the server's certificate
    /// against the name given (sent as SNI). The name is resolved on the thread pool; the
    /// calling greenlet parks throughout. There is no deadline unless the caller sets one:
    /// wrap the call in `sprout::with_timeout` to bound the connect and handshake together.
    ///
    /// # Errors
    /// Resolving or connecting fails (as [`TcpStream::connect`]); the certificate does not
    /// verify or the server sends an alert (`InvalidData`, naming the rustls error, e.g.
    /// `invalid peer certificate: UnknownIssuer`); the server closes mid-handshake
    /// (`UnexpectedEof`).
    pub fn connect<A: TlsAddr>(
        host_or_addr: A,
        config: Arc<ClientConfig>,
    ) -> io::Result<TlsStream<TcpStream>> {
        let server_name = host_or_addr.server_name()?;
        let sock = host_or_addr.connect_tcp()?;
        TlsStream::client(sock, server_name, config)
    }
}

impl<S: Transport> TlsStream<S> {
    /// Runs the client handshake over a connected socket, verifying the server's certificate
    /// against `server_name` (sent as SNI). Bound it with the socket's timeouts or
    /// `sprout::with_timeout`.
    ///
    /// # Errors
    /// As [`connect`](TlsStream::connect), without the connecting part.
    pub fn client(
        sock: S,
        server_name: ServerName<'static>,
        config: Arc<ClientConfig>,
    ) -> io::Result<TlsStream<S>> {
        let conn = ClientConnection::new(config, server_name).map_err(tls_error)?;
        TlsStream::handshake(sock, conn.into())
    }

    /// Runs the server handshake over an accepted socket (SNI and ALPN as `config` says).
    /// Bound it with the socket's timeouts or `sprout::with_timeout`; [`TlsListener`] does.
    ///
    /// # Errors
    /// The client is not speaking TLS, offers nothing `config` accepts, or sends an alert
    /// (`InvalidData`, naming the cause); it closes mid-handshake (`UnexpectedEof`); a
    /// socket error or timeout.
    pub fn accept(sock: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>> {
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        TlsStream::handshake(sock, conn.into())
    }

    fn handshake(sock: S, conn: Connection) -> io::Result<TlsStream<S>> {
        let s = TlsStream {
            sock,
            tls: RefCell::new(conn),
            inbuf: RefCell::new(InBuf {
                buf: Vec::new(),
                start: 0,
                end: 0,
                eof: false,
            }),
            outbuf: RefCell::new(OutBuf {
                buf: Vec::new(),
                sent: 0,
            }),
        };
        {
            let mut inbuf = s.inbuf.borrow_mut();
            while s.tls.borrow().is_handshaking() {
                s.flush_tls()?;
                if s.tls.borrow().wants_read() {
                    if inbuf.eof {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "sprout: the peer closed the connection during the TLS handshake",
                        ));
                    }
                    s.fill(&mut inbuf)?;
                }
            }
        }
        s.flush_tls()?;
        Ok(s)
    }

    /// Hands buffered input to rustls, or reads more from the socket first when none is
    /// buffered. Parks only in the socket read, with no rustls borrow held.
    fn fill(&self, inbuf: &mut InBuf) -> io::Result<()> {
        if inbuf.start == inbuf.end && !inbuf.eof {
            if inbuf.buf.is_empty() {
                inbuf.buf = vec![0; FIRST_READ_CHUNK];
            }
            let n = self.sock.read_raw(&mut inbuf.buf)?;
            inbuf.start = 0;
            inbuf.end = n;
            if n == inbuf.buf.len() && n < READ_CHUNK {
                // Bulk data: read whole records from now on.
                inbuf.buf.resize(READ_CHUNK, 0);
            }
            if n == 0 {
                inbuf.eof = true;
                // Tell rustls: a record cut short or a missing close_notify is an error then.
                let _ = self.tls.borrow_mut().read_tls(&mut io::empty());
                return Ok(());
            }
        }
        let mut tls = self.tls.borrow_mut();
        let mut data = &inbuf.buf[inbuf.start..inbuf.end];
        let before = data.len();
        let taken = tls.read_tls(&mut data)?;
        if taken == 0 && before > 0 {
            // rustls takes input while it has room; never spin on input it refuses.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sprout: TLS: the peer's records do not fit rustls' buffer",
            ));
        }
        inbuf.start += before - data.len();
        if let Err(e) = tls.process_new_packets() {
            drop(tls);
            // rustls has queued the alert it owes the peer: send it if that does not park.
            let _ = self.flush_tls_nowait();
            return Err(tls_error(e));
        }
        Ok(())
    }

    /// Sends what rustls has queued, parking while the socket is full.
    fn flush_tls(&self) -> io::Result<()> {
        let Ok(mut out) = self.outbuf.try_borrow_mut() else {
            return Err(busy("writing to"));
        };
        loop {
            if out.sent == out.buf.len() {
                out.buf.clear();
                out.sent = 0;
                let mut tls = self.tls.borrow_mut();
                if !tls.wants_write() {
                    return Ok(());
                }
                while tls.wants_write() {
                    tls.write_tls(&mut out.buf)?;
                }
            }
            let n = self.sock.write_raw(&out.buf[out.sent..])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            out.sent += n;
        }
    }

    /// Sends queued records (an alert) unless a writer is active; used on the error path.
    fn flush_tls_nowait(&self) -> io::Result<()> {
        if self.outbuf.try_borrow_mut().is_err() {
            return Ok(());
        }
        // The timeout keeps an error path from parking long on a peer that does not read.
        sprout_runtime::with_timeout(Duration::from_millis(100), || self.flush_tls())
            .unwrap_or(Ok(()))
    }

    fn read_tls_plain(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Ok(mut inbuf) = self.inbuf.try_borrow_mut() else {
            return Err(busy("reading from"));
        };
        loop {
            match self.tls.borrow_mut().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // Records rustls answers (a key update) go out before this reader parks, unless
            // a writer is busy: it sends them when it finishes.
            if self.tls.borrow().wants_write() && self.outbuf.try_borrow_mut().is_ok() {
                self.flush_tls()?;
            }
            self.fill(&mut inbuf)?;
        }
    }

    fn write_tls_plain(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Finish what an earlier call left unsent first, so buffering stays bounded.
        self.flush_tls()?;
        let n = self.tls.borrow_mut().writer().write_vectored(bufs)?;
        self.flush_tls()?;
        Ok(n)
    }

    /// Sends `close_notify`, then shuts down the socket's write half: the peer reads a clean
    /// end of stream. The read half stays open.
    ///
    /// # Errors
    /// As a write.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.tls.borrow_mut().send_close_notify();
        self.flush_tls()?;
        self.sock.shutdown(Shutdown::Write)
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.sock
    }

    /// The socket, dropping the TLS state (without `close_notify`).
    pub fn into_inner(self) -> S {
        self.sock
    }

    /// The server name the client sent (SNI), on the server side.
    pub fn server_name(&self) -> Option<String> {
        match &*self.tls.borrow() {
            Connection::Server(s) => s.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        }
    }

    /// The application protocol agreed with ALPN, if any (e.g. `b"http/1.1"`).
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.tls.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The TLS version agreed.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.borrow().protocol_version()
    }

    /// The cipher suite agreed.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.tls.borrow().negotiated_cipher_suite()
    }

    /// Bounds each socket read under a TLS read (see the socket's `set_read_timeout`).
    ///
    /// # Errors
    /// A zero duration.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)
    }

    /// Bounds each socket write under a TLS write or flush.
    ///
    /// # Errors
    /// A zero duration.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(t)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.sock.read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.sock.write_timeout()
    }
}

impl<S: Transport> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_tls_plain(buf)
    }
}

impl<S: Transport> Read for &TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_tls_plain(buf)
    }
}

impl<S: Transport> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_tls_plain(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_tls_plain(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

impl<S: Transport> Write for &TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_tls_plain(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_tls_plain(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

impl<S: Transport + fmt::Debug> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = self.tls.try_borrow().ok();
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("version", &tls.as_ref().and_then(|t| t.protocol_version()))
            .finish()
    }
}

/// A listener whose connections speak TLS: give it to
/// [`StreamServer::new`](crate::StreamServer::new) and the handler gets a [`TlsStream`].
/// The handshake runs in each connection's own greenlet, bounded by the handshake timeout
/// (default 10 s); a client that fails it (plain HTTP, a stall, an alert, a bad record) is
/// closed without reaching the handler.
///
/// ```no_run
/// use std::io::Write;
/// use std::sync::Arc;
/// use sprout::net::tls::{rustls, TlsListener, TlsStream};
/// use sprout::net::{StreamServer, TcpListener};
///
/// # fn config() -> rustls::ServerConfig { unimplemented!() }
/// let config: rustls::ServerConfig = config(); // certificate and key
/// let listener = TlsListener::new(TcpListener::bind("127.0.0.1:8443")?, config);
/// let server = StreamServer::new(listener, |mut conn: TlsStream, _peer| {
///     let _ = conn.write_all(b"hello over TLS\n");
/// })?;
/// server.serve_forever()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TlsListener<L: Listener = TcpListener> {
    /// The listener accepting the sockets.
    inner: L,
    /// The server configuration every connection shares.
    config: Arc<ServerConfig>,
    /// Bound on each handshake.
    handshake_timeout: Duration,
}

impl<L: Listener> TlsListener<L>
where
    L::Stream: Transport,
{
    /// Serves TLS with `config` on the connections `inner` accepts.
    pub fn new(inner: L, config: impl Into<Arc<ServerConfig>>) -> TlsListener<L> {
        TlsListener {
            inner,
            config: config.into(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Bounds each handshake (at least 1 ms); a slower client is closed.
    pub fn handshake_timeout(mut self, d: Duration) -> TlsListener<L> {
        self.handshake_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// The listener underneath.
    pub fn get_ref(&self) -> &L {
        &self.inner
    }
}

/// Runs a server handshake under a deadline (the connection greenlet of a server).
///
/// # Errors
/// As [`TlsStream::accept`]; `TimedOut` when the deadline passes first.
pub(crate) fn accept_within<S: Transport>(
    sock: S,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> io::Result<TlsStream<S>> {
    match sprout_runtime::with_timeout(timeout, move || TlsStream::accept(sock, config)) {
        Ok(r) => r,
        Err(e) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("sprout: TLS handshake not finished within {timeout:?} ({e})"),
        )),
    }
}

impl<L: Listener> Listener for TlsListener<L>
where
    L::Stream: Transport,
{
    type Accepted = (L::Accepted, Arc<ServerConfig>, Duration);
    type Stream = TlsStream<L::Stream>;
    type Addr = L::Addr;

    fn accept(&self) -> io::Result<(Self::Accepted, Self::Addr)> {
        let (a, peer) = self.inner.accept()?;
        Ok(((a, self.config.clone(), self.handshake_timeout), peer))
    }

    fn establish((a, config, timeout): Self::Accepted) -> io::Result<Self::Stream> {
        let sock = L::establish(a)?;
        accept_within(sock, config, timeout)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }

    fn describe(&self) -> String {
        format!("{} (TLS)", self.inner.describe())
    }
}

/// `TlsStream` over a Unix socket, for symmetry with the TCP default.
pub type UnixTlsStream = TlsStream<UnixStream>;

/// `TlsListener` over a Unix listener.
pub type UnixTlsListener = TlsListener<UnixListener>;
