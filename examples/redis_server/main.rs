//! A Redis-protocol server on sprout: a blocking-style accept loop and one greenlet per
//! connection, on one OS thread like redis-server. `BLPOP` and `SUBSCRIBE` are ordinary
//! blocking calls in the connection's greenlet: no callbacks, no state machine.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example redis_server -- --addr 127.0.0.1:6380
//! ```
//!
//! It prints `listening on ADDR` (the address actually bound, so `--addr 127.0.0.1:0` works)
//! and serves until killed. Drive it with `redis-cli -p 6380` (`SET k v`, `GET k`,
//! `SUBSCRIBE news` in one terminal and `PUBLISH news hi` in another) or load it with
//! `redis-benchmark -p 6380 -t set,get -c 50 -n 200000 [-P 16]`.
//!
//! Options (defaults are redis-server's):
//!
//! - `--proto-max-bulk-len BYTES` (512 MiB): the largest bulk string a request may carry.
//! - `--client-output-limit BYTES` (32 MiB, Redis's pub/sub hard limit): unsent bytes a
//!   subscriber may have queued before it is disconnected.
//! - `--write-timeout SECS` (60, Redis's pub/sub soft-limit time): a client whose socket
//!   takes no bytes for this long is disconnected.
//!
//! # Implementation
//!
//! Everything runs on the main thread's hub. The keyspace ([`store`]) and the pub/sub
//! registry ([`pubsub`]) are `RefCell`s on that hub, borrowed only between blocking calls.
//! A connection's greenlet reads into its buffer, executes every complete command in it
//! ([`resp`] parses, [`commands`] runs) appending the replies to one output buffer, and
//! writes that buffer once: a pipelined batch costs one read and one write. A client that
//! stops reading blocks only its own greenlet, in its write, until the write timeout ends
//! it; the reply buffer is flushed every 64 KiB so it never grows without bound.
//! A subscribed connection gets a second greenlet that writes its queue (see [`pubsub`]).
//! An active-expiry greenlet removes expired keys nobody touches, ten times a second.
//!
//! The RESP codec ([`resp`]) is a module of this example rather than of the library: it is
//! Redis's wire format, needed by Redis servers and clients only, while sprout's library
//! stays the greenlet, hub and socket layer every protocol builds on.

mod collections;
mod commands;
mod pubsub;
mod resp;
mod store;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::{TcpListener, TcpStream};
use sprout::sync::Event;

use commands::{BlockOn, Client, Config, Flow, Server};
use pubsub::Subscriptions;
use resp::{Parsed, Parser};
use store::{Blocked, Store};

/// Initial (and usual) size of a connection's read buffer.
const READ_SIZE: usize = 16 * 1024;

/// Replies accumulated past this many bytes are written before more commands run.
const FLUSH_AT: usize = 64 * 1024;

/// A read buffer grown past this is shrunk back when empty.
const KEEP_BUFFER: usize = 1024 * 1024;

/// How often a parked `BLPOP` checks whether its client hung up.
const BLOCKED_CHECK: Duration = Duration::from_millis(250);

#[path = "../support/args.rs"]
mod args;

const USAGE: &str = "redis_server [--addr HOST:PORT] [--proto-max-bulk-len BYTES] \
                     [--client-output-limit BYTES] [--write-timeout SECS]";

/// The longest `--write-timeout`, in seconds (a year).
const MAX_WRITE_TIMEOUT: f64 = 365.0 * 86_400.0;

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:6380");
    let mut max_bulk = 512 * 1024 * 1024;
    let mut output_limit = 32 * 1024 * 1024;
    let mut write_timeout = 60.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--addr" => addr = value(),
            "--proto-max-bulk-len" => max_bulk = number(&arg, &value()),
            "--client-output-limit" => output_limit = number(&arg, &value()),
            "--write-timeout" => {
                write_timeout = value()
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && *s <= MAX_WRITE_TIMEOUT)
                    .unwrap_or_else(|| {
                        usage(&format!(
                            "--write-timeout needs a positive number of seconds up to \
                             {MAX_WRITE_TIMEOUT}"
                        ))
                    })
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }

    let listener =
        TcpListener::bind(&addr).map_err(args::context(format!("cannot bind {addr}")))?;
    let local = listener.local_addr()?;
    println!("listening on {local}");
    io::stdout().flush()?;

    let srv = Rc::new(Server {
        store: RefCell::new(Store::default()),
        pubsub: RefCell::default(),
        cfg: Config {
            max_bulk,
            output_limit,
            write_timeout: Duration::from_secs_f64(write_timeout),
            port: local.port(),
        },
        started: Instant::now(),
        clients: Cell::new(0),
        blocked: Cell::new(0),
        total_connections: Cell::new(0),
        total_commands: Cell::new(0),
    });

    let expirer = srv.clone();
    sprout::spawn(move || active_expiry(&expirer));

    let mut next_id = 0u64;
    loop {
        match listener.accept() {
            Ok((conn, _peer)) => {
                next_id += 1;
                let (srv, id) = (srv.clone(), next_id);
                sprout::spawn(move || serve(&srv, conn, id));
            }
            Err(e) => {
                // Out of fds (EMFILE) or a connection reset before accept: keep serving.
                eprintln!("accept: {e}");
                sprout::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn usage(problem: &str) -> ! {
    args::Args::new("redis_server", USAGE).fail(problem)
}

fn number(flag: &str, v: &str) -> usize {
    v.parse()
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or_else(|| usage(&format!("{flag} needs a positive number")))
}

/// Removes expired keys that no command touches: every 100 ms (redis-server's `hz 10`), in
/// bounded steps that yield to the connections in between.
fn active_expiry(srv: &Server) {
    const STEP: usize = 1000;
    loop {
        sprout::sleep(Duration::from_millis(100));
        while srv.store.borrow_mut().expire_some(STEP) == STEP {
            sprout::yield_now();
        }
    }
}

/// A connection's registration with the server: counted in `INFO` while it lives, and on
/// drop (however the connection's greenlet ends, a panic included) out of every
/// subscription, with its subscriber writer told to finish.
struct Connection<'a> {
    /// The server it belongs to.
    srv: &'a Server,
    /// The connection's state.
    client: Client,
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        let srv = self.srv;
        srv.clients.set(srv.clients.get() - 1);
        if let Some(sub) = &self.client.sub {
            pubsub::leave_all(&srv.pubsub, &self.client.subs, self.client.id);
            // The writer sends what is queued (a QUIT's +OK, a protocol error) and ends; the
            // socket closes when it lets go of it.
            sub.finish();
        }
    }
}

fn serve(srv: &Server, conn: TcpStream, id: u64) {
    srv.clients.set(srv.clients.get() + 1);
    srv.total_connections.set(srv.total_connections.get() + 1);
    let _ = conn.set_nodelay(true);
    let _ = conn.set_write_timeout(Some(srv.cfg.write_timeout));
    let mut conn = Connection {
        srv,
        client: Client {
            id,
            name: None,
            stream: Rc::new(conn),
            sub: None,
            subs: Subscriptions::default(),
        },
    };
    let _ = connection(srv, &mut conn.client);
}

/// The connection's read-execute-write loop. Returns when the client hangs up, quits, breaks
/// the protocol, or stops taking replies.
fn connection(srv: &Server, c: &mut Client) -> io::Result<()> {
    let stream = c.stream.clone();
    let mut buf = vec![0u8; READ_SIZE];
    // buf[start..end] is input not consumed yet; the command being parsed starts at `start`.
    let (mut start, mut end) = (0usize, 0usize);
    let mut parser = Parser::new(srv.cfg.max_bulk);
    let mut out = Vec::with_capacity(FLUSH_AT);
    loop {
        if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            }
            if end == buf.len() {
                let want = (buf.len() * 2).max(parser.need());
                buf.resize(want, 0);
            }
        }
        let n = (&*stream).read(&mut buf[end..])?;
        if n == 0 {
            return Ok(());
        }
        end += n;
        loop {
            let input = &buf[start..end];
            let (len, flow) = match parser.next(input) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Command(len)) => {
                    let args = parser.args(input);
                    if args.len() == 0 {
                        (len, Flow::Go)
                    } else {
                        (len, commands::execute(srv, c, &args, &mut out))
                    }
                }
                Err(msg) => {
                    resp::error(&mut out, &format!("ERR Protocol error: {msg}"));
                    flush(c, &mut out)?;
                    // A subscriber's writer sends the error; the socket closes after it.
                    if c.sub.is_none() {
                        linger(&stream);
                    }
                    return Ok(());
                }
            };
            start += len;
            match flow {
                Flow::Go => {}
                Flow::Close => return flush(c, &mut out),
                Flow::Block(on) => {
                    // The replies before a BLPOP go out before it parks.
                    flush(c, &mut out)?;
                    if !block(srv, &stream, on, &mut out) {
                        return Ok(());
                    }
                }
            }
            if out.len() >= FLUSH_AT {
                flush(c, &mut out)?;
            }
        }
        flush(c, &mut out)?;
        if start == end {
            start = 0;
            end = 0;
            if buf.len() > KEEP_BUFFER {
                buf = vec![0u8; READ_SIZE];
            }
        }
    }
}

/// Writes the replies: straight to the socket, or through the subscriber queue once the
/// connection has one (so they stay in order with published messages).
fn flush(c: &Client, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    match &c.sub {
        Some(sub) => {
            if !sub.send(Rc::new(std::mem::take(out))) {
                return Err(io::Error::other("subscriber disconnected"));
            }
        }
        None => {
            (&*c.stream).write_all(out)?;
            out.clear();
        }
    }
    Ok(())
}

/// After a protocol error: end our side, then discard what the client still sends for a
/// moment, so closing does not reset the connection before it reads the error.
fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut sink = [0u8; 16 * 1024];
    let mut left = 4 * 1024 * 1024usize;
    while let Ok(n @ 1..) = (&*stream).read(&mut sink) {
        left = left.saturating_sub(n);
        if left == 0 {
            break;
        }
    }
}

/// Parks the connection in `BLPOP`/`BRPOP` until a push serves it or the timeout passes, then
/// appends the reply. Returns false if the client hung up meanwhile.
fn block(srv: &Server, stream: &TcpStream, on: BlockOn, out: &mut Vec<u8>) -> bool {
    let waiter = Rc::new(Blocked {
        left: on.left,
        served: RefCell::new(None),
        done: Cell::new(false),
        wake: Event::new(),
    });
    srv.store.borrow_mut().block(&on.keys, &waiter);
    let deadline = on.timeout.and_then(|t| Instant::now().checked_add(t));
    let mut alive = true;
    srv.blocked.set(srv.blocked.get() + 1);
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(BLOCKED_CHECK),
            None => BLOCKED_CHECK,
        };
        if waiter.wake.wait_timeout(slice).is_ok() || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        if hung_up(stream) {
            alive = false;
            break;
        }
    }
    srv.blocked.set(srv.blocked.get() - 1);
    let mut st = srv.store.borrow_mut();
    st.unblock(&on.keys, &waiter);
    let served = waiter.served.borrow_mut().take();
    if !alive {
        // Served in the same instant the client went away: the element goes back.
        if let Some((key, value)) = served {
            st.give_back(&key, value, on.left);
        }
        return false;
    }
    match served {
        Some((key, value)) => {
            resp::array(out, 2);
            resp::bulk(out, &key);
            resp::bulk(out, &value);
        }
        None => resp::null_array(out),
    }
    alive
}

/// Whether the peer closed the connection (checked without consuming input): readable, and
/// a peek finds end of stream or an error. Pipelined input after a `BLPOP` hides a close, as
/// it would in redis-server until the input is read.
fn hung_up(stream: &TcpStream) -> bool {
    if sprout::net::wait_readable(stream.as_raw_fd(), Some(Duration::from_millis(1))).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    matches!(stream.peek(&mut b), Ok(0) | Err(_))
}
