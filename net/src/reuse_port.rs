//! Many hubs on one port: thread-per-core servers with `SO_REUSEPORT`.
//!
//! Every hub thread binds its own listener to the same address and accepts on it alone; the
//! kernel spreads incoming connections across the listeners. Nothing is shared between the
//! threads: each runs its own greenlets on its own hub.
//!
//! ```no_run
//! use std::io::{Read, Write};
//!
//! sprout::net::serve_reuse_port(2, "127.0.0.1:7788", |addr| {
//!     println!("listening on {addr}");
//!     Ok(())
//! }, |listener| loop {
//!     let (mut conn, _) = listener.accept()?;
//!     sprout::spawn(move || {
//!         let mut buf = [0u8; 1024];
//!         while let Ok(n @ 1..) = conn.read(&mut buf) {
//!             if conn.write_all(&buf[..n]).is_err() { break; }
//!         }
//!     });
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Barrier;

use sprout_runtime::sync::ThreadAsyncResult;
use sprout_runtime::Hubs;

use crate::resolve::ToSocketAddrs;
use crate::tcp::TcpListener;

/// Runs `serve` on `threads` hub threads, each with its own `SO_REUSEPORT` listener on `addr`
/// (port 0 picks one free port for all of them). `ready` runs once, on the first thread, with
/// the bound address after every thread has bound, which is the moment to announce it.
/// Returns when every thread's `serve` has returned: the first error, if any.
///
/// # Errors
///
/// The first error in thread order: of binding (as
/// [`TcpListener::bind_reuse_port`](crate::TcpListener::bind_reuse_port); the other threads
/// then fail with "the first listener failed"), of `ready`, or of `serve`; or the error of
/// starting the hub threads (then none runs `serve`).
///
/// # Panics
///
/// If `threads` is 0, and with the first panic of `serve` on any thread (resumed here once
/// every thread has finished).
pub fn serve_reuse_port<A, R, S>(threads: usize, addr: A, ready: R, serve: S) -> io::Result<()>
where
    A: ToSocketAddrs + Sync,
    R: Fn(SocketAddr) -> io::Result<()> + Sync,
    S: Fn(TcpListener) -> io::Result<()> + Sync,
{
    let first: ThreadAsyncResult<SocketAddr, String> = ThreadAsyncResult::new();
    let all_bound = Barrier::new(threads);
    let results = Hubs::new(threads).run(|i| -> io::Result<()> {
        let bound = if i == 0 {
            // The first thread binds the given address; the others join it on the port it got.
            let l = TcpListener::bind_reuse_port(&addr).and_then(|l| Ok((l.local_addr()?, l)));
            match &l {
                Ok((a, _)) => drop(first.set(*a)),
                Err(e) => drop(first.set_error(e.to_string())),
            }
            l.map(|(_, l)| l)
        } else {
            match first.get() {
                Ok(a) => TcpListener::bind_reuse_port(a),
                Err(e) => Err(io::Error::other(format!(
                    "the first listener failed: {e:?}"
                ))),
            }
        };
        // Every thread reaches the barrier, bound or not, so none waits forever.
        all_bound.wait();
        let listener = bound?;
        if i == 0 {
            ready(listener.local_addr()?)?;
        }
        serve(listener)
    })?;
    results.into_iter().collect()
}
