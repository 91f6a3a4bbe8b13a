//! [`Server`] and its [`Builder`]: the HTTP server on top of a
//! [`StreamServer`](crate::StreamServer), with its limits.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;

use crate::resolve::ToSocketAddrs;
use std::rc::Rc;
use std::time::Duration;

use sprout_runtime::sync::Pool;
use sprout_runtime::JoinHandle;

use super::access_log::{AccessLog, LogFormat, FLUSH_EVERY};
use super::conn;
use super::head::MAX_HEADERS_CEILING;
use super::request::Request;
use super::response::Response;
use crate::conn_stream::ConnStream;
use crate::server::StreamServer;
use crate::tcp::{TcpListener, TcpStream};

/// The handler every request goes to.
pub(crate) type Handler = dyn Fn(&mut Request<'_>) -> Response;

/// The limits a server enforces (see [`Builder`] for what each one answers).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Largest request head (request line, headers, blank line) in bytes.
    pub(crate) max_header_bytes: usize,
    /// Most header lines in one request.
    pub(crate) max_headers: usize,
    /// Longest request target in bytes.
    pub(crate) max_target_bytes: usize,
    /// Largest request body in bytes.
    pub(crate) max_body: u64,
    /// Longest chunk size line of a chunked body, extensions included.
    pub(crate) max_chunk_line: usize,
    /// Largest trailer section of a chunked body.
    pub(crate) max_trailer_bytes: usize,
    /// Whether `CONNECT` requests reach the handler (else 501).
    pub(crate) connect: bool,
    /// Time allowed to read and drop an unread request body after the response.
    pub(crate) discard_timeout: Duration,
    /// Most unread request body bytes read and dropped after the response.
    pub(crate) discard_max: u64,
    /// Time allowed for a whole request head to arrive.
    pub(crate) header_timeout: Duration,
    /// Time a keep-alive connection may sit idle between requests; also bounds each wait
    /// for body bytes and each wait to write.
    pub(crate) idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_header_bytes: 8 * 1024,
            max_headers: 100,
            max_target_bytes: 8 * 1024,
            max_body: 1024 * 1024,
            max_chunk_line: 4 * 1024,
            max_trailer_bytes: 8 * 1024,
            connect: false,
            discard_timeout: Duration::from_secs(5),
            discard_max: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What every connection of one server shares.
pub(crate) struct Shared {
    /// The limits.
    pub(crate) config: Config,
    /// The application.
    pub(crate) handler: Box<Handler>,
    /// Set by `stop`: connections close after their current response.
    pub(crate) stopping: Cell<bool>,
    /// Live connections by greenlet id, each with its "waiting for the next request" mark:
    /// 0 while busy, else the order in which it went idle (set and cleared by the
    /// connection; `stop` kills the idle ones at once, and running out of fds the oldest).
    pub(crate) idle: RefCell<HashMap<u64, Rc<Cell<u64>>>>,
    /// The last idle mark handed out.
    pub(crate) idle_seq: Cell<u64>,
    /// The access log, if enabled.
    pub(crate) access_log: Option<AccessLog>,
    /// The housekeeping greenlet while the server runs: closes keep-alive connections idle
    /// past the idle timeout, and writes the access log every second.
    housekeeper: RefCell<Option<JoinHandle<()>>>,
}

impl Shared {
    /// The next idle mark (never 0).
    pub(crate) fn idle_mark(&self) -> u64 {
        let n = self.idle_seq.get() + 1;
        self.idle_seq.set(n);
        n
    }

    /// Out of fds: asks the oldest idle keep-alive connections to close (an eighth of the
    /// idle ones, at least 1 and at most 32, as nginx's `ngx_drain_connections`); returns
    /// how many.
    fn reclaim_idle(&self, stream: &StreamServer) -> usize {
        let mut idle: Vec<(u64, u64)> = self
            .idle
            .borrow()
            .iter()
            .filter(|(_, mark)| mark.get() != 0)
            .map(|(id, mark)| (mark.get(), *id))
            .collect();
        let n = (idle.len() / 8).clamp(1, 32).min(idle.len());
        if n == 0 {
            return 0;
        }
        idle.select_nth_unstable(n - 1);
        for &(_, id) in &idle[..n] {
            stream.kill_connection(id);
        }
        n
    }
}

/// Configures and makes a [`Server`].
///
/// ```no_run
/// use std::time::Duration;
/// use sprout::net::http::{Response, Server};
///
/// let server = Server::builder()
///     .max_body(64 * 1024)
///     .header_timeout(Duration::from_secs(5))
///     .bind("127.0.0.1:8080", |_req| Response::text("Hello, World!"))?;
/// server.serve_forever()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    /// The limits so far.
    config: Config,
    /// Handlers run in this pool, if set.
    pool: Option<Pool>,
    /// Serve HTTPS with this configuration (feature `tls`).
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The access log, if enabled.
    access_log: Option<AccessLog>,
}

impl Builder {
    /// Largest request head (request line, headers and blank line) in bytes; a larger one is
    /// answered `431`. Default 8 KiB.
    pub fn max_header_bytes(mut self, n: usize) -> Builder {
        self.config.max_header_bytes = n.max(16);
        self
    }

    /// Most header lines in one request (at most 128); more is answered `431`. Default 100.
    pub fn max_headers(mut self, n: usize) -> Builder {
        self.config.max_headers = n.clamp(1, MAX_HEADERS_CEILING);
        self
    }

    /// Largest request body in bytes; a larger declared length is answered `413` before the
    /// handler runs, and a chunked body that grows past it while being read is answered `413`
    /// in place of the handler's response. Default 1 MiB.
    pub fn max_body(mut self, n: u64) -> Builder {
        self.config.max_body = n;
        self
    }

    /// Time allowed for a whole request head to arrive, from its first byte (from the accept
    /// for a connection's first request); a slower client (slowloris) is answered `408`.
    /// Default 10 s.
    pub fn header_timeout(mut self, d: Duration) -> Builder {
        self.config.header_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// Time a keep-alive connection may wait for its next request before it is closed
    /// (without an answer: a client may be sending at that moment, and a closed idle
    /// connection is what clients retry on). Also bounds each wait for request body bytes
    /// (`408`) and each wait to write. Default 60 s.
    pub fn idle_timeout(mut self, d: Duration) -> Builder {
        self.config.idle_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// Longest request target in bytes; a longer one (or a request line that does not fit
    /// in [`max_header_bytes`](Builder::max_header_bytes)) is answered `414`. Default 8 KiB.
    pub fn max_target_bytes(mut self, n: usize) -> Builder {
        self.config.max_target_bytes = n.max(1);
        self
    }

    /// Longest chunk size line of a chunked request body, extensions and CRLF included; a
    /// longer one is answered `400`. Independent of the head's size. Default 4 KiB.
    pub fn max_chunk_line(mut self, n: usize) -> Builder {
        self.config.max_chunk_line = n.max(8);
        self
    }

    /// Largest trailer section of a chunked request body in bytes (its field count is
    /// bounded by [`max_headers`](Builder::max_headers)); more is answered `431`.
    /// Independent of the head's size. Default 8 KiB.
    pub fn max_trailer_bytes(mut self, n: usize) -> Builder {
        self.config.max_trailer_bytes = n.max(8);
        self
    }

    /// Whether `CONNECT` requests reach the handler, which may answer
    /// [`Response::tunnel`](super::Response::tunnel). Default `false`: they are answered
    /// `501 Not Implemented` and the connection closes. Either way, a `2xx` to `CONNECT`
    /// never carries `Content-Length` or a body (RFC 9110, section 9.3.6), and the
    /// connection is not reused for HTTP after `CONNECT`.
    pub fn connect(mut self, allow: bool) -> Builder {
        self.config.connect = allow;
        self
    }

    /// When a handler answers without reading the whole request body and the rest is not
    /// already buffered, the response goes out at once with `Connection: close`, and the
    /// rest of the body is read and dropped for at most this long in total (however slowly
    /// the client trickles it) before the connection closes: nginx's lingering close
    /// (`lingering_time`). Default 5 s.
    pub fn discard_timeout(mut self, d: Duration) -> Builder {
        self.config.discard_timeout = d;
        self
    }

    /// The most bytes of an unread request body read and dropped while closing (see
    /// [`discard_timeout`](Builder::discard_timeout)). Default 1 MiB.
    pub fn discard_max(mut self, n: u64) -> Builder {
        self.config.discard_max = n;
        self
    }

    /// Logs every request to `out`, one line each, in `format` (Common Log Format or
    /// combined, with the duration appended: see [`LogFormat`]). Lines are buffered and
    /// written every second, when 64 KiB are buffered, and when the server stops. A request
    /// the server refuses (400, 408, 413, 414, 431, ...) and a panicking handler's 500 are
    /// logged like any other. Default: no log.
    ///
    /// ```no_run
    /// use sprout::net::http::{LogFormat, Response, Server};
    ///
    /// let server = Server::builder()
    ///     .access_log(std::io::stderr(), LogFormat::Common)
    ///     .bind("127.0.0.1:8080", |_req| Response::text("Hello, World!"))?;
    /// server.serve_forever()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn access_log(mut self, out: impl Write + 'static, format: LogFormat) -> Builder {
        self.access_log = Some(AccessLog::new(Box::new(out), format));
        self
    }

    /// Serves at most `pool.size()` connections at once (see [`StreamServer::pool`]).
    pub fn pool(mut self, pool: Pool) -> Builder {
        self.pool = Some(pool);
        self
    }

    /// Serves HTTPS (feature `tls`): every connection runs the TLS handshake in its own
    /// greenlet, bounded by the header timeout, before its first request; a client that
    /// fails it (plain HTTP, a stall, an alert) is closed without an answer. SNI is
    /// `config`'s (its certificate resolver); when `config` sets no ALPN protocols,
    /// `http/1.1` and `http/1.0` are offered (in that order of preference), so that an
    /// HTTP/1.0 client that uses ALPN is not refused.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, mut config: rustls::ServerConfig) -> Builder {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
        }
        self.tls = Some(std::sync::Arc::new(config));
        self
    }

    /// Binds to `addr` and makes the server; it serves once started.
    ///
    /// # Errors
    ///
    /// Those of [`StreamServer::bind`](crate::StreamServer::bind): resolving `addr`, `AddrInUse`,
    /// `PermissionDenied` (a privileged port), out of fds.
    pub fn bind<A, F>(self, addr: A, handler: F) -> io::Result<Server>
    where
        A: ToSocketAddrs,
        F: Fn(&mut Request<'_>) -> Response + 'static,
    {
        self.listener(TcpListener::bind(addr)?, handler)
    }

    /// Makes the server on an existing listener.
    ///
    /// # Errors
    ///
    /// The OS error of reading the listener's address (`getsockname(2)`; not expected on a
    /// listening socket).
    pub fn listener<F>(self, listener: TcpListener, handler: F) -> io::Result<Server>
    where
        F: Fn(&mut Request<'_>) -> Response + 'static,
    {
        let shared = Rc::new(Shared {
            config: self.config,
            handler: Box::new(handler),
            stopping: Cell::new(false),
            idle: RefCell::new(HashMap::new()),
            idle_seq: Cell::new(0),
            access_log: self.access_log,
            housekeeper: RefCell::new(None),
        });
        let conn_shared = shared.clone();
        #[cfg(feature = "tls")]
        let tls = self.tls;
        let mut stream = StreamServer::new(listener, move |conn: TcpStream, peer| {
            #[cfg(feature = "tls")]
            if let Some(config) = &tls {
                let _ = conn.set_nodelay(true);
                let timeout = conn_shared.config.header_timeout;
                if let Ok(s) = crate::tls::accept_within(conn, config.clone(), timeout) {
                    conn::serve(ConnStream::Tls(Box::new(s)), peer, &conn_shared);
                }
                return;
            }
            conn::serve(ConnStream::Tcp(conn), peer, &conn_shared);
        })?;
        if let Some(pool) = self.pool {
            stream = stream.pool(pool);
        }
        // Out of fds: close idle keep-alive connections, oldest first.
        let reclaim_shared = shared.clone();
        let stream = stream.on_fds_exhausted(move |stream| reclaim_shared.reclaim_idle(stream));
        Ok(Server { stream, shared })
    }
}

/// An HTTP/1.1 server: one greenlet per connection, a blocking-style handler per request
/// (gevent's `pywsgi.WSGIServer`). Cheap to clone: clones are handles on the same server.
/// `!Send`. See the [module docs](super) for an example and the connection protocol.
#[derive(Clone)]
pub struct Server {
    /// The accept loop and the connection greenlets.
    stream: StreamServer,
    /// The handler, limits and stop flag every connection shares.
    shared: Rc<Shared>,
}

impl Server {
    /// A builder, to set limits before binding.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Binds to `addr` with the default limits.
    ///
    /// # Errors
    ///
    /// As [`Builder::bind`].
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<Server>
    where
        A: ToSocketAddrs,
        F: Fn(&mut Request<'_>) -> Response + 'static,
    {
        Builder::default().bind(addr, handler)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr()
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.stream.connections()
    }

    /// Starts accepting in a greenlet of its own and returns.
    ///
    /// # Errors
    ///
    /// An `Other` error if the server was stopped, or if the acceptor greenlet could not be spawned
    /// (out of memory or stack address space). Starting a server that already serves is `Ok`.
    pub fn start(&self) -> io::Result<()> {
        self.stream.start()?;
        if self.shared.housekeeper.borrow().is_none() {
            let (shared, stream) = (Rc::downgrade(&self.shared), self.stream.clone());
            let housekeeper = sprout_runtime::Builder::new()
                .name(String::from("http housekeeping"))
                .spawn(move || housekeeping(&shared, &stream))?;
            *self.shared.housekeeper.borrow_mut() = Some(housekeeper);
        }
        Ok(())
    }

    /// Starts the server if needed and parks the calling greenlet until it is stopped.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start); and a LoopExit error (`Other`) if nothing could ever stop the
    /// server. Errors of single connections (bad requests, timeouts, resets) are answered or
    /// logged, never returned here.
    pub fn serve_forever(&self) -> io::Result<()> {
        self.start()?;
        self.stream.serve_forever()
    }

    /// Serves until the process gets `SIGTERM` or `SIGINT`, then stops gracefully with
    /// [`stop`](Self::stop)`(grace)` and returns (see `StreamServer::serve_until_signal`).
    ///
    /// # Errors
    /// As [`start`](Self::start) and `sprout::signal_handler`.
    pub fn serve_until_signal(&self, grace: Duration) -> io::Result<()> {
        let stop_on = |sig| {
            let server = self.clone();
            crate::signal::signal_handler(sig, move || server.stop(grace))
        };
        let _term = stop_on(libc::SIGTERM)?;
        let _int = stop_on(libc::SIGINT)?;
        self.serve_forever()
    }

    /// Stops gracefully: stops accepting, closes the connections that wait for a request,
    /// lets requests in flight finish for up to `timeout` (their responses say
    /// `Connection: close`), then kills what is left.
    pub fn stop(&self, timeout: Duration) {
        self.shared.stopping.set(true);
        let idle: Vec<u64> = self
            .shared
            .idle
            .borrow()
            .iter()
            .filter(|(_, idle)| idle.get() != 0)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            self.stream.kill_connection(id);
        }
        self.stream.stop(timeout);
        let housekeeper = self.shared.housekeeper.borrow_mut().take();
        if let Some(h) = housekeeper {
            h.kill();
        }
        if let Some(log) = &self.shared.access_log {
            log.flush();
        }
    }
}

/// Snapshots of the idle counter kept by the housekeeping greenlet: a connection is
/// closed once it has waited through this many sweeps.
const IDLE_SWEEPS: usize = 4;

/// The housekeeping greenlet's body: it writes the access log once a second, and every
/// quarter of the idle timeout closes the keep-alive connections that have waited for
/// their next request since before the sweep four sweeps ago.
///
/// The connections themselves read no clock and arm no timer while they wait between
/// requests (a timer per wait was the largest user-space cost per request at hundreds of
/// connections): each one takes the next number of a counter when it starts waiting
/// (`Shared::idle_mark`), and this greenlet keeps the counter's value at each of its last
/// sweeps. A connection whose number is at most the value from four sweeps ago has waited
/// at least the idle timeout, so an idle connection is closed between the idle timeout and
/// one and a quarter times it (plus scheduling delays on a busy hub).
fn housekeeping(shared: &std::rc::Weak<Shared>, stream: &StreamServer) {
    let idle_timeout = match shared.upgrade() {
        Some(s) => s.config.idle_timeout,
        None => return,
    };
    let sweep_every = (idle_timeout / IDLE_SWEEPS as u32).max(Duration::from_millis(1));
    let wake = sweep_every.min(FLUSH_EVERY);
    // The counter's value at each of the last sweeps, oldest first.
    let mut marks: std::collections::VecDeque<u64> =
        std::collections::VecDeque::with_capacity(IDLE_SWEEPS);
    let (mut since_sweep, mut since_flush) = (Duration::ZERO, Duration::ZERO);
    loop {
        sprout_runtime::sleep(wake);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        since_sweep += wake;
        since_flush += wake;
        if since_sweep >= sweep_every {
            since_sweep = Duration::ZERO;
            if marks.len() == IDLE_SWEEPS {
                let old = marks.pop_front().unwrap_or(0);
                let expired: Vec<u64> = shared
                    .idle
                    .borrow()
                    .iter()
                    .filter(|(_, mark)| (1..=old).contains(&mark.get()))
                    .map(|(id, _)| *id)
                    .collect();
                for id in expired {
                    stream.kill_connection(id);
                }
            }
            marks.push_back(shared.idle_seq.get());
        }
        if since_flush >= FLUSH_EVERY {
            since_flush = Duration::ZERO;
            if let Some(log) = &shared.access_log {
                log.flush();
            }
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("stream", &self.stream)
            .field("config", &self.shared.config)
            .finish()
    }
}
