//! The plaintext and JSON "hello" of web benchmarks on sprout's HTTP server: one OS thread,
//! one greenlet per connection, blocking-style handlers.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example http_hello -- --addr 127.0.0.1:8080
//! ```
//!
//! It prints `listening on ADDR` (the address actually bound, so `--addr 127.0.0.1:0` works)
//! and serves until killed: `/` answers `Hello, World!` as `text/plain`, `/json` answers
//! `{"message":"Hello, World!"}`, anything else 404. Try `curl -i 127.0.0.1:8080/json`, or
//! load it with
//! `cargo run --release --example http_load -- --addr 127.0.0.1:8080 --conns 50 --secs 5`.
//!
//! `--threads N` (default 1) runs N hub threads, each serving its own `SO_REUSEPORT`
//! listener on the same port. With the default the process has exactly one OS thread.
//!
//! `/sleep/<ms>` sleeps that long (a hub timer) and answers `slept <ms>`: a slow request.
//! `SIGTERM` or `SIGINT` stops the server gracefully: it stops accepting, lets requests in
//! flight finish for up to `--grace SECS` (default 10), then exits 0.
//!
//! `--workers N` runs gunicorn-style pre-fork workers (`sprout::net::prefork`): a master binds,
//! prints `listening on ADDR` once, and forks N worker processes that each serve the listener
//! on `--threads` hubs; a worker that dies is replaced; `SIGTERM` to the master stops all of
//! them gracefully within the grace period.
//!
//! ```text
//! cargo run --release --example http_hello -- --addr 127.0.0.1:8080 --workers 4 --grace 10
//! kill -TERM <master pid>
//! ```
//!
//! `--access-log` logs every request to stderr in Common Log Format (with the duration in
//! seconds appended), buffered and written every second.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use sprout::net::http::{LogFormat, Request, Response, Server};
use sprout::net::prefork::Workers;
use sprout::net::TcpListener;

#[path = "support/args.rs"]
mod args;

const USAGE: &str =
    "http_hello [--addr HOST:PORT] [--threads N] [--workers N] [--grace SECS] [--access-log]";

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:8080");
    let mut threads = 1usize;
    let mut workers = 0usize;
    let mut grace = Duration::from_secs(10);
    let mut access_log = false;
    let mut args = args::Args::new("http_hello", USAGE);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--addr" => addr = args.value(&arg),
            "--threads" => threads = args.number(&arg, 1, 1024),
            "--workers" => workers = args.number(&arg, 1, 1024),
            "--grace" => grace = args.seconds(&arg, 86_400.0),
            "--access-log" => access_log = true,
            other => args.unknown(other),
        }
    }

    let builder = move || {
        let b = Server::builder();
        if access_log {
            b.access_log(io::stderr(), LogFormat::Common)
        } else {
            b
        }
    };
    if workers > 0 {
        let listener = std::net::TcpListener::bind(&addr)
            .map_err(args::context(format!("cannot bind {addr}")))?;
        announce(listener.local_addr()?)?;
        return Workers::new(workers)
            .threads(threads)
            .grace(grace)
            .run(listener, |listener| {
                builder()
                    .listener(listener, hello)?
                    .serve_until_signal(grace)
            });
    }
    if threads == 1 {
        let server = builder()
            .bind(&addr, hello)
            .map_err(args::context(format!("cannot bind {addr}")))?;
        announce(server.local_addr())?;
        server.serve_until_signal(grace)
    } else {
        sprout::net::serve_reuse_port(threads, &addr, announce, |listener: TcpListener| {
            builder()
                .listener(listener, hello)?
                .serve_until_signal(grace)
        })
        .map_err(args::context(format!(
            "serving {addr} on {threads} threads"
        )))
    }
}

fn announce(addr: SocketAddr) -> io::Result<()> {
    println!("listening on {addr}");
    io::stdout().flush()
}

fn hello(req: &mut Request<'_>) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/json" => Response::json(r#"{"message":"Hello, World!"}"#),
        path if path.starts_with("/sleep/") => match path["/sleep/".len()..].parse::<u64>() {
            Ok(ms) => {
                sprout::sleep(Duration::from_millis(ms));
                Response::text(format!("slept {ms}"))
            }
            Err(_) => Response::new(400)
                .with_content_type("text/plain; charset=utf-8")
                .with_body("/sleep/<milliseconds>\n"),
        },
        _ => Response::new(404)
            .with_content_type("text/plain; charset=utf-8")
            .with_body("Not Found\n"),
    }
}
