//! A closed-loop load generator for the echo server, itself built on sprout: every client
//! connection is a greenlet, all on one OS thread.
//!
//! Run the server, then the load:
//!
//! ```text
//! cargo run --release --example echo -- --addr 127.0.0.1:7788
//! cargo run --release --example echo_load -- --addr 127.0.0.1:7788 --conns 100 --size 64 --secs 5
//! ```
//!
//! Each connection writes `size` bytes, reads them back, checks them and records the round
//! trip's latency, over and over for `secs` seconds. It prints one line:
//! `conns=C size=S secs=D rps=R p50_us=X p99_us=Y errors=E`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use sprout::net::TcpStream;

/// The command line.
struct Args {
    /// The echo server's address (`--addr`).
    addr: String,
    /// Concurrent client connections, one greenlet each (`--conns`).
    conns: usize,
    /// Bytes per message (`--size`).
    size: usize,
    /// How long to run (`--secs`).
    secs: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: String::from("127.0.0.1:7788"),
        conns: 100,
        size: 64,
        secs: 5,
    };
    let mut args = args::Args::new("echo_load", USAGE);
    while let Some(flag) = args.next_arg() {
        match flag.as_str() {
            "--addr" => a.addr = args.value(&flag),
            "--conns" => a.conns = args.number(&flag, 1, MAX_CONNS),
            "--size" => a.size = args.number(&flag, 1, MAX_SIZE),
            "--secs" => a.secs = args.number(&flag, 0, MAX_SECS),
            other => args.unknown(other),
        }
    }
    a
}

const USAGE: &str = "echo_load [--addr HOST:PORT] [--conns N] [--size BYTES] [--secs S]";
/// The most client connections.
const MAX_CONNS: usize = 1_000_000;
/// The largest message, in bytes (16 MiB).
const MAX_SIZE: usize = 16 << 20;
/// The longest run, in seconds (a day).
const MAX_SECS: u64 = 86_400;

fn usage(why: &str) -> ! {
    args::Args::new("echo_load", USAGE).fail(why)
}

#[path = "support/args.rs"]
mod args;

/// What one client connection measured.
struct Outcome {
    /// Latency of every completed round trip, in microseconds.
    latencies_us: Vec<u32>,
    /// Failed connects, I/O errors and corrupted echoes.
    errors: u64,
}

fn client(addr: SocketAddr, size: usize, deadline: Instant) -> Outcome {
    let mut out = Outcome {
        latencies_us: Vec::new(),
        errors: 0,
    };
    let msg: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut buf = vec![0u8; size];
    let mut conn = None;
    while Instant::now() < deadline {
        let c = match &mut conn {
            Some(c) => c,
            None => match connect(addr) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    out.errors += 1;
                    sprout::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let start = Instant::now();
        let ok = c.write_all(&msg).and_then(|()| c.read_exact(&mut buf));
        match ok {
            Ok(()) if buf == msg => out
                .latencies_us
                .push(start.elapsed().as_micros().min(u32::MAX as u128) as u32),
            _ => {
                out.errors += 1;
                conn = None;
            }
        }
    }
    out
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    c.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(c)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn main() {
    let args = parse_args();
    let addr = args
        .addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage(&format!("cannot resolve {}", args.addr)));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.secs);
    let size = args.size;
    let clients: Vec<_> = (0..args.conns)
        .map(|_| sprout::spawn(move || client(addr, size, deadline)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for c in clients {
        match c.join() {
            Ok(o) => {
                latencies.extend(o.latencies_us);
                errors += o.errors;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let rps = (latencies.len() as f64 / elapsed) as u64;
    println!(
        "conns={} size={} secs={} rps={} p50_us={} p99_us={} errors={}",
        args.conns,
        args.size,
        args.secs,
        rps,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        errors
    );
}
