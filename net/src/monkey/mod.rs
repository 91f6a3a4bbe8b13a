//! Monkey patching (the `monkey` feature): `std::net`, `std::thread::sleep` and third-party
//! blocking crates become cooperative, gevent's `monkey.patch_all()`.
//!
//! ```no_run
//! use std::io::{Read, Write};
//!
//! sprout::monkey::patch_all();
//! let listener = std::net::TcpListener::bind("127.0.0.1:7788")?;
//! loop {
//!     let (mut conn, _) = listener.accept()?; // runs the hub while it waits
//!     sprout::spawn(move || -> std::io::Result<()> {
//!         let mut buf = [0u8; 4096];
//!         loop {
//!             let n = conn.read(&mut buf)?; // parks this greenlet only
//!             if n == 0 {
//!                 return Ok(());
//!             }
//!             conn.write_all(&buf[..n])?;
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! With the feature on, sprout defines the libc functions listed in [`PATCHED`], the way
//! C++ libgo and Tencent's libco do: the program's calls (std's, and those of any crate or C
//! library in the process) reach sprout first, and sprout calls the real libc function,
//! found with `dlsym(RTLD_NEXT)`. Until [`patch_all`] runs they only forward (one relaxed
//! atomic load each), so linking the feature changes nothing by itself.
//!
//! # Who passes through when
//!
//! After `patch_all`, a hook **cooperates** (parks only the calling greenlet while the call
//! would block) when all of these hold:
//!
//! - the caller may park on its thread's hub: it is a greenlet made with `spawn`, or the root
//!   code (`main`, a thread's closure) of a thread that has a hub (gevent's choice: a blocking
//!   call from `main` runs the hub loop until it can continue). `patch_all` creates the
//!   calling thread's hub. The hub loop's own work (timer actions, link callbacks) and
//!   explicit `greenlet::Greenlet`s never park;
//! - the process is not a child forked after `patch_all`;
//! - for socket calls: the fd is a **managed** socket the program believes blocking, and the
//!   call does not ask for `MSG_DONTWAIT`.
//!
//! Everywhere else the hook **passes through**: other threads, calls before `patch_all`,
//! the hub itself (which calls `epoll_wait` directly and, through the `polling` crate,
//! rustix's raw syscalls, none of which are hooked), fds the hooks do not manage, and
//! `poll`/`select` with a zero timeout. A managed socket that a non-cooperating caller
//! believes blocking still behaves as blocking: on `EAGAIN` the hook waits in a real `poll`
//! with the socket's timeout and retries.
//!
//! # The fd state machine
//!
//! A process-wide table keeps, per fd number, what the program believes (`fdtable`):
//!
//! - **unmanaged** (the start, and every fd the hooks did not create: inherited fds, files,
//!   pipes, sockets made before `patch_all`): every hook forwards. Their `O_NONBLOCK` is never
//!   touched; it lives in the open file description, shared with other processes.
//! - **managed**: a socket created after `patch_all` through `socket`, `socketpair`,
//!   `accept` or `accept4`. The kernel fd is non-blocking; the table keeps the program's own
//!   `O_NONBLOCK` (from `SOCK_NONBLOCK`, `fcntl(F_SETFL)`, `ioctl(FIONBIO)`; `F_GETFL` reports
//!   it) and its `SO_RCVTIMEO`/`SO_SNDTIMEO` (recorded by `setsockopt`, which still forwards
//!   them, so `getsockopt` stays truthful). A socket the program made non-blocking gets
//!   `EAGAIN` as before; a blocking one gets the blocking emulation, whose timeout is a hub
//!   timer (or a `poll` timeout) that ends the call with `EAGAIN`, as the kernel does.
//! - `dup`, `dup2`, `dup3` and `fcntl(F_DUPFD*)` copy the entry to the new number (later
//!   changes through one number are not seen through the other, unlike the kernel's shared
//!   flags). `close`, and `dup2` over an open number, first drop the calling thread's
//!   registration of the fd, which wakes a greenlet parked on it with `EBADF`, then clear the
//!   entry, then call the real function. Every change starts a new generation of the entry,
//!   so state left by a reused number is recognised as stale.
//!
//! Inside a greenlet, the first wait on a managed socket registers it once with the thread's
//! reactor (edge-triggered, as sprout's own sockets); the registration lives until `close`.
//! From then on the hooks follow the reactor's readiness protocol: try the call, on `EAGAIN`
//! park until the next event, and skip a read that the last short TCP read proved would fail.
//!
//! # Kill, timeouts, errno
//!
//! A hook never unwinds (it sits below an `extern "C"` frame that std calls as nounwind;
//! unwinding there aborts the process). A kill or an expired `Timeout` scope that reaches a
//! greenlet parked in a socket hook, `poll` or `select` makes the call fail with `ECANCELED`
//! (not `EINTR`, which std's `read_exact` and `write_all` retry); a sleep hook returns early
//! instead (see `sleep`'s docs: std asserts on any other error). The kill flag stays set, so
//! the greenlet's next plain sprout blocking call raises it; its further hooked socket waits
//! fail with `ECANCELED` at once. A greenlet parked in a hook when its thread exits is leaked,
//! never unwound. `errno` is read right after each real call and set exactly as libc would,
//! and a greenlet never changes thread, so the thread's `errno` location is stable across a
//! park.
//!
//! # Name resolution
//!
//! `getaddrinfo` makes its own socket calls inside glibc, where no hook sees them, so its
//! hook runs the real call on the thread pool instead: a greenlet resolving a name (std's
//! `ToSocketAddrs`, or any crate) parks while the hub serves the others (see `dns`).
//!
//! # What stays blocking
//!
//! - Regular files, pipes, ttys and every fd the hooks did not create (no hook makes them
//!   non-blocking); `open` is not hooked.
//! - A managed socket handed to another process (a child's stdio, or an fd received there
//!   with `SCM_RIGHTS`) is non-blocking in the kernel: call [`unmanage`] on it first.
//! - `std::sync` (Mutex, Condvar, mpsc, `JoinHandle::join`), `waitpid`, `epoll_wait`, `splice`,
//!   `sendfile`, and anything made with raw syscalls (rustix's linux_raw backend, mio's epoll):
//!   no hook sees them. Use sprout's own sync types.
//! - `connect` on a Unix socket whose listener's backlog is full fails with `EAGAIN` instead
//!   of waiting; `recv` with `MSG_WAITALL` may return early; `writev` and `sendmsg` may return
//!   a short count (POSIX allows it; `send`, `sendto` and `write` on stream sockets send
//!   everything, as blocking sockets do).
//! - One reader and one writer greenlet per socket at a time: a second greenlet parking in
//!   the same direction fails with `EBUSY` (gevent's `ConcurrentObjectUseError`). A socket
//!   closed by another thread does not wake a greenlet of this thread parked on it.
//! - Signal handlers must not make blocking calls on managed sockets (they would park the
//!   greenlet they interrupted).
//!
//! # The variadic functions
//!
//! `fcntl`, `fcntl64` and `ioctl` are variadic in C, and stable Rust cannot define a variadic
//! function. They are defined here with a fixed third argument (`c_long` for `fcntl`,
//! `*mut c_void` for `ioctl`), which is call-compatible on x86-64 Linux, the only target
//! sprout builds for (`sprout-runtime` refuses others with `compile_error!`): the System V
//! ABI passes the first six integer or pointer arguments in the same registers whether or not
//! the callee is variadic, and the `%al` vector-register count a variadic caller sets is read
//! only by variadic callees. Every command these functions take has an integer or pointer
//! third argument (or none, when the register holds garbage the real function ignores too).
//! The real functions are called through variadic function pointers, which stable Rust
//! supports. A C shim (a `cc` build script) would be the portable alternative; it buys
//! nothing on the one supported target and would add a C toolchain to the build.

mod blocking;
mod bookkeeping;
mod cancel;
mod child;
mod dns;
mod epoll;
mod fdtable;
mod futex;
mod io;
mod patch;
mod poll;
mod real;
mod sleep;

pub use bookkeeping::unmanage;
pub use patch::{is_patched, patch_all, PATCHED};
