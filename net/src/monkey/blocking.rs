//! The blocking emulation: how a hook turns a real call on a non-blocking socket into the
//! blocking call the program believes it makes.
//!
//! [`Blocking::run`] runs the real call; on `EAGAIN` it waits for readiness and retries.
//! Inside a greenlet the wait parks the greenlet on this thread's hub through a per-thread
//! [`Registration`] of the fd (registered once, on the first wait, and kept until `close`);
//! anywhere else it waits in a real `poll` (pitfall 2 of MONKEY-FACTS: a plain thread must
//! still see a blocking socket). The program's `SO_RCVTIMEO`/`SO_SNDTIMEO` bound the whole
//! call and end it with `EAGAIN`, as the kernel does.

use std::cell::RefCell;
use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::time::Instant;

use sprout_runtime::reactor::{self, Interest, Registration};
use sprout_runtime::Interrupt;

use super::cancel;
use super::fdtable::{self, Timeout};
use super::patch;
use super::real;

/// This thread's registration of a managed socket. It never owns the fd: dropping it only
/// removes the fd from this thread's epoll (waking a greenlet parked on it, whose wait then
/// fails with `EBADF`).
struct Reg {
    /// The registration. INVARIANT: taken only by `drop`; its `OwnedFd` is never dropped, it
    /// is turned back into a raw fd.
    reg: ManuallyDrop<Registration>,
    /// The fd table generation it was made for; a different current generation means the
    /// number was closed and reused.
    gen: u32,
}

impl Drop for Reg {
    fn drop(&mut self) {
        // SAFETY: `reg` is not used again after this (see its invariant).
        let reg = unsafe { ManuallyDrop::take(&mut self.reg) };
        // The program owns the fd: deregister it and give up the number without closing it.
        let _ = reg.into_fd().into_raw_fd();
    }
}

thread_local! {
    /// This thread's registrations, indexed by fd number. Grown by `register`, emptied slot by
    /// slot by `forget` (from `close` and `dup2`) and when a stale entry is found.
    static REGS: RefCell<Vec<Option<Reg>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's registration of generation `gen` of `fd`, if there is one.
fn with_reg<R>(fd: c_int, gen: u32, f: impl FnOnce(&Registration) -> R) -> Option<R> {
    REGS.try_with(|regs| {
        let regs = regs.try_borrow().ok()?;
        match regs.get(usize::try_from(fd).ok()?) {
            Some(Some(r)) if r.gen == gen => Some(f(&r.reg)),
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// Drops this thread's registration of `fd`, if any (before the fd is closed or replaced).
pub(crate) fn forget(fd: c_int) {
    let Ok(idx) = usize::try_from(fd) else {
        return;
    };
    let taken = REGS
        .try_with(|regs| {
            let mut regs = regs.try_borrow_mut().ok()?;
            regs.get_mut(idx)?.take()
        })
        .ok()
        .flatten();
    // Dropped outside the borrow: deregistering wakes the greenlets parked on the fd.
    drop(taken);
}

/// Why a hook could not register a socket with the hub.
enum NotRegistered {
    /// The fd is not a socket: the table's entry was stale (its socket was closed behind the
    /// hooks' back and the number reused). The entry is now cleared.
    NotOurs,
    /// epoll refused it, or the thread is exiting: wait in a real poll instead.
    Unavailable,
}

/// Registers generation `gen` of `fd` with this thread's hub, unless done already.
fn register(fd: c_int, gen: u32) -> Result<(), NotRegistered> {
    let idx = usize::try_from(fd).map_err(|_| NotRegistered::Unavailable)?;
    if with_reg(fd, gen, |_| ()).is_some() {
        return Ok(());
    }
    // Once per fd and thread: make sure the number still holds a socket.
    let mut ty: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: valid pointers to a c_int and its length.
    let r = unsafe {
        real::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        if fdtable::generation(fdtable::state(fd)) == gen {
            fdtable::closed(fd);
        }
        return Err(NotRegistered::NotOurs);
    }
    // SAFETY: the fd is open (getsockopt just succeeded); the OwnedFd is never dropped as
    // such (see `Reg`, and the error arm below), so ownership never really moves.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let reg = match Registration::try_new(owned) {
        Ok(reg) => reg,
        Err((_, owned)) => {
            // The program owns the fd: give the number back without closing it.
            let _ = owned.into_raw_fd();
            return Err(NotRegistered::Unavailable);
        }
    };
    let reg = Reg {
        reg: ManuallyDrop::new(reg),
        gen,
    };
    let stale = REGS
        .try_with(|regs| {
            let Ok(mut regs) = regs.try_borrow_mut() else {
                return Some(reg);
            };
            if regs.len() <= idx {
                regs.resize_with((idx + 1).next_power_of_two().max(64), || None);
            }
            regs[idx].replace(reg)
        })
        .map_err(|_| NotRegistered::Unavailable)?;
    drop(stale);
    Ok(())
}

/// How one wait for readiness ended.
pub(crate) enum Waited {
    /// Worth retrying the call.
    Ready,
    /// The socket's timeout passed: the call fails with `EAGAIN`.
    TimedOut,
    /// The call fails with this errno.
    Fail(c_int),
}

/// Whether this thread's registration says a call in `interest` would fail (so the syscall
/// can be skipped and the greenlet parked at once).
#[inline]
fn known_not_ready(fd: c_int, gen: u32, interest: Interest) -> bool {
    with_reg(fd, gen, |r| !r.is_ready(interest)).unwrap_or(false)
}

/// One blocking call the program believes it makes on a managed socket: the real call runs
/// on the non-blocking fd, and on `EAGAIN` the call waits until the socket may be ready, then
/// retries. The socket's timeout bounds the whole call (including every retry of a send that
/// goes on until all is sent) and then fails it with `EAGAIN`. A kill or `Timeout` reaching a
/// parked greenlet fails it with `ECONNABORTED` (see `cancel`); a `close` from another greenlet with `EBADF`.
pub(crate) struct Blocking {
    /// The socket.
    fd: c_int,
    /// Its fd table generation when the call began.
    gen: u32,
    /// The readiness the call needs.
    interest: Interest,
    /// Which of the socket's timeouts bounds the call.
    dir: Timeout,
    /// Whether the caller may park (a greenlet, or a hub thread's root code).
    coop: bool,
    /// The call's deadline, computed at its first wait (`None` until then).
    deadline: Option<Option<Instant>>,
    /// A cancelled call shuts the socket down (a read or write on a stream socket, or a
    /// connect: see `cancel`).
    exchange: bool,
    /// The hooked libc function, for `sprout::run_info`.
    call: &'static str,
}

impl Blocking {
    /// A blocking call on socket `fd`, whose state word is `word`.
    #[inline]
    pub(crate) fn new(fd: c_int, word: u64, interest: Interest, dir: Timeout) -> Blocking {
        Blocking {
            fd,
            gen: fdtable::generation(word),
            interest,
            dir,
            coop: patch::cooperative(),
            deadline: None,
            exchange: false,
            call: "socket call",
        }
    }

    /// Names the hooked libc function (shown by `sprout::run_info` while it parks).
    #[inline]
    pub(crate) fn named(mut self, call: &'static str) -> Blocking {
        self.call = call;
        self
    }

    /// Marks the call as part of an exchange on a stream socket: cancelling it shuts the
    /// socket down.
    #[inline]
    pub(crate) fn exchange(mut self) -> Blocking {
        self.exchange = true;
        self
    }

    /// Runs `op`, the real call, until it does not fail with `EAGAIN`. Returns what `op`
    /// returned, or -1 with `errno` set.
    ///
    /// The common case stays inline: nothing says the call would fail, so it is tried, and it
    /// succeeds. Right after a syscall the branch predictors are cold, so every instruction
    /// here shows in the cost of a managed socket's call (see `benches/monkey.rs`).
    #[inline(always)]
    pub(crate) fn run(&mut self, mut op: impl FnMut() -> isize) -> isize {
        if self.coop && cancel::pending() {
            return self.cancelled();
        }
        if !(self.coop && known_not_ready(self.fd, self.gen, self.interest)) {
            let r = op();
            if r >= 0 || real::errno() != libc::EAGAIN {
                return r; // errno untouched since the call
            }
            return self.run_slow(&mut op, true);
        }
        self.run_slow(&mut op, false)
    }

    /// Fails the call under the cancellation contract (see `cancel`).
    #[cold]
    #[inline(never)]
    pub(crate) fn cancelled(&self) -> isize {
        if self.exchange {
            cancel::abort_exchange(self.fd);
        }
        real::set_errno(cancel::ERRNO);
        -1
    }

    /// The rest of [`run`](Self::run): wait, retry, until done. `failed`: the call was just
    /// tried and failed with `EAGAIN` (otherwise it was skipped as known not ready).
    #[inline(never)]
    fn run_slow(&mut self, op: &mut dyn FnMut() -> isize, mut failed: bool) -> isize {
        loop {
            if failed && self.coop {
                with_reg(self.fd, self.gen, |r| r.clear_ready(self.interest));
            }
            match self.wait() {
                Waited::Ready => {}
                Waited::TimedOut => {
                    real::set_errno(libc::EAGAIN);
                    return -1;
                }
                Waited::Fail(e) if e == cancel::ERRNO => return self.cancelled(),
                Waited::Fail(e) => {
                    real::set_errno(e);
                    return -1;
                }
            }
            let r = op();
            if r >= 0 {
                return r;
            }
            let e = real::errno();
            if e != libc::EAGAIN {
                real::set_errno(e);
                return -1;
            }
            failed = true;
        }
    }

    /// Waits once for readiness, under the call's deadline.
    pub(crate) fn wait(&mut self) -> Waited {
        let (fd, dir) = (self.fd, self.dir);
        let deadline = *self.deadline.get_or_insert_with(|| {
            fdtable::timeout(fd, dir).and_then(sprout_runtime::time::deadline_after)
        });
        if self.coop {
            sprout_runtime::run_info::hooked_call(self.call);
        }
        wait(self.fd, self.gen, self.interest, deadline, self.coop)
    }

    /// A TCP read of this call came back short: its receive queue is empty (see
    /// `Registration::drained`), so the next read parks without trying.
    #[inline]
    pub(crate) fn drained(&self) {
        if self.coop {
            with_reg(self.fd, self.gen, Registration::drained);
        }
    }
}

/// Waits until `fd` may be ready in `interest` or `deadline` passes: parks the greenlet when
/// `coop`, otherwise blocks the thread in a real `poll`.
fn wait(fd: c_int, gen: u32, interest: Interest, deadline: Option<Instant>, coop: bool) -> Waited {
    if coop {
        if let Some(w) = park(fd, gen, interest, deadline) {
            return w;
        }
        // The hub cannot wait for it: fall back to a real poll.
    }
    poll_one(fd, interest, deadline)
}

/// Parks the current greenlet until `fd` may be ready. `None`: the hub cannot wait for it
/// (epoll refused it, or nothing could ever wake the wait), so the caller blocks in a real
/// poll instead.
fn park(fd: c_int, gen: u32, interest: Interest, deadline: Option<Instant>) -> Option<Waited> {
    match register(fd, gen) {
        Ok(()) => {}
        // Not a socket any more: the program's own non-blocking fd, so EAGAIN is its answer.
        Err(NotRegistered::NotOurs) => return Some(Waited::Fail(libc::EAGAIN)),
        Err(NotRegistered::Unavailable) => return None,
    }
    match reactor::wait_fd_nounwind(fd, interest, deadline) {
        Ok(Ok(())) => Some(Waited::Ready),
        Ok(Err(Interrupt::TimedOut)) => Some(Waited::TimedOut),
        Ok(Err(Interrupt::Killed | Interrupt::Scope(_))) => Some(Waited::Fail(cancel::ERRNO)),
        Ok(Err(Interrupt::LoopExit)) => None,
        Err(_) => {
            if fdtable::generation(fdtable::state(fd)) != gen {
                // Closed by another greenlet while we waited.
                Some(Waited::Fail(libc::EBADF))
            } else if with_reg(fd, gen, |_| ()).is_none() {
                // Our registration was dropped (dup2 over the number, or sprout's own socket
                // types took the fd over): retry, re-registering if needed.
                Some(Waited::Ready)
            } else {
                // Another greenlet already waits in this direction (gevent's
                // ConcurrentObjectUseError).
                Some(Waited::Fail(libc::EBUSY))
            }
        }
    }
}

/// Blocks the thread in a real `poll` on `fd` until it may be ready in `interest` or
/// `deadline` passes (signals restart the wait, as `SA_RESTART` does for the real call).
fn poll_one(fd: c_int, interest: Interest, deadline: Option<Instant>) -> Waited {
    let events = match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let ms = timeout_ms(deadline);
        // SAFETY: one valid pollfd.
        let r = unsafe { real::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return Waited::Ready;
        }
        if r < 0 {
            let e = real::errno();
            if e == libc::EINTR {
                continue;
            }
            return Waited::Fail(e);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Waited::TimedOut;
        }
    }
}

/// `poll`'s timeout for `deadline`: milliseconds rounded up, -1 for none.
pub(crate) fn timeout_ms(deadline: Option<Instant>) -> c_int {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            left.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int
        }
    }
}
