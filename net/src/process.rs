//! Child processes that park only the calling greenlet: `std::process` look-alikes (gevent's
//! `gevent.subprocess`).
//!
//! ```
//! use sprout::process::Command;
//!
//! let out = Command::new("echo").arg("hi").output()?; // parks this greenlet only
//! assert_eq!(out.stdout, b"hi\n");
//! assert!(out.status.success());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Protocol
//!
//! - **Spawning** is std's (`std::process::Command::spawn`: the same search of `PATH`, the
//!   same `ErrorKind::NotFound` for a missing program). The child's pipes are made
//!   non-blocking and registered with the calling thread's reactor: [`ChildStdin`],
//!   [`ChildStdout`] and [`ChildStderr`] park the calling greenlet instead of blocking;
//!   `Stdio::from(pipe)` makes one of them another command's stdio (pipelines), as in std.
//!   The `fork`+`exec` itself runs on the hub thread (see [`Command::spawn`] for its cost).
//! - **Waiting parks on a pidfd** (`pidfd_open`, Linux 5.3+), registered with the reactor
//!   when the child is spawned; it becomes readable when the child exits, and the waiter then
//!   reaps exactly that pid with `waitpid(pid, WNOHANG)`. No `SIGCHLD` handler exists, and no
//!   process sprout did not spawn is ever reaped: a `std::process::Child` beside sprout's keeps
//!   its own exit status.
//! - **Who reaps.** Whoever waits ([`Child::wait`], [`Child::try_wait`],
//!   [`Child::wait_timeout`] once it returns a status). If a [`Child`] is dropped before its
//!   status was collected (dropped unwaited, or its waiting greenlet was killed), it reaps
//!   what has already exited at once, and otherwise hands the process to a *reaper greenlet*
//!   on the same hub, which parks on the pidfd and reaps it when it exits: no zombie is left
//!   behind. That greenlet waits on an fd, so while it lives the hub never reports LoopExit
//!   (a thread's root code blocking forever waits for the child instead). A child whose
//!   reaper greenlet cannot run (the thread exits, and its hub with it, before the child
//!   does; or no greenlet can be spawned) is handed to a process-wide reaper thread, started
//!   on first use, which polls the pidfds it holds and reaps each process when it exits. Unlike std, dropping a running child does not leave a zombie; like std,
//!   it does not kill the child.
//! - **Threads.** A [`Child`] belongs to the thread that spawned it (`!Send`), like sprout's
//!   sockets.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sprout_runtime::reactor::{Interest, Registration};

use crate::fd_stream::FdStream;
use crate::sys;

pub use std::process::{ExitStatus, Output, Stdio};

/// A process builder, `std::process::Command` with cooperative waits and pipes.
pub struct Command {
    /// The std builder every setting goes to.
    inner: std::process::Command,
    /// Whether stdin, stdout and stderr were configured (for `output`'s defaults).
    configured: [bool; 3],
}

impl Command {
    /// A command running `program` (searched in `PATH` unless it contains a `/`), with no
    /// arguments, the parent's environment and working directory, and inherited stdio.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Configures the child's stdin (`Stdio::piped()` makes [`Child::stdin`]).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.configured[0] = true;
        self.inner.stdin(cfg);
        self
    }

    /// Configures the child's stdout (`Stdio::piped()` makes [`Child::stdout`]).
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.configured[1] = true;
        self.inner.stdout(cfg);
        self
    }

    /// Configures the child's stderr (`Stdio::piped()` makes [`Child::stderr`]).
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.configured[2] = true;
        self.inner.stderr(cfg);
        self
    }

    /// Puts the child in process group `pgroup` (`setpgid(0, pgroup)` before `exec`, as
    /// std's `CommandExt::process_group`): 0 makes it the leader of a new group whose id is
    /// its pid, so [`Child::kill_group`] can stop it together with everything it started (a
    /// shell's own children, which otherwise keep running, and keep its pipes open, when only
    /// the shell is killed). A new group is no longer the terminal's foreground group:
    /// Ctrl-C no longer reaches it.
    ///
    /// ```no_run
    /// let mut child = sprout::process::Command::new("sh")
    ///     .args(["-c", "sleep 5 & sleep 5"])
    ///     .process_group(0)
    ///     .spawn()?;
    /// if child.wait_timeout(std::time::Duration::from_secs(1))?.is_none() {
    ///     child.kill_group()?; // sh and both sleeps
    ///     child.wait()?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`spawn`](Self::spawn) fails with `setpgid`'s error (`EPERM` for a group of another
    /// session, `ESRCH`/`EPERM` for a group that does not exist).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        std::os::unix::process::CommandExt::process_group(&mut self.inner, pgroup);
        self
    }

    /// The program's name as given.
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// Starts the child process.
    ///
    /// `fork` and `exec` run synchronously on the hub thread (std's spawn): no other greenlet
    /// of the hub runs meanwhile. One spawn took a median of about 0.6 ms, and about 1.7 ms
    /// each when 300 were spawned at once (a 0.5 s stall of the hub), on a loaded 2-core
    /// machine (usertry report). Spawning many children from one hub in a burst stalls it
    /// accordingly; spread the spawns over several hubs if that matters.
    ///
    /// # Errors
    /// As `std::process::Command::spawn` (`ErrorKind::NotFound` for a missing program,
    /// `PermissionDenied` for one that is not executable); `Unsupported` on kernels without
    /// `pidfd_open` (before Linux 5.3), after killing and reaping the child just started.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let inner = self.inner.spawn()?;
        Child::new(inner)
    }

    /// Runs the command to its end and returns its exit status; stdio is inherited unless
    /// configured. Parks only the calling greenlet.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        child.wait()
    }

    /// Runs the command to its end, collecting its stdout and stderr (read concurrently, so
    /// neither pipe fills up), and parks only the calling greenlet meanwhile. As in std, stdin
    /// defaults to null and stdout and stderr to piped; unlike std, these defaults stay set
    /// on this `Command` for later calls.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn); a read error on a pipe; as [`Child::wait`].
    pub fn output(&mut self) -> io::Result<Output> {
        if !self.configured[0] {
            self.stdin(Stdio::null());
        }
        if !self.configured[1] {
            self.stdout(Stdio::piped());
        }
        if !self.configured[2] {
            self.stderr(Stdio::piped());
        }
        let child = self.spawn()?;
        child.wait_with_output()
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a configured std builder. Its stdio settings count as configured for
    /// [`Command::output`] only when made through this type.
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            configured: [false; 3],
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// A running or exited child process (`std::process::Child`'s look-alike). Its waits park
/// the calling greenlet on a pidfd; see the [module docs](self) for who reaps it.
pub struct Child {
    /// The std child. INVARIANT: `Some` until `Drop` hands it to a reaper.
    inner: Option<std::process::Child>,
    /// The pidfd, registered with this thread's reactor.
    pidfd: Option<Registration>,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
    /// The child's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    fn new(mut inner: std::process::Child) -> io::Result<Child> {
        let pidfd = match sys::pidfd_open(inner.id() as libc::pid_t).and_then(Registration::new) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = inner.kill();
                let _ = inner.wait();
                return Err(e);
            }
        };
        let mut pipes = || -> io::Result<_> {
            Ok((
                inner.stdin.take().map(|p| wrap(p.into())).transpose()?,
                inner.stdout.take().map(|p| wrap(p.into())).transpose()?,
                inner.stderr.take().map(|p| wrap(p.into())).transpose()?,
            ))
        };
        let (stdin, stdout, stderr) = match pipes() {
            Ok(p) => p,
            Err(e) => {
                // No `Child` will own it: do not leave a zombie behind (as above).
                let _ = inner.kill();
                let _ = inner.wait();
                return Err(e);
            }
        };
        Ok(Child {
            inner: Some(inner),
            pidfd: Some(pidfd),
            status: None,
            stdin: stdin.map(ChildStdin),
            stdout: stdout.map(ChildStdout),
            stderr: stderr.map(ChildStderr),
        })
    }

    fn std(&mut self) -> &mut std::process::Child {
        self.inner
            .as_mut()
            .expect("a Child holds its process until dropped")
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.inner
            .as_ref()
            .expect("a Child holds its process until dropped")
            .id()
    }

    /// Sends `SIGKILL` to the child (it still has to be waited for). Does nothing if it was
    /// already reaped.
    ///
    /// # Errors
    /// As `std::process::Child::kill`.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std().kill()
    }

    /// Sends `SIGKILL` to the process group whose id is the child's pid: the child and every
    /// process it started that stayed in its group. For a child spawned with
    /// [`Command::process_group(0)`](Command::process_group). Works after the child itself
    /// has been reaped, as long as a member of the group is left. The child still has to be
    /// waited for.
    ///
    /// # Errors
    /// The OS error `ESRCH` if no such group exists: the child was not made a group leader
    /// (see [`Command::process_group`]), or every member has exited.
    pub fn kill_group(&mut self) -> io::Result<()> {
        let pgid = libc::pid_t::try_from(self.id())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sprout: pid out of range"))?;
        sys::kill(-pgid, libc::SIGKILL)
    }

    /// The exit status if the child has exited (reaping it), `None` if it still runs. Never
    /// parks.
    ///
    /// # Errors
    /// The `waitpid` error.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let s = self.std().try_wait()?;
        self.status = s;
        Ok(s)
    }

    /// Closes the child's stdin (if piped, so a child reading it sees EOF, as std does), then
    /// parks the calling greenlet until the child exits, and returns its status.
    ///
    /// # Errors
    /// The `waitpid` error. A kill or `Timeout` unwinds as from every blocking call; the
    /// child is then reaped by the reaper when the `Child` is dropped (module docs).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        match self.wait_until(None)? {
            Some(s) => Ok(s),
            None => unreachable!("a wait without deadline returns a status"),
        }
    }

    /// Like [`wait`](Self::wait), giving up after `timeout` (a hub timer): `Ok(None)` if the
    /// child still runs then (it is not killed).
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        drop(self.stdin.take());
        self.wait_until(sprout_runtime::time::deadline_after(timeout))
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            let pidfd = self.pidfd.as_ref().expect("a running Child has its pidfd");
            pidfd.clear_ready(Interest::Read);
            match pidfd.wait(Interest::Read, deadline) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut && deadline.is_some() => {
                    return self.try_wait();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for the child while collecting its piped stdout and stderr (concurrently, in a
    /// second greenlet for stderr), closing its stdin first.
    ///
    /// # Errors
    /// A read error on a pipe; as [`wait`](Self::wait).
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let err_reader = self.stderr.take().map(|mut e| {
            sprout_runtime::spawn(move || {
                let mut v = Vec::new();
                e.read_to_end(&mut v).map(|_| v)
            })
        });
        let mut stdout = Vec::new();
        if let Some(mut o) = self.stdout.take() {
            o.read_to_end(&mut stdout)?;
        }
        let stderr = match err_reader {
            Some(h) => h
                .join()
                .map_err(|e| io::Error::other(format!("sprout: reading stderr: {e:?}")))??,
            None => Vec::new(),
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Ok(Some(_)) = self.try_wait() {
            return;
        }
        let (Some(inner), pidfd) = (self.inner.take(), self.pidfd.take()) else {
            return;
        };
        reap_later(inner, pidfd);
    }
}

/// Hands a child that still runs to a reaper (see the module docs).
fn reap_later(inner: std::process::Child, pidfd: Option<Registration>) {
    let pid = inner.id();
    let mut inner = inner;
    let mut pidfd = pidfd;
    if sprout_runtime::hub::may_park() {
        if let Some(fd) = &pidfd {
            // If the thread exits before the greenlet has reaped the child, the thread's
            // exit hands it to the process-wide reaper thread.
            crate::reaper::track(pid, fd.as_fd());
        }
        // Shared with the reaper, so a failed spawn hands the child back here.
        let slot = std::rc::Rc::new(std::cell::RefCell::new(Some((inner, pidfd))));
        let mine = slot.clone();
        let spawned = sprout_runtime::Builder::new()
            .name(format!("reaper of process {pid}"))
            .spawn(move || {
                let taken = mine.borrow_mut().take();
                if let Some((inner, pidfd)) = taken {
                    let mut child = Child {
                        inner: Some(inner),
                        pidfd,
                        status: None,
                        stdin: None,
                        stdout: None,
                        stderr: None,
                    };
                    if child.wait().is_ok() {
                        crate::reaper::untrack(pid);
                    }
                }
            });
        if spawned.is_ok() {
            return;
        }
        crate::reaper::untrack(pid);
        // The closure is gone with the failed spawn; the child is still in the slot.
        let back = slot.borrow_mut().take();
        match back {
            Some((i, p)) => {
                pidfd = p;
                inner = i;
            }
            None => return,
        }
    }
    let fd = match pidfd {
        Some(reg) => Ok(reg.into_fd()),
        None => sys::pidfd_open(pid as libc::pid_t),
    };
    match fd {
        Ok(fd) => {
            drop(inner);
            crate::reaper::hand_off(fd);
        }
        // No pidfd (out of fds): a short-lived thread blocks in waitpid instead.
        Err(_) => {
            let _ = std::thread::Builder::new()
                .name(format!("sprout reaper of {pid}"))
                .spawn(move || {
                    let _ = inner.wait();
                });
        }
    }
}

/// Waits for process `pid`, a child of this process made some other way (by
/// [`sprout::fork`](crate::fork::fork), say), parking only the calling greenlet on a pidfd,
/// and reaps it. Never touches any other child.
///
/// # Errors
/// `ESRCH` if no process `pid` exists; `ECHILD` if it is not a child of this process (or was
/// already reaped); `Unsupported` before Linux 5.3. A kill unwinds as from every blocking
/// call, leaving the process unreaped.
pub fn wait_pid(pid: u32) -> io::Result<ExitStatus> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sprout: pid out of range"))?;
    let pidfd = Registration::new(sys::pidfd_open(pid)?)?;
    loop {
        if let Some(raw) = sys::try_reap(pid)? {
            return Ok(ExitStatus::from_raw(raw));
        }
        pidfd.clear_ready(Interest::Read);
        pidfd.wait(Interest::Read, None)?;
    }
}

fn wrap(fd: OwnedFd) -> io::Result<FdStream> {
    FdStream::new(fd)
}

macro_rules! child_pipe {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(FdStream);

        impl $name {
            /// Restores blocking mode and hands the pipe back, e.g. to pass it to another
            /// command as its stdio (`Stdio::from(fd)`).
            ///
            /// # Errors
            /// If the fd's flags cannot be changed.
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                self.0.into_inner()
            }

            /// Bounds each read or write on the pipe (a hub timer; `TimedOut` when it fires).
            ///
            /// # Errors
            /// A zero duration.
            pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                self.0.set_read_timeout(timeout)?;
                self.0.set_write_timeout(timeout)
            }
        }

        impl From<$name> for Stdio {
            /// Makes the pipe another command's stdio, as std's `Stdio::from(ChildStdout)`
            /// does (pipelines: one child's stdout as the next one's stdin). The pipe gets its
            /// blocking mode back, and this process's copy is closed once the command has
            /// been spawned, so the reader sees EOF when the writer exits.
            fn from(pipe: $name) -> Stdio {
                Stdio::from(pipe.0.into_inner_lossy())
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0.as_raw_fd()).finish()
            }
        }
    };
}

child_pipe!(
    /// The write end of a child's stdin; writes park the calling greenlet.
    ChildStdin
);
child_pipe!(
    /// The read end of a child's stdout; reads park the calling greenlet.
    ChildStdout
);
child_pipe!(
    /// The read end of a child's stderr; reads park the calling greenlet.
    ChildStderr
);

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.read_vectored(bufs)
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.read_vectored(bufs)
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.as_ref().map(|c| c.id()))
            .field("status", &self.status)
            .finish()
    }
}
