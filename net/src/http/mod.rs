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
//! `Date` header formatted once per second, and limits with the right answer and the
//! connection closed afterwards: `400` malformed or ambiguous framing (no request
//! smuggling), `408` slow head or body, `413` body too large, `417` unknown expectation,
//! `431` head too large or too many headers, `501` unsupported transfer coding, `500` a
//! panicking handler. The limits are set on a [`Builder`]. The connection state machine is
//! documented in the `conn` module's source; the framing rules in `head`'s.
//!
//! # Implementation
//!
//! A [`Server`] is a [`StreamServer`](crate::StreamServer) whose connection handler runs the
//! state machine. Everything on the hot path is reused per connection: the read buffer
//! (the request and its headers are slices of it), the output buffer, the header table. A
//! `Response::text("...")` of a static string allocates nothing, and a batch of pipelined
//! responses is one `send`.
//!
//! # Cost
//!
//! Measured on `examples/http_hello.rs` under `examples/http_load.rs` (loopback, 2 cores),
//! syscalls per request counted with `perf stat` on the syscall tracepoints (and confirmed
//! with `strace -c -f`): without pipelining, 2.03 at 50 connections and at 256 (one
//! `recvfrom`, one `sendto`, and 0.03 of an `epoll_wait`; a short read means the socket is
//! drained, so no read ends in `EAGAIN`); with 16 requests pipelined per write, 0.127 (one
//! `recvfrom` and one `sendto` per 16 requests). `benches/http.rs` compares requests per
//! second with hyper and may_minihttp on the same load.

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
