//! A blocking-style HTTP/1.1 server on `httparse` (the role gevent's `pywsgi` plays): one
//! greenlet per connection, and a handler that is an ordinary function which may block.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use sprout::net::http::{Response, Server};
//! use sprout::net::TcpStream;
//!
//! let server = Server::bind("127.0.0.1:0", |req| match req.path() {
//!     "/" => Response::text("Hello, World!"),
//!     _ => Response::new(404),
//! })?;
//! server.start()?;
//!
//! let mut client = TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut answer = String::new();
//! client.read_to_string(&mut answer)?; // the server greenlets run while this waits
//! server.stop(Duration::from_secs(1));
//! let (head, body) = answer.split_once("\r\n\r\n").unwrap();
//! println!("{}\n{body}", head.lines().next().unwrap());
//! assert!(head.starts_with("HTTP/1.1 200 OK"));
//! assert_eq!(body, "Hello, World!");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Output:
//!
//! ```text
//! HTTP/1.1 200 OK
//! Hello, World!
//! ```
//!
//! What it does: HTTP/1.1 keep-alive and HTTP/1.0 (keep-alive on request), pipelining
//! (every buffered request is answered in order, the responses written in one batch),
//! request bodies by `Content-Length` or chunked ([`Body`] is a `Read`), responses with a
//! length or streamed chunked ([`Response::stream`]), `HEAD`, `Expect: 100-continue`, a
//! `Date` header formatted once per second, an optional access log ([`Builder::access_log`],
//! Common Log Format or combined, buffered), `CONNECT` tunnels on request
//! ([`Builder::connect`], [`Response::tunnel`]), and limits with the right answer and the
//! connection closed afterwards: `400` malformed or ambiguous framing (no request
//! smuggling) or a missing, repeated or invalid `Host`, `408` slow head or body, `413` body
//! too large, `414` target too long, `417` unknown expectation, `431` head or trailers too
//! large or too many header lines, `501` unsupported transfer coding or `CONNECT`, `500` a
//! panicking handler. The limits are set on a [`Builder`]. The connection state machine is
//! documented in the `conn` module's source; the framing, target and `Host` rules in
//! `head`'s; the trailer rules in `chunked`'s.
//!
//! # Conformance (RFC 9112, RFC 9110, and nginx where they leave room)
//!
//! - `Host`: an HTTP/1.1 request without it, any request with two, or one whose value is
//!   not `host[:port]` (reg-name, IPv4, `[IPv6]`; no userinfo, no spaces) is `400` and the
//!   connection closes. HTTP/1.0 may omit it.
//! - Targets: origin-form; absolute-form (`GET http://x/a HTTP/1.1`) is routed by its path
//!   ([`Request::path`] is `/a`) and its authority wins over `Host`
//!   ([`Request::authority`]); authority-form only for `CONNECT`; `*` only for `OPTIONS`.
//! - `CONNECT` is `501` and closes unless [`Builder::connect`] lets it through; a `2xx` to
//!   it never carries `Content-Length`, `Transfer-Encoding` or a body.
//! - A body sent along with `Expect: 100-continue` (the client did not wait) is drained like
//!   any other: the connection is kept and a request pipelined after it is answered.
//! - A body the handler did not read: what is already buffered is dropped and the
//!   connection kept; otherwise the response goes out at once with `Connection: close` and
//!   the rest is read and dropped under a total deadline and a byte cap
//!   ([`Builder::discard_timeout`], [`Builder::discard_max`]; nginx's lingering close).
//! - `Content-Length` may have leading zeros.
//! - Chunk size lines and trailers have their own limits ([`Builder::max_chunk_line`],
//!   [`Builder::max_trailer_bytes`]), independent of the head's; trailer fields are
//!   validated like header fields (`400` and close otherwise: the class of gevent's
//!   CVE-2023-41419).
//! - Out of file descriptors (`EMFILE`, `ENFILE` on accept), idle keep-alive connections
//!   are closed, oldest first, so new clients are served
//!   ([`StreamServer::on_fds_exhausted`](crate::StreamServer::on_fds_exhausted)).
//!
//! # Implementation
//!
//! A [`Server`] is a [`StreamServer`](crate::StreamServer) whose connection handler runs the
//! state machine. Everything on the hot path is reused: the read buffer and the header
//! table per connection (the request and its headers are slices of the buffer), output
//! buffers per thread (a connection waiting for input lends its empty one to a
//! last-in-first-out spare list, so the next connection to answer writes into a buffer
//! still in the CPU cache). A `Response::text("...")` of a static string allocates nothing,
//! and a batch of pipelined responses is one `send`. Waiting between requests arms no
//! timer: a housekeeping greenlet per server closes connections idle past the idle timeout
//! (and writes the access log).
//!
//! # Cost
//!
//! Measured on `examples/http_hello.rs` under `examples/http_load.rs` (loopback, 2 cores),
//! syscalls per request counted with `perf stat` on the syscall tracepoints (and confirmed
//! with `strace -c -f`): without pipelining, 2.03 at 50 connections and at 256 (one
//! `recvfrom`, one `sendto`, and 0.03 of an `epoll_wait`; a short read means the socket is
//! drained, so no read ends in `EAGAIN`); with 16 requests pipelined per write, 0.127 (one
//! `recvfrom` and one `sendto` per 16 requests). `benches/http.rs` compares requests per
//! second and per server CPU-second with hyper and may_minihttp on the same load.

mod access_log;
mod body;
mod chunked;
mod conn;
mod date;
mod head;
mod request;
mod response;
mod server;
mod tunnel;
mod writer;

pub use access_log::LogFormat;
pub use body::Body;
pub use request::{Headers, Request, Version};
pub use response::{Response, ResponseBody};
pub use server::{Builder, Server};
pub use tunnel::Tunnel;
pub use writer::BodyWriter;
