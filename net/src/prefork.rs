//! Pre-fork workers, gunicorn's model (and socketserver's `ForkingMixIn` grown up): a master
//! process binds the listener, forks N workers that each serve it on their own hub(s),
//! restarts a worker that dies, and stops everything gracefully on `SIGTERM` or `SIGINT`.
//!
//! ```no_run
//! use std::time::Duration;
//! use sprout::net::http::{Response, Server};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
//! sprout::net::prefork::Workers::new(4)
//!     .threads(1)
//!     .grace(Duration::from_secs(10))
//!     .run(listener, |listener| {
//!         Server::builder()
//!             .listener(listener, |_req| Response::text("hi"))?
//!             .serve_until_signal(Duration::from_secs(10))
//!     })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Protocol
//!
//! - **Master.** [`Workers::run`] takes the bound listener and never accepts on it. It forks
//!   the workers with [`sprout::fork`](crate::fork::fork), then blocks the calling thread in
//!   `poll` on a signal pipe (signal-hook's, for `SIGTERM` and `SIGINT`) and on one pidfd per
//!   worker. Call it from `main` before starting threads or greenlets: every worker is a copy
//!   of the master at the moment of its fork.
//! - **Workers.** Each runs `serve` once per hub thread ([`Workers::threads`], default 1;
//!   with 1 it runs on the worker's main thread), each call with its own clone of the
//!   listening socket as a [`crate::TcpListener`]; the worker's copy of the master's
//!   listener is closed first, so a worker holds the socket only through those clones.
//!   `serve` should serve until `SIGTERM` and then stop gracefully, which is what
//!   `StreamServer::serve_until_signal` and `http::Server::serve_until_signal` do. A worker
//!   exits with status 0 once every `serve` has returned `Ok`, 1 otherwise. The master
//!   blocks `SIGTERM` and `SIGINT` across each fork, and the new worker removes the master's
//!   signal routes before unblocking them, so a signal sent to a worker never reaches the
//!   master's pipe; until `serve` installs its own handlers a worker has the default actions
//!   (a `SIGTERM` then simply terminates it).
//! - **Restarts.** The master reaps a worker that exits (its pidfd turns readable) and forks
//!   a replacement. A worker that lived at least [`HEALTHY`] is replaced at once; each
//!   quicker death doubles the delay before its replacement (100 ms up to [`MAX_BACKOFF`]),
//!   so a crash loop does not spin. Each death is reported on stderr.
//! - **Graceful stop.** On the first `SIGTERM` or `SIGINT` the master closes its copy of the
//!   listener, cancels pending restarts and sends `SIGTERM` to every worker; the workers stop
//!   accepting (once every copy of the listening socket is closed, new connections are
//!   refused) and finish their requests in flight. Workers still alive after the grace period
//!   ([`Workers::grace`], default 10 s) get `SIGKILL`. When all are reaped, `run` returns
//!   `Ok(())`, so `main` exits 0.
//! - **The master dies.** Each worker asks the kernel for `SIGTERM` when its master dies
//!   (`prctl(PR_SET_PDEATHSIG)`, and a `getppid()` check right after for a master that died
//!   during the fork), so workers never outlive it: after a `kill -KILL` of the master they
//!   stop gracefully and free the port. `SIGHUP` is not a reload signal here (gunicorn's
//!   is): the master does not handle it, so its default action terminates the master (a
//!   closed terminal or ssh session does this) and the workers then get `SIGTERM` and stop
//!   gracefully, without the master's grace-period `SIGKILL`. The death signal follows the
//!   *thread* that forked the worker: call [`Workers::run`] from a thread that lives as long
//!   as the master (`main`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::signal::Route;
use crate::sys;
use crate::tcp::TcpListener;

/// A worker that lived at least this long is replaced without delay.
pub const HEALTHY: Duration = Duration::from_secs(1);

/// The longest delay before replacing a worker that keeps dying young.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The first delay before replacing a worker that died young.
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// How long the master waits for workers it killed with `SIGKILL` to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The signals that stop the master and its workers.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

/// A pre-fork master's settings (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct Workers {
    /// Worker processes to keep running.
    workers: usize,
    /// Hub threads per worker.
    threads: usize,
    /// How long workers get to finish after a stop signal.
    grace: Duration,
}

/// The master's record of one worker slot.
struct Slot {
    /// The worker process, if one runs in this slot.
    pid: Option<libc::pid_t>,
    /// Its pidfd, readable once it has exited.
    pidfd: Option<OwnedFd>,
    /// When it was forked.
    started: Instant,
    /// When to fork a replacement, if one is due.
    restart_at: Option<Instant>,
    /// The delay used for the last early death (0 after a healthy one).
    backoff: Duration,
}

impl Workers {
    /// `workers` worker processes, one hub thread each, a 10 s grace period.
    pub fn new(workers: usize) -> Workers {
        Workers {
            workers,
            threads: 1,
            grace: Duration::from_secs(10),
        }
    }

    /// Hub threads per worker (each runs `serve` with its own listener clone).
    pub fn threads(mut self, threads: usize) -> Workers {
        self.threads = threads;
        self
    }

    /// How long workers get, after a stop signal, before they are killed.
    pub fn grace(mut self, grace: Duration) -> Workers {
        self.grace = grace;
        self
    }

    /// Runs the master: forks the workers, keeps them running, and returns `Ok(())` after a
    /// graceful stop on `SIGTERM` or `SIGINT` (see the [module docs](self)). Blocks the
    /// calling thread. In the workers it never returns: they exit when `serve` is done.
    ///
    /// # Errors
    /// `InvalidInput` for zero workers or threads; an error making the signal pipe or forking
    /// the first workers (workers already forked are then killed and reaped). Later fork
    /// failures are reported on stderr and retried with back-off.
    pub fn run<S>(self, listener: std::net::TcpListener, serve: S) -> io::Result<()>
    where
        S: Fn(TcpListener) -> io::Result<()> + Sync,
    {
        if self.workers == 0 || self.threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sprout: Workers needs at least one worker and one thread per worker",
            ));
        }
        let (sig_read, sig_write) = sys::pipe()?;
        let routes = STOP_SIGNALS
            .iter()
            .map(|&sig| Route::new(sig, sig_read.as_raw_fd(), sig_write.try_clone()?))
            .collect::<io::Result<Vec<_>>>()?;
        drop(sig_write);
        let mut master = Master {
            cfg: self,
            listener: Some(listener),
            sig_read,
            routes,
            slots: Vec::new(),
        };
        master.supervise(&serve)
    }
}

/// The master's state.
struct Master {
    /// The settings.
    cfg: Workers,
    /// The listener, until the stop signal closes it.
    listener: Option<std::net::TcpListener>,
    /// The stop signals' routes to the pipe (dropped before the read end they name).
    routes: Vec<Route>,
    /// Read end of the stop-signal pipe.
    sig_read: OwnedFd,
    /// One per worker.
    slots: Vec<Slot>,
}

impl Master {
    fn supervise<S>(&mut self, serve: &S) -> io::Result<()>
    where
        S: Fn(TcpListener) -> io::Result<()> + Sync,
    {
        for _ in 0..self.cfg.workers {
            let mut slot = Slot {
                pid: None,
                pidfd: None,
                started: Instant::now(),
                restart_at: None,
                backoff: Duration::ZERO,
            };
            if let Err(e) = self.start(&mut slot, serve) {
                self.slots.push(slot);
                self.kill_all();
                return Err(e);
            }
            self.slots.push(slot);
        }
        let mut deadline: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let wake_at = match deadline {
                Some(d) => Some(d),
                None => self.slots.iter().filter_map(|s| s.restart_at).min(),
            };
            let timeout = wake_at.map(|t| t.saturating_duration_since(now));
            let mut fds = vec![libc::pollfd {
                fd: self.sig_read.as_raw_fd(),
                events: 0,
                revents: 0,
            }];
            let mut owners = Vec::new();
            for (i, s) in self.slots.iter().enumerate() {
                if let Some(fd) = &s.pidfd {
                    fds.push(libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: 0,
                        revents: 0,
                    });
                    owners.push(i);
                }
            }
            sys::poll_read(&mut fds, timeout)?;
            if fds[0].revents != 0 {
                drain(&self.sig_read);
                if deadline.is_none() {
                    deadline = Some(Instant::now() + self.cfg.grace);
                    self.begin_stop();
                }
            }
            for (k, &i) in owners.iter().enumerate() {
                if fds[k + 1].revents != 0 {
                    self.reap(i, deadline.is_some());
                }
            }
            let now = Instant::now();
            if let Some(d) = deadline {
                if self.slots.iter().all(|s| s.pid.is_none()) {
                    return Ok(());
                }
                if now >= d {
                    eprintln!("sprout: prefork: grace period over; killing the workers left");
                    self.kill_all();
                    return Ok(());
                }
                continue;
            }
            for i in 0..self.slots.len() {
                if self.slots[i].restart_at.is_some_and(|t| t <= now) {
                    let mut slot = std::mem::replace(
                        &mut self.slots[i],
                        Slot {
                            pid: None,
                            pidfd: None,
                            started: now,
                            restart_at: None,
                            backoff: Duration::ZERO,
                        },
                    );
                    slot.restart_at = None;
                    if let Err(e) = self.start(&mut slot, serve) {
                        slot.backoff = next_backoff(slot.backoff);
                        eprintln!(
                            "sprout: prefork: cannot fork a worker: {e}; retrying in {:?}",
                            slot.backoff
                        );
                        slot.restart_at = Some(now + slot.backoff);
                    }
                    self.slots[i] = slot;
                }
            }
        }
    }

    /// Forks a worker into `slot`.
    fn start<S>(&mut self, slot: &mut Slot, serve: &S) -> io::Result<()>
    where
        S: Fn(TcpListener) -> io::Result<()> + Sync,
    {
        if self.listener.is_none() {
            return Err(io::Error::other("sprout: prefork: the listener is closed"));
        }
        // Blocked across the fork, so a stop signal reaches the child only once it has
        // dropped the master's routes (and the master's route only in the master).
        sys::mask_signals(&STOP_SIGNALS, true)?;
        let master = std::process::id();
        let forked = crate::fork::fork();
        if let Ok(0) = forked {
            // A worker must not outlive its master (killed by SIGKILL, or by SIGHUP's default
            // action): the kernel sends it SIGTERM, a graceful stop, when the master dies. If
            // the master died before this line, the parent is already someone else.
            // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and changes only this
            // process's own settings; getppid cannot fail.
            let orphan = unsafe {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                libc::getppid() as u32 != master
            };
            if orphan {
                std::process::exit(0);
            }
            // The master's routes go (closing the child's copies of the write ends), so the
            // stop signals get their default action back until `serve` installs handlers.
            self.routes.clear();
            for s in &mut self.slots {
                s.pidfd = None;
            }
            let _ = sys::mask_signals(&STOP_SIGNALS, false);
            let listener = self.listener.take().expect("checked above");
            let code = match worker(listener, self.cfg.threads, serve) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("sprout: prefork: worker {}: {e}", std::process::id());
                    1
                }
            };
            std::process::exit(code);
        }
        let _ = sys::mask_signals(&STOP_SIGNALS, false);
        let pid = forked? as libc::pid_t;
        slot.pid = Some(pid);
        slot.started = Instant::now();
        slot.pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(e) => {
                let _ = sys::kill(pid, libc::SIGKILL);
                return Err(e);
            }
        };
        Ok(())
    }

    /// The first stop signal: close the listener, cancel restarts, `SIGTERM` every worker.
    fn begin_stop(&mut self) {
        drop(self.listener.take());
        for s in &mut self.slots {
            s.restart_at = None;
            if let Some(pid) = s.pid {
                let _ = sys::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// Slot `i`'s pidfd turned readable: reap it and, unless stopping, schedule its
    /// replacement.
    fn reap(&mut self, i: usize, stopping: bool) {
        let slot = &mut self.slots[i];
        let Some(pid) = slot.pid else { return };
        let status = match sys::try_reap(pid) {
            Ok(Some(st)) => st,
            Ok(None) => return,
            Err(e) => {
                eprintln!("sprout: prefork: waitpid({pid}): {e}");
                0
            }
        };
        slot.pid = None;
        slot.pidfd = None;
        if stopping {
            return;
        }
        let lived = slot.started.elapsed();
        slot.backoff = if lived >= HEALTHY {
            Duration::ZERO
        } else {
            next_backoff(slot.backoff)
        };
        slot.restart_at = Some(Instant::now() + slot.backoff);
        eprintln!(
            "sprout: prefork: worker {pid} exited ({}) after {lived:?}; replacing it in {:?}",
            describe(status),
            slot.backoff
        );
    }

    /// Kills every live worker and reaps it (bounded by [`KILL_WAIT`]).
    fn kill_all(&mut self) {
        for s in &self.slots {
            if let Some(pid) = s.pid {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
        }
        let until = Instant::now() + KILL_WAIT;
        while Instant::now() < until {
            let mut left = false;
            for s in &mut self.slots {
                if let Some(pid) = s.pid {
                    match sys::try_reap(pid) {
                        Ok(None) => left = true,
                        _ => {
                            s.pid = None;
                            s.pidfd = None;
                        }
                    }
                }
            }
            if !left {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn next_backoff(prev: Duration) -> Duration {
    (prev * 2).clamp(MIN_BACKOFF, MAX_BACKOFF)
}

/// Empties the signal pipe.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    let file = std::mem::ManuallyDrop::new(
        // SAFETY: borrowed for this call only; ManuallyDrop keeps the File from closing it.
        unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd.as_raw_fd()) },
    );
    while let Ok(1..) = io::Read::read(&mut &*file, &mut buf) {}
}

/// A raw wait status in words.
fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// A worker's life: `serve` on each hub thread with its own listener clone.
fn worker<S>(listener: std::net::TcpListener, threads: usize, serve: &S) -> io::Result<()>
where
    S: Fn(TcpListener) -> io::Result<()> + Sync,
{
    if threads == 1 {
        return serve(TcpListener::from_std(listener)?);
    }
    // Clones first, then the original closes: the worker holds the socket only through the
    // hubs' listeners, which close when they stop.
    let clones = (0..threads)
        .map(|_| listener.try_clone().map(Some))
        .collect::<io::Result<Vec<_>>>()?;
    drop(listener);
    let clones = Mutex::new(clones);
    let results = sprout_runtime::Hubs::new(threads).run(|i| {
        let l = clones.lock().map_err(|_| io::Error::other("poisoned"))?[i]
            .take()
            .expect("one listener per hub");
        serve(TcpListener::from_std(l)?)
    })?;
    results.into_iter().collect()
}
