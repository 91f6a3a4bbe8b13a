//! A closed-loop HTTP/1.1 load generator built on sprout: keep-alive connections, optionally
//! pipelined, one greenlet each, all on one OS thread. No outside tool needed.
//!
//! Run a server, then the load:
//!
//! ```text
//! cargo run --release --example http_hello -- --addr 127.0.0.1:8080
//! cargo run --release --example http_load -- --addr 127.0.0.1:8080 --conns 50 --secs 5 --pipeline 1 --path /
//! ```
//!
//! Each connection writes `pipeline` `GET` requests in one write, reads the `pipeline`
//! responses (framed by `Content-Length`), records each one's latency from the write, and
//! starts over, for `secs` seconds. A failed connection counts an error and reconnects; a
//! response that is not 2xx counts an error. It prints one line:
//! `conns=C pipeline=P secs=D rps=R p50_us=X p99_us=Y errors=E`.
//!
//! The HTTP benchmark (`benches/http.rs`) drives every server it compares with this same
//! code (it includes this file as a module).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::TcpStream;

/// When a run ends.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// At this instant (the batch in flight completes).
    Deadline(Instant),
    /// After this many batches per connection.
    Batches(usize),
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Latency of every successful response, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Failed connects, I/O errors, malformed and non-2xx responses.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Successful responses per second.
    pub fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-quantile latency (0.0-1.0) in microseconds; sorts the latencies.
    pub fn percentile(&mut self, p: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        self.latencies_us.sort_unstable();
        let idx = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[idx]
    }
}

/// A set of keep-alive client connections to one server, reused across runs.
pub struct Clients {
    /// The server.
    addr: SocketAddr,
    /// One connection per client greenlet; `None` after a failure until reconnected.
    conns: Vec<Rc<std::cell::RefCell<Option<TcpStream>>>>,
}

impl Clients {
    /// Opens `n` connections to `addr` (those that fail are retried by the first run).
    pub fn connect(addr: SocketAddr, n: usize) -> Clients {
        let conns = (0..n)
            .map(|_| Rc::new(std::cell::RefCell::new(connect(addr).ok())))
            .collect();
        Clients { addr, conns }
    }

    /// Runs every connection in its own greenlet until `until`, each sending batches of
    /// `pipeline` requests for `path`.
    pub fn run(&self, pipeline: usize, path: &str, until: Until) -> Report {
        let batch: Rc<[u8]> = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr)
            .repeat(pipeline)
            .into_bytes()
            .into();
        let start = Instant::now();
        let clients: Vec<_> = self
            .conns
            .iter()
            .map(|slot| {
                let (slot, batch, addr) = (slot.clone(), batch.clone(), self.addr);
                sprout::spawn(move || client(addr, &slot, &batch, pipeline, until))
            })
            .collect();
        let mut report = Report::default();
        for c in clients {
            match c.join() {
                Ok(r) => {
                    report.latencies_us.extend(r.latencies_us);
                    report.errors += r.errors;
                }
                Err(_) => report.errors += 1,
            }
        }
        report.elapsed = start.elapsed();
        report
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    c.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(c)
}

/// One client connection's closed loop.
fn client(
    addr: SocketAddr,
    slot: &std::cell::RefCell<Option<TcpStream>>,
    batch: &[u8],
    pipeline: usize,
    until: Until,
) -> Report {
    let mut out = Report::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut batches = 0;
    loop {
        match until {
            Until::Deadline(d) if Instant::now() >= d => break,
            Until::Batches(n) if batches >= n => break,
            _ => {}
        }
        batches += 1;
        let mut conn = slot.borrow_mut();
        let c = match &mut *conn {
            Some(c) => c,
            None => match connect(addr) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    out.errors += 1;
                    drop(conn);
                    sprout::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let start = Instant::now();
        if exchange(c, batch, pipeline, &mut buf, start, &mut out).is_err() {
            out.errors += 1;
            *conn = None;
        }
    }
    out
}

/// Sends one batch and reads its `pipeline` responses.
fn exchange(
    c: &mut TcpStream,
    batch: &[u8],
    pipeline: usize,
    buf: &mut [u8],
    start: Instant,
    out: &mut Report,
) -> io::Result<()> {
    c.write_all(batch)?;
    let (mut pos, mut end, mut answered) = (0, 0, 0);
    while answered < pipeline {
        match parse_response(&buf[pos..end]) {
            Some(Ok((status, len))) => {
                pos += len;
                answered += 1;
                if (200..300).contains(&status) {
                    let us = start.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    out.latencies_us.push(us);
                } else {
                    out.errors += 1;
                }
                continue;
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        if pos > 0 {
            buf.copy_within(pos..end, 0);
            end -= pos;
            pos = 0;
        }
        if end == buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response too large",
            ));
        }
        match c.read(&mut buf[end..])? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => end += n,
        }
    }
    if pos != end {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unasked-for bytes",
        ));
    }
    Ok(())
}

/// The status and total length of the response at the start of `buf`; `None` until it is
/// all there. Only `Content-Length` framing is understood.
fn parse_response(buf: &[u8]) -> Option<io::Result<(u16, usize)>> {
    let head_len = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let bad = |what| Some(Err(io::Error::new(io::ErrorKind::InvalidData, what)));
    let head = &buf[..head_len];
    let status = match head.get(9..12).map(std::str::from_utf8) {
        Some(Ok(s)) if head.starts_with(b"HTTP/1.") => match s.parse::<u16>() {
            Ok(n) => n,
            Err(_) => return bad("bad status line"),
        },
        _ => return bad("bad status line"),
    };
    let mut length = None;
    for line in head.split(|b| *b == b'\n') {
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            let digits = std::str::from_utf8(&line[15..]).unwrap_or("").trim();
            length = digits.parse::<usize>().ok();
        }
    }
    let Some(length) = length else {
        return bad("response without Content-Length");
    };
    (buf.len() >= head_len + length).then_some(Ok((status, head_len + length)))
}

/// The command line.
struct Args {
    /// The server's address (`--addr`).
    addr: String,
    /// Concurrent connections, one greenlet each (`--conns`).
    conns: usize,
    /// How long to run (`--secs`).
    secs: u64,
    /// Requests per write (`--pipeline`).
    pipeline: usize,
    /// The path requested (`--path`).
    path: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: String::from("127.0.0.1:8080"),
        conns: 50,
        secs: 5,
        pipeline: 1,
        path: String::from("/"),
    };
    let mut args = args::Args::new("http_load", USAGE);
    while let Some(flag) = args.next_arg() {
        match flag.as_str() {
            "--addr" => a.addr = args.value(&flag),
            "--conns" => a.conns = args.number(&flag, 1, MAX_CONNS),
            "--secs" => a.secs = args.number(&flag, 0, MAX_SECS),
            "--pipeline" => a.pipeline = args.number(&flag, 1, MAX_PIPELINE),
            "--path" => a.path = args.value(&flag),
            other => args.unknown(other),
        }
    }
    if !a.path.starts_with('/') {
        args.fail(format_args!("--path must start with /, not {:?}", a.path));
    }
    a
}

const USAGE: &str =
    "http_load [--addr HOST:PORT] [--conns N] [--secs S] [--pipeline N] [--path /P]";
/// The most client connections.
const MAX_CONNS: usize = 1_000_000;
/// The most requests per write.
const MAX_PIPELINE: usize = 10_000;
/// The longest run, in seconds (a day).
const MAX_SECS: u64 = 86_400;

fn usage(why: &str) -> ! {
    args::Args::new("http_load", USAGE).fail(why)
}

#[path = "support/args.rs"]
mod args;

fn main() {
    let args = parse_args();
    let addr = args
        .addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage(&format!("cannot resolve {}", args.addr)));
    let clients = Clients::connect(addr, args.conns);
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let mut report = clients.run(args.pipeline, &args.path, Until::Deadline(deadline));
    let (p50, p99) = (report.percentile(0.50), report.percentile(0.99));
    println!(
        "conns={} pipeline={} secs={} rps={} p50_us={p50} p99_us={p99} errors={}",
        args.conns,
        args.pipeline,
        args.secs,
        report.rps() as u64,
        report.errors
    );
}
