//! [`DatagramServer`]: a UDP receive loop that hands every datagram to a handler in its own
//! greenlet (gevent's `gevent.server.DatagramServer`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use sprout_runtime::sync::{Event, Pool};
use sprout_runtime::JoinHandle;

use crate::handlers::Handlers;
use crate::resolve::ToSocketAddrs;
use crate::udp::UdpSocket;

/// The largest UDP payload; the receive buffer is this long.
const MAX_DATAGRAM: usize = 65_536;

/// Delay after a failed receive (the socket reports a queued ICMP error, or memory is short).
const RECV_BACKOFF: Duration = Duration::from_millis(5);

/// Where a server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Made, not started.
    Ready,
    /// The receive loop is running.
    Serving,
    /// `stop` is in progress.
    Stopping,
    /// Stopped; it cannot be started again.
    Stopped,
}

/// The handler every datagram goes to: the payload, the sender, the server's socket.
type Handler = dyn Fn(&[u8], SocketAddr, &UdpSocket);

/// The state behind every handle of one server.
struct Inner {
    /// The bound socket: the receive loop reads it, handlers reply through it.
    socket: Rc<UdpSocket>,
    /// The address it is bound to.
    addr: SocketAddr,
    /// What runs for every datagram.
    handler: Rc<Handler>,
    /// The bounded spawn strategy; `None` spawns a greenlet per datagram without limit.
    pool: RefCell<Option<Pool>>,
    /// Where the server is; moved on by `start` and `stop`.
    state: Cell<State>,
    /// The receive loop's greenlet while it runs; taken (and killed) by `stop`.
    receiver: RefCell<Option<JoinHandle<()>>>,
    /// Live handler greenlets: spawned by the receive loop, drained by `stop`.
    handlers: Rc<Handlers>,
    /// Set when the server has stopped; `serve_forever` waits on it.
    stopped: Event,
}

/// A UDP server running a handler per datagram, each in its own greenlet (gevent's
/// `DatagramServer`): the handler gets the payload, the sender's address and the server's
/// socket, and replies with [`UdpSocket::send_to`]. Cheap to clone (clones are handles on the
/// same server). `!Send`.
///
/// ```
/// use std::time::Duration;
/// use sprout::net::{DatagramServer, UdpSocket};
///
/// let server = DatagramServer::bind("127.0.0.1:0", |data: &[u8], peer, sock: &UdpSocket| {
///     let _ = sock.send_to(&data.to_ascii_uppercase(), peer);
/// })?;
/// server.start()?;
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.send_to(b"ping", server.local_addr())?;
/// let mut buf = [0u8; 16];
/// let (n, _) = client.recv_from(&mut buf)?;
/// server.stop(Duration::from_secs(1));
/// println!("{}", String::from_utf8_lossy(&buf[..n]));
/// assert_eq!(&buf[..n], b"PING");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Output:
///
/// ```text
/// PING
/// ```
///
/// # Lifecycle
///
/// As [`StreamServer`](crate::StreamServer)'s: made with [`bind`](DatagramServer::bind) or
/// [`new`](DatagramServer::new), optionally given a [`pool`](DatagramServer::pool) (the
/// receive loop then waits for a free slot before it reads the next datagram, so excess
/// datagrams queue in the kernel's receive buffer, and are dropped by the kernel when it is
/// full, as UDP does), started with [`start`](DatagramServer::start) or
/// [`serve_forever`](DatagramServer::serve_forever), and stopped gracefully by
/// [`stop`](DatagramServer::stop): the receive loop ends, running handlers get until the
/// timeout, the rest are killed. A panicking handler ends its own greenlet only.
///
/// Handlers share the socket: two handlers whose replies both find the send buffer full at
/// once park one after the other would be a concurrent use, so the second fails its
/// `send_to` with an error; UDP replies rarely park.
pub struct DatagramServer {
    /// The shared state.
    inner: Rc<Inner>,
}

impl Clone for DatagramServer {
    fn clone(&self) -> Self {
        DatagramServer {
            inner: self.inner.clone(),
        }
    }
}

impl DatagramServer {
    /// Binds a UDP socket to `addr` and makes a server calling `handler` for every datagram.
    /// It does not receive until started.
    ///
    /// # Errors
    /// As [`UdpSocket::bind`].
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        F: Fn(&[u8], SocketAddr, &UdpSocket) + 'static,
    {
        DatagramServer::new(UdpSocket::bind(addr)?, handler)
    }

    /// Makes a server on a bound socket.
    ///
    /// # Errors
    /// The socket's address cannot be read.
    pub fn new<F>(socket: UdpSocket, handler: F) -> io::Result<DatagramServer>
    where
        F: Fn(&[u8], SocketAddr, &UdpSocket) + 'static,
    {
        let addr = socket.local_addr()?;
        Ok(DatagramServer {
            inner: Rc::new(Inner {
                socket: Rc::new(socket),
                addr,
                handler: Rc::new(handler),
                pool: RefCell::new(None),
                state: Cell::new(State::Ready),
                receiver: RefCell::new(None),
                handlers: Handlers::new(),
                stopped: Event::new(),
            }),
        })
    }

    /// Runs the handlers in `pool` (gevent's `spawn=pool`): at most `pool.size()` at once.
    /// Set it before starting.
    pub fn pool(self, pool: Pool) -> DatagramServer {
        *self.inner.pool.borrow_mut() = Some(pool);
        self
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The server's socket (to send from it outside a handler).
    pub fn socket(&self) -> &UdpSocket {
        &self.inner.socket
    }

    /// Handlers running now.
    pub fn handlers(&self) -> usize {
        self.inner.handlers.len()
    }

    /// Whether the server has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.state.get() == State::Stopped
    }

    /// Starts the receive loop in a greenlet of its own and returns. Starting a server that
    /// is already serving does nothing.
    ///
    /// # Errors
    /// The server was stopped, or no greenlet could be spawned.
    pub fn start(&self) -> io::Result<()> {
        match self.inner.state.get() {
            State::Ready => {}
            State::Serving => return Ok(()),
            State::Stopping | State::Stopped => {
                return Err(io::Error::other("sprout: this DatagramServer was stopped"))
            }
        }
        let inner = self.inner.clone();
        let receiver = sprout_runtime::Builder::new()
            .name(format!("DatagramServer {}", self.inner.addr))
            .spawn(move || receive_loop(&inner))?;
        *self.inner.receiver.borrow_mut() = Some(receiver);
        self.inner.state.set(State::Serving);
        Ok(())
    }

    /// Starts the server if needed, then parks the calling greenlet until it is stopped.
    ///
    /// # Errors
    /// As [`start`](DatagramServer::start).
    pub fn serve_forever(&self) -> io::Result<()> {
        self.start()?;
        self.inner.stopped.wait().map_err(io::Error::from)
    }

    /// Stops gracefully: stops receiving, lets running handlers finish for up to `timeout`,
    /// kills the rest, and returns when all are gone. The socket closes when the last handle
    /// on the server is dropped. A handler stopping its own server is neither waited for nor
    /// killed.
    pub fn stop(&self, timeout: Duration) {
        let inner = &self.inner;
        match inner.state.get() {
            State::Stopped => return,
            State::Stopping => {
                let _ = inner.stopped.wait_timeout(timeout + Duration::from_secs(1));
                return;
            }
            State::Ready | State::Serving => {}
        }
        inner.state.set(State::Stopping);
        let receiver = inner.receiver.borrow_mut().take();
        if let Some(r) = receiver {
            r.kill();
        }
        inner
            .handlers
            .drain_and_kill(timeout, "DatagramServer::stop: handler");
        inner.state.set(State::Stopped);
        inner.stopped.set();
    }
}

/// The receive loop (the receiver greenlet's body); ends only when killed.
fn receive_loop(inner: &Rc<Inner>) {
    let pool = inner.pool.borrow().clone();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut failing = false;
    loop {
        if let Some(pool) = &pool {
            let _ = pool.wait_available();
        }
        match inner.socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                failing = false;
                spawn_handler(inner, pool.as_ref(), buf[..n].to_vec(), peer);
            }
            Err(e) => {
                // A queued ICMP error (ECONNREFUSED from an earlier reply) or ENOMEM: report
                // once per burst, pause briefly, go on.
                if !failing {
                    eprintln!(
                        "sprout: DatagramServer {}: receive failed: {e}; retrying",
                        inner.addr
                    );
                    failing = true;
                }
                sprout_runtime::sleep(RECV_BACKOFF);
            }
        }
    }
}

/// Runs the handler for one datagram in a greenlet of its own.
fn spawn_handler(inner: &Rc<Inner>, pool: Option<&Pool>, data: Vec<u8>, peer: SocketAddr) {
    let body = {
        let inner = inner.clone();
        move || (inner.handler)(&data, peer, &inner.socket)
    };
    if let Err(e) = inner.handlers.spawn(pool, body) {
        eprintln!(
            "sprout: DatagramServer {}: cannot spawn a handler for {peer}: {e}",
            inner.addr
        );
    }
}

impl fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("addr", &self.inner.addr)
            .field("state", &self.inner.state.get())
            .field("handlers", &self.handlers())
            .finish()
    }
}
