//! [`Server`] and its [`Builder`]: the HTTP server on top of a
//! [`StreamServer`](crate::StreamServer), with its limits.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::resolve::ToSocketAddrs;
use std::rc::Rc;
use std::time::Duration;

use sprout_runtime::sync::Pool;

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
    /// Largest request body in bytes.
    pub(crate) max_body: u64,
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
            max_body: 1024 * 1024,
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
    /// Live connections by greenlet id, each with its "waiting for the next request" flag
    /// (set and cleared by the connection; `stop` kills the idle ones at once).
    pub(crate) idle: RefCell<HashMap<u64, Rc<Cell<bool>>>>,
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

    /// Serves at most `pool.size()` connections at once (see [`StreamServer::pool`]).
    pub fn pool(mut self, pool: Pool) -> Builder {
        self.pool = Some(pool);
        self
    }

    /// Serves HTTPS (feature `tls`): every connection runs the TLS handshake in its own
    /// greenlet, bounded by the header timeout, before its first request; a client that
    /// fails it (plain HTTP, a stall, an alert) is closed without an answer. SNI is
    /// `config`'s (its certificate resolver); when `config` sets no ALPN protocols,
    /// `http/1.1` is offered.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, mut config: rustls::ServerConfig) -> Builder {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
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
    pub fn listener<F>(self, listener: TcpListener, handler: F) -> io::Result<Server>
    where
        F: Fn(&mut Request<'_>) -> Response + 'static,
    {
        let shared = Rc::new(Shared {
            config: self.config,
            handler: Box::new(handler),
            stopping: Cell::new(false),
            idle: RefCell::new(HashMap::new()),
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
        self.stream.start()
    }

    /// Starts the server if needed and parks the calling greenlet until it is stopped.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start); and a LoopExit error (`Other`) if nothing could ever stop the
    /// server. Errors of single connections (bad requests, timeouts, resets) are answered or
    /// logged, never returned here.
    pub fn serve_forever(&self) -> io::Result<()> {
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
            .filter(|(_, idle)| idle.get())
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            self.stream.kill_connection(id);
        }
        self.stream.stop(timeout);
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
