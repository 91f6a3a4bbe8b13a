//! The echo server of gevent's tutorials: a blocking-style accept loop, one greenlet per
//! connection, all on one OS thread.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example echo -- --addr 127.0.0.1:7788
//! ```
//!
//! It prints `listening on ADDR` (the address actually bound, so `--addr 127.0.0.1:0` works)
//! and serves until killed. Try it with `nc 127.0.0.1 7788`, or load it with
//! `cargo run --release --example echo_load -- --addr 127.0.0.1:7788`.
//!
//! `--threads N` (default 1) runs N hub threads, each accepting on its own `SO_REUSEPORT`
//! listener on the same port: thread-per-core, shared nothing. With the default the process
//! has exactly one OS thread.
//!
//! Out of fds (`ulimit -n` reached, `EMFILE`), it logs `accept: ERROR; backing off` once per
//! burst and waits until a connection closes or a delay passes (5 ms, doubling up to 1 s),
//! then logs `accepting again` when an accept succeeds, as `StreamServer` does; the
//! connections already open are served throughout.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use sprout::net::{TcpListener, TcpStream};
use sprout::sync::Event;

/// First delay after a failed accept; it doubles while accepts keep failing.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest delay between two accept attempts while they fail.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "echo [--addr HOST:PORT] [--threads N]";

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:7788");
    let mut threads = 1usize;
    let mut args = args::Args::new("echo", USAGE);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--addr" => addr = args.value(&arg),
            "--threads" => threads = args.number(&arg, 1, 1024),
            other => args.unknown(other),
        }
    }

    if threads == 1 {
        let listener =
            TcpListener::bind(&addr).map_err(args::context(format!("cannot bind {addr}")))?;
        announce(listener.local_addr()?)?;
        serve(listener)
    } else {
        sprout::net::serve_reuse_port(threads, &addr, announce, serve).map_err(args::context(
            format!("serving {addr} on {threads} threads"),
        ))
    }
}

fn announce(addr: SocketAddr) -> io::Result<()> {
    println!("listening on {addr}");
    io::stdout().flush()
}

fn serve(listener: TcpListener) -> io::Result<()> {
    // Set by every connection that ends: out of fds, the loop waits for one of these.
    let closed = Rc::new(Event::new());
    let mut backoff: Option<Duration> = None;
    loop {
        match listener.accept() {
            Ok((conn, _peer)) => {
                if backoff.take().is_some() {
                    eprintln!("accepting again");
                }
                let closed = closed.clone();
                sprout::spawn(move || {
                    let r = handle(conn);
                    closed.set();
                    r
                });
            }
            // The client gave up before we got to it: nothing to report.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => {
                // Out of fds (EMFILE) or another failure: log once per burst, back off.
                let delay = match backoff {
                    None => {
                        eprintln!("accept: {e}; backing off");
                        BACKOFF_MIN
                    }
                    Some(d) => (d * 2).min(BACKOFF_MAX),
                };
                backoff = Some(delay);
                closed.clear();
                let _ = closed.wait_timeout(delay);
            }
        }
    }
}

fn handle(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}
