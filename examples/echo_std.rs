//! The echo server written with `std::net` only, made cooperative by monkey patching: after
//! `sprout::monkey::patch_all()`, std's blocking `accept`, `read` and `write` park only the
//! calling greenlet, so one OS thread serves every client (gevent's `monkey.patch_all()`
//! followed by a plain `socketserver`-style loop).
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --features monkey --example echo_std -- --addr 127.0.0.1:7788
//! ```
//!
//! It prints `listening on ADDR` (the address actually bound, so `--addr 127.0.0.1:0` works)
//! and serves until killed, exactly like `examples/echo.rs`. Load it with
//! `cargo run --release --example echo_load -- --addr 127.0.0.1:7788`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

#[path = "support/args.rs"]
mod args;

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    // First: only sockets created after this are cooperative.
    sprout::monkey::patch_all();

    let mut addr = String::from("127.0.0.1:7788");
    let mut args = args::Args::new("echo_std", "echo_std [--addr HOST:PORT]");
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--addr" => addr = args.value(&arg),
            other => args.unknown(other),
        }
    }

    let listener =
        TcpListener::bind(&addr).map_err(args::context(format!("cannot bind {addr}")))?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;

    loop {
        // Blocks this (root) code only: the hub runs the connection greenlets meanwhile.
        match listener.accept() {
            Ok((conn, _peer)) => {
                sprout::spawn(move || handle(conn));
            }
            Err(e) => {
                // Out of fds (EMFILE) or a connection reset before accept: keep serving.
                eprintln!("accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
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
