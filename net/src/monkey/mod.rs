//! Monkey patching (the `monkey` feature): `std::net`, `std::thread::sleep`, `std::sync`'s
//! locks, event loops inside blocking calls, child waits and third-party blocking crates
//! become cooperative, gevent's `monkey.patch_all()`.
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
//! the hub itself (its `epoll_wait` reaches the hook, which forwards it: the hub loop never
//! may park; its other calls go through the `polling` crate's raw syscalls, which no hook
//! sees), fds the hooks do not manage, and
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
//! # Cancellation
//!
//! A hook never unwinds (it sits below an `extern "C"` frame that std calls as nounwind;
//! unwinding there aborts the process), so a kill (`sprout::JoinHandle::kill`) or an expired
//! `Timeout` scope (`sprout::Timeout`, `sprout::with_timeout`) that reaches a greenlet
//! inside a hooked call becomes an error, and this contract keeps libraries from misusing what is left:
//!
//! - **The errno is `ECONNABORTED`** (std's `ErrorKind::ConnectionAborted`). Typical code
//!   treats it as fatal for the connection: pools discard the connection (r2d2's
//!   `has_broken`, the redis and mysql clients' "connection dropped" checks), and retry
//!   loops keyed on `Interrupted`, `WouldBlock` or `TimedOut` do not retry it. `EINTR` would
//!   be retried at once by std's `read_exact`/`write_all`; `EAGAIN`/`ETIMEDOUT` read as an
//!   ordinary timeout after which libraries go on using the connection; `ECANCELED` (used
//!   before) maps to an uncategorised error. (`epoll_wait` reports `EINTR` instead: event
//!   loops such as tokio's treat any other error as fatal for the whole runtime, and poll
//!   again after `EINTR`.)
//! - **A cut exchange shuts its socket down.** A read, write or connect on a stream socket
//!   that a kill or expired scope fails is followed by `shutdown(SHUT_RDWR)` before the call
//!   returns: the request may have been sent and its reply not read, so no later call may
//!   read that reply as the answer to its own request (later reads see end-of-file, writes
//!   `EPIPE`). Listening sockets and datagram sockets are left alone.
//! - **While a kill or an expired scope is pending** (reported by a hook but not yet raised,
//!   because the code swallowed the error): `connect` fails at once (no new connection is
//!   opened), every hooked blocking call on a managed socket, `poll`, `select`, `waitpid`
//!   fails at once with `ECONNABORTED` (a stream socket is shut down as above), and the sleep
//!   hooks and `epoll_wait` yield once and return (sleeps report success: `std::thread::sleep`
//!   asserts on any error but `EINTR`, which makes it sleep again). Library retry loops
//!   therefore end quickly instead of storming a server, and a loop that swallows every
//!   error still lets the hub run. Futex waits are the exception: `Mutex::lock` cannot fail,
//!   so they park until the lock (or notification) comes, then the interrupt is raised at the
//!   next ordinary blocking call.
//! - **`with_timeout` and `Timeout::catch` report `Elapsed`** whenever their deadline fired
//!   inside the scope, whatever the library turned the hook's error into (even a value).
//! - **`join` reports a greenlet that a kill reached as killed** (`JoinError::Killed`) even
//!   if its code swallowed the error and returned normally; `kill()` returns once it has
//!   finished.
//!
//! The kill (or scope) flag stays set until raised: the greenlet's next plain sprout
//! blocking call (a `sprout::sleep`, a sprout lock, `yield_now`) unwinds as usual. A greenlet
//! parked in a hook when its thread exits is leaked, never unwound. `errno` is read right
//! after each real call and set exactly as libc would, and a greenlet never changes thread,
//! so the thread's `errno` location is stable across a park.
//!
//! # Futex waits: locks, condition variables, channels
//!
//! `std::sync` and most lock crates wait through `syscall(SYS_futex, ...)`, which the
//! `syscall` hook sees (every other syscall number is forwarded after one compare). A futex
//! wait from a caller that may park parks that greenlet in a process-wide table keyed by the
//! futex address; a wake from anywhere (a greenlet of this hub or another, a plain thread)
//! is forwarded to the kernel and also wakes the parked greenlets, through their hubs'
//! cross-thread queues. The table re-checks the futex word after registering, under the
//! lock a waker takes, as the kernel does, so no wake-up is lost. Measured on Linux x86-64,
//! glibc 2.36, with a logging `syscall` interposer and `strace -f -e futex`:
//!
//! | operation | futex calls, all through libc's `syscall` unless noted |
//! | --- | --- |
//! | `std::sync::Mutex` contended lock / unlock | `FUTEX_WAIT_BITSET_PRIVATE` (no timeout) / `FUTEX_WAKE_PRIVATE, 1` |
//! | `Condvar::wait`, `wait_timeout` / `notify_one`, `notify_all` | `FUTEX_WAIT_BITSET_PRIVATE` (absolute `CLOCK_MONOTONIC` deadline) / `FUTEX_WAKE_PRIVATE, 1` or `i32::MAX` |
//! | `RwLock`, `Once`/`OnceLock`, `Barrier` | the same two operations |
//! | `thread::park`/`unpark`, `mpsc` blocking `recv`, crossbeam-channel, crossbeam `Parker` | the same two operations |
//! | `parking_lot` `Mutex`, `Condvar` | `FUTEX_WAIT_PRIVATE` (relative timeout) / `FUTEX_WAKE_PRIVATE, 1` |
//! | `JoinHandle::join` | `pthread_join`: glibc's own `FUTEX_WAIT_BITSET\|FUTEX_CLOCK_REALTIME` on the thread id, **not** through `syscall` |
//!
//! None of them uses `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE` or `FUTEX_WAKE_OP`; the hook still
//! treats those as wakes of every greenlet parked on either address (spurious wake-ups are
//! allowed by the futex contract).
//!
//! # Event loops and child processes
//!
//! `epoll_wait`, `epoll_pwait` and `epoll_pwait2` from a greenlet park it until the epoll fd
//! is readable or the timeout passes, then make the real call with a zero timeout: a tokio
//! current-thread runtime (mio calls libc's `epoll_wait`) inside a blocking call lets the
//! hub run the other greenlets while it waits. sprout's own hub calls libc's `epoll_wait`
//! too (`sprout-runtime`'s `sys::epoll_wait`), from the hub loop, which never may park: the
//! hook forwards it after checking that (the `polling` crate's own calls are raw syscalls).
//!
//! `waitpid`, `wait4` and `waitid` for one specific child park the greenlet on a pidfd
//! (`pidfd_open`, Linux 5.3+) and then reap with `WNOHANG`, so `Child::wait`,
//! `Command::status` and `Command::output` park only the calling greenlet.
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
//! - `splice`, `sendfile`, and anything made with raw syscalls (rustix's linux_raw backend,
//!   mio's epoll when built on rustix): no hook sees them.
//! - **Per-thread parkers.** parking_lot keeps its `ThreadData` (the futex word and the
//!   links of its wait queues) in a thread-local that every greenlet of the thread shares.
//!   A greenlet parked there would let a second greenlet of the same thread enqueue the same
//!   `ThreadData` again and corrupt parking_lot's queues, so a futex wait on an address in
//!   the calling thread's static TLS block blocks the OS thread, as before patching:
//!   parking_lot locks (and r2d2's pool, built on them) still block the thread while
//!   contended. Use sprout's own locks between greenlets, or keep such pools off the hub
//!   (`sprout::spawn_blocking`).
//! - `std::thread::park` (so `mpsc`'s blocking `recv` and crossbeam-channel) has one parker
//!   word per OS thread too (on the heap, so it parks cooperatively): one greenlet per thread
//!   at a time may wait in it; woken from a plain thread or another hub, it works.
//! - tokio marks the thread as "inside a runtime" in a thread-local: while one greenlet
//!   waits inside `block_on`, a second greenlet of the same thread entering `block_on` gets
//!   tokio's panic "Cannot start a runtime from within a runtime". Give each concurrent
//!   runtime user its own thread (`sprout::Hubs`, `sprout::spawn_blocking`), or turn the
//!   epoll hooks off with [`set_cooperative_epoll`]`(false)` so such calls run one after
//!   another, as before patching.
//! - `JoinHandle::join` (glibc's internal futex), waits for any child (`waitpid(-1)`) or a
//!   process group, waits that ask for stop/continue events, and kernels without
//!   `pidfd_open`.
//! - A futex wake made with a raw syscall reaches only OS threads; a shared (inter-process)
//!   futex woken from another process is noticed by a parked greenlet within 10 ms (it
//!   re-reads the word).
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
//! `fcntl`, `fcntl64`, `ioctl` and `syscall` are variadic in C, and stable Rust cannot define
//! a variadic function. They are defined here with fixed arguments (a `c_long` third argument
//! for `fcntl`, `*mut c_void` for `ioctl`, six further `c_long`s for `syscall`, whose sixth
//! the caller passes in its first stack slot whether or not the callee is variadic; a caller
//! passing fewer leaves unrelated bits there, in mapped memory, which the kernel ignores as it
//! ignores the unused registers glibc forwards), which is call-compatible on x86-64 Linux, the only target
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
pub(crate) use patch::resume_after_fork;
pub use patch::{is_patched, patch_all, set_cooperative_epoll, PATCHED};
