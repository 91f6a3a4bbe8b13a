//! [`StreamServer`]: an accept loop (TCP, Unix or TLS: any [`Listener`]) that hands every connection to a handler in its own
//! greenlet (gevent's `gevent.server.StreamServer`).
//!
//! The lifecycle it follows (made, started, accepting with back-off, stopped) is documented
//! on the type.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::handlers::Handlers;
use crate::resolve::ToSocketAddrs;
use std::rc::Rc;
use std::time::Duration;

use sprout_runtime::sync::{Event, Pool};
use sprout_runtime::JoinHandle;

use crate::listener::Listener;
use crate::tcp::{TcpListener, TcpStream};

/// gevent's default cap on accepts per loop pass.
const DEFAULT_MAX_ACCEPT: usize = 100;

/// First and last delay of the accept back-off.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The hook run when `accept` runs out of fds (see `StreamServer::on_fds_exhausted`).
type ReclaimFn<L> = dyn Fn(&StreamServer<L>) -> usize;

/// Where a server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Made, not started.
    Ready,
    /// The accept loop is running.
    Serving,
    /// `stop` is in progress.
    Stopping,
    /// Stopped; it cannot be started again.
    Stopped,
}

/// The state behind every handle of one server.
struct Inner<L: Listener> {
    /// The listener until `start` moves it into the accept loop.
    listener: RefCell<Option<L>>,
    /// The address the listener is bound to.
    addr: L::Addr,
    /// The listener as log lines name it.
    label: String,
    /// What runs for every connection.
    handler: Rc<dyn Fn(L::Stream, L::Addr)>,
    /// The bounded spawn strategy; `None` spawns a greenlet per connection without limit.
    pool: RefCell<Option<Pool>>,
    /// Accepts in one loop pass before yielding; set by `max_accept`.
    max_accept: Cell<usize>,
    /// Where the server is; moved on by `start` and `stop`.
    state: Cell<State>,
    /// The accept loop's greenlet while it runs; taken (and killed) by `stop`.
    acceptor: RefCell<Option<JoinHandle<()>>>,
    /// Live connection greenlets: spawned by the accept loop, drained by `stop`; the
    /// back-off waits for one of them to end.
    conns: Rc<Handlers>,
    /// Set when the server has stopped; `serve_forever` waits on it.
    stopped: Event,
    /// Called when `accept` runs out of fds; returns how many connections it closed.
    on_fds_exhausted: RefCell<Option<Rc<ReclaimFn<L>>>>,
}

/// A server running a handler per connection, each in its own greenlet (gevent's
/// `StreamServer`), on a [`TcpListener`] (the default), a
/// [`UnixListener`](crate::UnixListener) or a TLS listener over either (see [`Listener`]). Cheap to clone: clones are handles on the same server, so one greenlet
/// can serve while another stops it. Dropping every handle does not stop a started server
/// (its accept loop keeps it alive, as in gevent); call [`stop`](StreamServer::stop).
/// `!Send`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use sprout::net::{StreamServer, TcpStream};
///
/// let server = StreamServer::bind("127.0.0.1:0", |mut conn: TcpStream, _peer| {
///     let mut buf = [0u8; 64];
///     while let Ok(n) = conn.read(&mut buf) {
///         if n == 0 || conn.write_all(&buf[..n]).is_err() {
///             break;
///         }
///     }
/// })?;
/// server.start()?; // the accept loop runs in a greenlet of its own
/// let mut client = TcpStream::connect(server.local_addr())?;
/// client.write_all(b"ping")?;
/// let mut back = [0u8; 4];
/// client.read_exact(&mut back)?;
/// assert_eq!(&back, b"ping");
/// drop(client);
/// server.stop(Duration::from_secs(1)); // the handler sees EOF and finishes in time
/// println!("{}", String::from_utf8_lossy(&back));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Output:
///
/// ```text
/// ping
/// ```
///
/// # Lifecycle
///
/// 1. **Made** with [`bind`](StreamServer::bind) or [`new`](StreamServer::new) (from a
///    listener), then configured: [`pool`](StreamServer::pool) bounds the live handlers,
///    [`max_accept`](StreamServer::max_accept) caps the accepts of one loop pass.
/// 2. **Started** by [`start`](StreamServer::start) (the accept loop becomes a greenlet and
///    `start` returns) or [`serve_forever`](StreamServer::serve_forever) (the same, then the
///    caller parks until the server is stopped).
/// 3. **Accepting.** Each connection gets a greenlet running the handler. With a pool, the
///    loop waits for a free slot *before* accepting, so excess clients queue in the kernel's
///    backlog rather than in the server. After `max_accept` accepts without parking, the loop
///    yields so handlers run. Running out of fds (`EMFILE`, `ENFILE`) or any other accept
///    failure is logged once per burst on stderr and backed off: the loop waits until a
///    connection closes or a delay passes (5 ms, doubling up to 1 s), then tries again, while
///    the existing connections are served as usual.
/// 4. **Stopped** by [`stop`](StreamServer::stop), from any greenlet of the thread: the accept
///    loop is killed (the listener closes), handlers still running get until the timeout to
///    finish, and the rest are killed. A handler that stops its own server is neither waited
///    for nor killed. `serve_forever` then returns.
///
/// A panicking handler ends its own greenlet only: the panic is reported on stderr with the
/// greenlet's name and the server goes on.
pub struct StreamServer<L: Listener = TcpListener> {
    /// The shared state.
    inner: Rc<Inner<L>>,
}

impl<L: Listener> Clone for StreamServer<L> {
    fn clone(&self) -> Self {
        StreamServer {
            inner: self.inner.clone(),
        }
    }
}

impl StreamServer<TcpListener> {
    /// Binds a listener to `addr` and makes a server calling `handler` for every connection.
    /// It does not accept until started.
    ///
    /// # Errors
    ///
    /// Those of [`TcpListener::bind`](crate::TcpListener::bind) (name resolution, `AddrInUse`,
    /// `PermissionDenied`, out of fds), and of `getsockname(2)` reading the bound address.
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        F: Fn(TcpStream, SocketAddr) + 'static,
    {
        StreamServer::new(TcpListener::bind(addr)?, handler)
    }
}

impl<L: Listener> StreamServer<L> {
    /// Makes a server accepting from `listener` (TCP, Unix, TLS: see [`Listener`]) and
    /// calling `handler` for every connection, with the stream the listener establishes
    /// (for TLS, after the handshake, which runs in the connection's greenlet).
    ///
    /// # Errors
    ///
    /// The OS error of reading the listener's address (`getsockname(2)`; not expected on a
    /// listening socket).
    pub fn new<F>(listener: L, handler: F) -> io::Result<StreamServer<L>>
    where
        F: Fn(L::Stream, L::Addr) + 'static,
    {
        let addr = listener.local_addr()?;
        let label = listener.describe();
        Ok(StreamServer {
            inner: Rc::new(Inner {
                listener: RefCell::new(Some(listener)),
                addr,
                label,
                handler: Rc::new(handler),
                pool: RefCell::new(None),
                max_accept: Cell::new(DEFAULT_MAX_ACCEPT),
                state: Cell::new(State::Ready),
                acceptor: RefCell::new(None),
                conns: Handlers::new(),
                stopped: Event::new(),
                on_fds_exhausted: RefCell::new(None),
            }),
        })
    }

    /// Runs the handlers in `pool` (gevent's `spawn=pool`): at most `pool.size()` connections
    /// are served at once, and the accept loop waits for a free slot before accepting more.
    /// Set it before starting.
    pub fn pool(self, pool: Pool) -> StreamServer<L> {
        *self.inner.pool.borrow_mut() = Some(pool);
        self
    }

    /// Caps the connections accepted in one go before the loop yields to the handlers
    /// (gevent's `max_accept`, default 100; at least 1).
    pub fn max_accept(self, n: usize) -> StreamServer<L> {
        self.inner.max_accept.set(n.max(1));
        self
    }

    /// Sets what runs when `accept` fails for want of file descriptors (`EMFILE`,
    /// `ENFILE`): `reclaim` (given this server) closes connections it can spare, such as
    /// idle keep-alive ones, and returns how many. If it returns more than 0 the accept
    /// loop waits for one of them to close (at most 5 ms) and accepts again at once;
    /// otherwise it backs off as usual. nginx does the same (it closes idle keep-alive
    /// connections, oldest first); the HTTP server sets this hook. Set it before starting.
    pub fn on_fds_exhausted<F>(self, reclaim: F) -> StreamServer<L>
    where
        F: Fn(&StreamServer<L>) -> usize + 'static,
    {
        *self.inner.on_fds_exhausted.borrow_mut() = Some(Rc::new(reclaim));
        self
    }

    /// The address the server listens on (the port actually bound when given port 0).
    pub fn local_addr(&self) -> L::Addr {
        self.inner.addr.clone()
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.inner.conns.len()
    }

    /// Whether the server has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.state.get() == State::Stopped
    }

    /// Starts the accept loop in a greenlet of its own and returns (gevent's `start`).
    /// Starting a server that is already serving does nothing.
    ///
    /// # Errors
    ///
    /// The server was stopped, or no greenlet could be spawned.
    pub fn start(&self) -> io::Result<()> {
        match self.inner.state.get() {
            State::Ready => {}
            State::Serving => return Ok(()),
            State::Stopping | State::Stopped => {
                return Err(io::Error::other("sprout: this StreamServer was stopped"))
            }
        }
        let listener = self
            .inner
            .listener
            .borrow_mut()
            .take()
            .expect("a server that was never started holds its listener");
        let inner = self.inner.clone();
        let acceptor = sprout_runtime::Builder::new()
            .name(format!("StreamServer {}", self.inner.label))
            .spawn(move || accept_loop(&inner, &listener))?;
        *self.inner.acceptor.borrow_mut() = Some(acceptor);
        self.inner.state.set(State::Serving);
        Ok(())
    }

    /// Starts the server if needed, then parks the calling greenlet until the server is
    /// stopped (from another greenlet, or by a handler).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start): the server was stopped before it started, or the acceptor
    /// greenlet could not be spawned (out of memory or stack address space; the error says which);
    /// a LoopExit error if nothing could ever stop the server (the caller is the only one left and
    /// no handler runs). Accept failures are not returned: they are logged once per burst and
    /// backed off (see above).
    pub fn serve_forever(&self) -> io::Result<()> {
        self.start()?;
        self.inner.stopped.wait().map_err(io::Error::from)
    }

    /// Serves like [`serve_forever`](Self::serve_forever) until the process gets `SIGTERM` or
    /// `SIGINT`, then stops gracefully with [`stop`](Self::stop)`(grace)` and returns. The
    /// signal handlers (see `sprout::signal_handler`) live on this hub for the call's
    /// duration.
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

    /// Stops the server gracefully: stops accepting (the listener closes), lets the handlers
    /// still running finish for up to `timeout`, then kills the rest, and returns when all
    /// are gone. A second `stop` while one runs waits for the first.
    pub fn stop(&self, timeout: Duration) {
        let inner = &self.inner;
        match inner.state.get() {
            State::Stopped => return,
            State::Stopping => {
                let _ = inner.stopped.wait_timeout(timeout + BACKOFF_MAX);
                return;
            }
            State::Ready | State::Serving => {}
        }
        inner.state.set(State::Stopping);
        let acceptor = inner.acceptor.borrow_mut().take();
        if let Some(a) = acceptor {
            a.kill();
        }
        drop(inner.listener.borrow_mut().take());

        // A handler stopping its own server is not waited for, nor killed.
        inner
            .conns
            .drain_and_kill(timeout, "StreamServer::stop: connection");
        inner.state.set(State::Stopped);
        inner.stopped.set();
    }

    /// Requests the kill of one connection greenlet without waiting (the HTTP server ends its
    /// idle keep-alive connections this way when it stops).
    pub(crate) fn kill_connection(&self, id: u64) {
        self.inner.conns.kill_nowait(id);
    }
}

/// The accept loop (the acceptor greenlet's body); ends only when killed.
fn accept_loop<L: Listener>(inner: &Rc<Inner<L>>, listener: &L) {
    let pool = inner.pool.borrow().clone();
    let mut backoff: Option<Duration> = None;
    let mut in_pass = 0usize;
    loop {
        if let Some(pool) = &pool {
            // Only the root sees LoopExit; this is a greenlet, and kill unwinds.
            let _ = pool.wait_available();
        }
        let switches = sprout_runtime::switch_count();
        match listener.accept() {
            Ok((conn, peer)) => {
                if backoff.take().is_some() {
                    eprintln!("sprout: StreamServer {}: accepting again", inner.label);
                }
                spawn_connection(inner, pool.as_ref(), conn, peer);
                in_pass = if sprout_runtime::switch_count() == switches {
                    in_pass + 1
                } else {
                    1
                };
                if in_pass >= inner.max_accept.get() {
                    sprout_runtime::yield_now();
                    in_pass = 0;
                }
            }
            // The client gave up before we got to it: nothing to report.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
                    && reclaim_fds(inner) => {}
            Err(e) => {
                let delay = match backoff {
                    None => {
                        eprintln!(
                            "sprout: StreamServer {}: accept failed: {e}; backing off until \
                             a connection closes (at most {BACKOFF_MAX:?} at a time)",
                            inner.label
                        );
                        BACKOFF_MIN
                    }
                    Some(d) => (d * 2).min(BACKOFF_MAX),
                };
                backoff = Some(delay);
                in_pass = 0;
                // Running out of fds ends when a connection closes; wake on that or the delay.
                inner
                    .conns
                    .wait_for_an_end(sprout_runtime::time::deadline_after(delay));
            }
        }
    }
}

/// Out of fds: runs the server's reclaim hook; if it closed connections, waits (briefly)
/// for one of them to end so `accept` can be retried. Returns whether to retry at once.
fn reclaim_fds<L: Listener>(inner: &Rc<Inner<L>>) -> bool {
    let hook = inner.on_fds_exhausted.borrow().clone();
    match hook {
        Some(reclaim)
            if reclaim(&StreamServer {
                inner: inner.clone(),
            }) > 0 =>
        {
            inner
                .conns
                .wait_for_an_end(sprout_runtime::time::deadline_after(BACKOFF_MIN));
            true
        }
        _ => false,
    }
}

/// Runs the handler for one accepted connection in a greenlet of its own.
fn spawn_connection<L: Listener>(
    inner: &Rc<Inner<L>>,
    pool: Option<&Pool>,
    conn: L::Accepted,
    peer: L::Addr,
) {
    let peer_for_log = peer.clone();
    let body = {
        let inner = inner.clone();
        move || {
            // A connection that cannot be set up (a failed TLS handshake) is closed unseen.
            if let Ok(stream) = L::establish(conn) {
                (inner.handler)(stream, peer);
            }
        }
    };
    // With a pool, the loop waited for a slot before accepting, so this does not park. On
    // failure the connection is dropped (closed) with the closure.
    if let Err(e) = inner.conns.spawn(pool, body) {
        eprintln!(
            "sprout: StreamServer {}: cannot spawn a handler for {peer_for_log:?}: {e}",
            inner.label
        );
    }
}

impl<L: Listener> fmt::Debug for StreamServer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("addr", &self.inner.addr)
            .field("state", &self.inner.state.get())
            .field("connections", &self.connections())
            .finish()
    }
}
