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

use std::io::{self, Write};

use sprout::net::http::{Request, Response, Server};

fn main() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:8080");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("usage: http_hello [--addr HOST:PORT]  (unknown argument {other:?})");
                std::process::exit(2);
            }
        }
    }

    let server = Server::bind(&addr, hello)?;
    println!("listening on {}", server.local_addr());
    io::stdout().flush()?;
    server.serve_forever()
}

fn hello(req: &mut Request<'_>) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/json" => Response::json(r#"{"message":"Hello, World!"}"#),
        _ => Response::new(404)
            .with_content_type("text/plain; charset=utf-8")
            .with_body("Not Found\n"),
    }
}
