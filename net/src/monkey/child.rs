//! Child waits: `waitpid`, `wait4` and `waitid` for one specific child park the calling
//! greenlet on a pidfd (`pidfd_open(2)`, Linux 5.3+: readable once the process exits), then
//! make the real call with `WNOHANG`. `std::process::Child::wait`, `Command::status` and
//! `Command::output`'s final wait (all `waitpid(pid, &status, 0)`) then park only the
//! calling greenlet.
//!
//! What stays blocking (the real call, blocking the OS thread), and why:
//!
//! - waiting for any child (`pid == -1`) or for a process group (`pid == 0` or `< -1`;
//!   `waitid` with `P_ALL` or `P_PGID`): there is no pidfd for "whichever child exits
//!   first", and reaping one behind the program's back would steal it from its owner;
//! - waits that also ask for stop or continue events (`WUNTRACED`, `WCONTINUED`, `WSTOPPED`):
//!   a pidfd only reports the exit;
//! - kernels without `pidfd_open` (before 5.3), and a pid that is not (or no longer) a child:
//!   the real call gives the answer.
//!
//! A kill or expired `Timeout` scope reaching the parked greenlet makes the call fail with
//! `ECONNABORTED` (see `cancel`); the child is not reaped (wait for it again, or it stays a
//! zombie until the process exits).

use std::ffi::c_int;

use libc::{id_t, idtype_t, pid_t, rusage, siginfo_t};
use sprout_runtime::reactor::{self, Interest};
use sprout_runtime::Interrupt;

use super::cancel;
use super::patch;
use super::real;

/// `P_PIDFD` (Linux 5.4): `waitid` on a pidfd.
const P_PIDFD: idtype_t = 3;

/// A pidfd, closed with the real `close` when dropped.
struct PidFd(c_int);

impl PidFd {
    /// A pidfd for `pid`, if the kernel gives one.
    fn open(pid: pid_t) -> Option<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags.
        let fd = unsafe { real::syscall(libc::SYS_pidfd_open, pid as _, 0, 0, 0, 0, 0) };
        (fd >= 0).then_some(PidFd(fd as c_int))
    }
}

impl Drop for PidFd {
    fn drop(&mut self) {
        // SAFETY: our own fd, closed once.
        unsafe { real::close(self.0) };
    }
}

/// How a park on a pidfd ended.
enum Parked {
    /// The process may have exited: try the call again.
    Ready,
    /// The call fails with this errno.
    Fail(c_int),
    /// The hub cannot wait for it: make the blocking call.
    Block,
}

/// Parks until `fd` (a pidfd) is readable.
fn park_on(fd: c_int) -> Parked {
    if cancel::pending() {
        return Parked::Fail(cancel::ERRNO);
    }
    sprout_runtime::run_info::hooked_call("waitpid");
    match reactor::wait_fd_nounwind(fd, Interest::Read, None) {
        Ok(Ok(())) => Parked::Ready,
        Ok(Err(Interrupt::Killed | Interrupt::Scope(_))) => Parked::Fail(cancel::ERRNO),
        Ok(Err(Interrupt::TimedOut | Interrupt::LoopExit)) | Err(_) => Parked::Block,
    }
}

/// The common loop: `try_now()` is the real call with `WNOHANG` (`Some(result)` once it has
/// an answer), `block()` the real call as the program made it.
fn wait_child(
    fd: c_int,
    mut try_now: impl FnMut() -> Option<c_int>,
    block: impl FnOnce() -> c_int,
) -> c_int {
    loop {
        if let Some(r) = try_now() {
            return r;
        }
        match park_on(fd) {
            Parked::Ready => {}
            Parked::Fail(e) => {
                real::set_errno(e);
                return -1;
            }
            Parked::Block => return block(),
        }
    }
}

/// Whether `waitpid`/`wait4` with these arguments may park.
fn parks(pid: pid_t, options: c_int) -> bool {
    pid > 0
        && options & (libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED) == 0
        && patch::cooperative()
}

/// Hook for `waitpid`.
///
/// # Safety
/// libc's contract for `waitpid`: `status` null or valid.
#[no_mangle]
pub unsafe extern "C" fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    // SAFETY: forwarded, with the caller's arguments.
    wait_pid_with(pid, options, |o| unsafe { real::waitpid(pid, status, o) })
}

/// `waitpid` and `wait4` for `pid`, given `call(options)`, the real call: parks on a pidfd
/// when [`parks`] says so, otherwise (or when no pidfd can be had) makes the call as given.
fn wait_pid_with(pid: pid_t, options: c_int, call: impl Fn(c_int) -> pid_t) -> pid_t {
    if !parks(pid, options) {
        return call(options);
    }
    let Some(fd) = PidFd::open(pid) else {
        return call(options);
    };
    wait_child(
        fd.0,
        || Some(call(options | libc::WNOHANG)).filter(|&r| r != 0),
        || call(options),
    )
}

/// Hook for `wait4`.
///
/// # Safety
/// libc's contract for `wait4`: `status` and `usage` null or valid.
#[no_mangle]
pub unsafe extern "C" fn wait4(
    pid: pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut rusage,
) -> pid_t {
    // SAFETY: forwarded, with the caller's arguments.
    wait_pid_with(pid, options, |o| unsafe {
        real::wait4(pid, status, o, usage)
    })
}

/// Hook for `waitid`: `P_PID` (through a pidfd of its own) and `P_PIDFD` park.
///
/// # Safety
/// libc's contract for `waitid`: `info` valid.
#[no_mangle]
pub unsafe extern "C" fn waitid(
    idtype: idtype_t,
    id: id_t,
    info: *mut siginfo_t,
    options: c_int,
) -> c_int {
    // SAFETY: forwarded, with the caller's arguments.
    let call = |o: c_int| unsafe { real::waitid(idtype, id, info, o) };
    let only_exit = options & (libc::WNOHANG | libc::WSTOPPED | libc::WCONTINUED) == 0
        && options & libc::WEXITED != 0;
    if !(only_exit && !info.is_null() && (idtype == libc::P_PID || idtype == P_PIDFD))
        || !patch::cooperative()
    {
        return call(options);
    }
    let own = if idtype == libc::P_PID {
        match PidFd::open(id as pid_t) {
            Some(fd) => Some(fd),
            None => return call(options),
        }
    } else {
        None
    };
    let fd = own.as_ref().map_or(id as c_int, |f| f.0);
    let try_now = || {
        // SAFETY: `info` is valid (the caller's contract); si_pid is zeroed so that
        // "nothing yet" can be told apart, as waitid(2) advises.
        unsafe {
            std::ptr::write_bytes(info, 0, 1);
            let r = call(options | libc::WNOHANG);
            (r != 0 || (*info).si_pid() != 0).then_some(r)
        }
    };
    wait_child(fd, try_now, || call(options))
}
