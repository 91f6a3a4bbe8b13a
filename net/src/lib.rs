//! sprout's cooperative sockets: `std::net` and `std::os::unix::net` look-alikes whose
//! blocking calls park only the calling greenlet (gevent's `gevent.socket`).
//!
//! ```
//! use std::io::{Read, Write};
//! use sprout::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = sprout::spawn(move || -> std::io::Result<()> {
//!     let (mut conn, _) = listener.accept()?;
//!     let mut buf = [0u8; 5];
//!     conn.read_exact(&mut buf)?;
//!     conn.write_all(&buf)
//! });
//! let mut client = TcpStream::connect(addr)?; // the server greenlet runs while this waits
//! client.write_all(b"hello")?;
//! let mut echoed = String::new();
//! client.read_to_string(&mut echoed)?;
//! server.join().unwrap()?;
//! println!("{echoed}");
//! assert_eq!(echoed, "hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Output:
//!
//! ```text
//! hello
//! ```
//!
//! # Implementation
//!
//! Every socket is created non-blocking and close-on-exec and registered once with the
//! reactor of the thread that made it (edge-triggered epoll; see
//! `sprout::reactor` for the readiness protocol). Every call goes through one
//! retry loop (the `io` module): try the syscall, and on `WouldBlock` park the greenlet on
//! the fd's readiness and retry when the hub wakes it. Socket timeouts are hub timers, not
//! kernel options. Sockets belong to their thread (`!Send`). Code outside any greenlet can
//! use them too: its blocking call runs the thread's hub loop until it can continue.
//!
//! [`StreamServer`] is gevent's accept loop with a greenlet per connection, on any
//! [`Listener`] (TCP, Unix, or TLS over either), and [`http`] a blocking-style HTTP/1.1
//! server on top of it; [`DatagramServer`] is its UDP sibling. With the `tls` feature,
//! the `tls` module has TLS on rustls (`TlsStream`, `TlsListener`, and HTTPS through
//! `http::Builder::tls`). Socket options are on `socket2` (re-exported as [`socket2`]):
//! the common ones are methods of each socket type, [`TcpSocket`] sets those needed before
//! `bind` or `connect`, and `socket2::SockRef::from(&sock)` reaches the rest.
//!
//! Raw libc calls live in `sys` only. Host names are resolved on the thread pool (see
//! [`lookup_host`] and [`ToSocketAddrs`]), so a slow resolver never blocks the hub.

mod conn_stream;
mod convert;
mod datagram_server;
mod fd_stream;
pub mod fork;
mod handlers;
pub mod http;
mod io;
mod listener;
#[cfg(feature = "monkey")]
pub mod monkey;
pub mod prefork;
pub mod process;
mod reaper;
mod resolve;
mod reuse_port;
mod server;
pub mod signal;
mod socket;
mod sys;
mod tcp;
mod tcp_socket;
#[cfg(feature = "tls")]
pub mod tls;
mod udp;
mod unix;
mod wait;
mod waitable;

pub use datagram_server::DatagramServer;
pub use fd_stream::FdStream;
pub use fork::fork;
pub use listener::Listener;
pub use resolve::{lookup_host, ToSocketAddrs};
pub use reuse_port::serve_reuse_port;
pub use server::StreamServer;
pub use signal::{signal_handler, SignalHandler};
pub use socket2;
pub use tcp::{Incoming, TcpListener, TcpStream, DEFAULT_BACKLOG};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{Incoming as UnixIncoming, UnixDatagram, UnixListener, UnixStream};
pub use wait::{cancel_wait, wait_readable, wait_writable};
pub use waitable::{Readable, Writable};
