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

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use sprout::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:7788");
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--threads needs a positive number")
            }
            other => {
                eprintln!(
                    "usage: echo [--addr HOST:PORT] [--threads N]  (unknown argument {other:?})"
                );
                std::process::exit(2);
            }
        }
    }

    if threads == 1 {
        let listener = TcpListener::bind(&addr)?;
        announce(listener.local_addr()?)?;
        serve(listener)
    } else {
        sprout::net::serve_reuse_port(threads, &addr, announce, serve)
    }
}

fn announce(addr: SocketAddr) -> io::Result<()> {
    println!("listening on {addr}");
    io::stdout().flush()
}

fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((conn, _peer)) => {
                sprout::spawn(move || handle(conn));
            }
            Err(e) => {
                // Out of fds (EMFILE) or a connection reset before accept: keep serving.
                eprintln!("accept: {e}");
                sprout::sleep(Duration::from_millis(10));
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
