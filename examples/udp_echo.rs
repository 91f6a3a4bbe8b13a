//! A UDP echo server on `DatagramServer` (gevent's `DatagramServer`): every datagram is
//! handled in a greenlet of its own and sent back to its sender with `send_to`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example udp_echo -- --addr 127.0.0.1:9000
//! ```
//!
//! It prints `listening on ADDR` (the address actually bound, so `--addr 127.0.0.1:0` works)
//! and serves until killed. Try `echo hello | nc -u -w1 127.0.0.1 9000`.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use sprout::net::{DatagramServer, UdpSocket};

#[path = "support/args.rs"]
mod args;

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:9000");
    let mut args = args::Args::new("udp_echo", "udp_echo [--addr HOST:PORT]");
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--addr" => addr = args.value(&arg),
            other => args.unknown(other),
        }
    }
    let server =
        DatagramServer::bind(&addr, echo).map_err(args::context(format!("cannot bind {addr}")))?;
    println!("listening on {}", server.local_addr());
    io::stdout().flush()?;
    server.serve_forever()
}

fn echo(data: &[u8], peer: SocketAddr, socket: &UdpSocket) {
    if let Err(e) = socket.send_to(data, peer) {
        eprintln!("udp_echo: cannot answer {peer}: {e}");
    }
}
