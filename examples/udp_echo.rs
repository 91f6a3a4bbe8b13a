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

use sprout::net::{DatagramServer, UdpSocket};

fn main() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:9000");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("usage: udp_echo [--addr HOST:PORT]  (unknown argument {other:?})");
                std::process::exit(2);
            }
        }
    }
    let server = DatagramServer::bind(&addr, echo)?;
    println!("listening on {}", server.local_addr());
    io::stdout().flush()?;
    server.serve_forever()
}

fn echo(data: &[u8], peer: SocketAddr, socket: &UdpSocket) {
    if let Err(e) = socket.send_to(data, peer) {
        eprintln!("udp_echo: cannot answer {peer}: {e}");
    }
}
