//! The reactor: this hub's epoll instance (through the `polling` crate) and fd readiness.
//!
//! # The fd readiness protocol
//!
//! - **Register once.** An fd is added to epoll once, edge-triggered, for both directions
//!   and for the peer's half-close (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`), when its
//!   [`Registration`] is made (socket created, accepted or converted), and deleted when the
//!   registration is dropped, before the fd is closed. No `epoll_ctl` per wait.
//! - **Per-fd record.** A slab indexed by fd number holds, per direction, a *ready bit* and
//!   one *waiter slot*, plus a generation. The epoll key is `generation << 32 | fd`; an event
//!   whose generation is not the slot's current one (a closed-and-reused fd) is ignored.
//! - **The ready bit** is false only when the last operation in that direction proved the fd
//!   not ready and no event for that direction has arrived since. Proof is an `EAGAIN`
//!   ([`Registration::clear_ready`]), or a TCP read that came back short, which means the
//!   receive queue is empty ([`Registration::drained`]) unless the peer has already half-closed
//!   (then EOF is still to be read and no further edge would announce it, so the bit stays).
//!   Registration sets both bits; every event for a direction sets its bit and wakes its
//!   waiter. Because an edge-triggered epoll reports every new arrival, a clear bit means the
//!   syscall would fail, so it is skipped.
//! - **Try first, park on `EAGAIN`.** An operation runs its syscall while the bit is set. On
//!   `EAGAIN` the caller clears the bit and calls [`Registration::wait`], which re-checks the
//!   bit (an event delivered since the caller's proof means: retry instead of parking),
//!   stores its waker in the slot and switches to the hub. When the event comes, the hub sets
//!   the bit, takes the waker and wakes it; the operation then retries its syscall.
//!   `sprout-net`'s `io` module is that loop.
//! - **One waiter per direction.** A second greenlet waiting in the same direction on the same
//!   fd gets an error at once (gevent's `ConcurrentObjectUseError`); it never steals the slot.
//! - **Close wakes waiters.** Dropping a registration while a greenlet waits on its fd wakes
//!   that greenlet, whose wait fails with "closed by another greenlet" (gevent's `EBADF`).
//!   [`cancel_wait`] (gevent's `cancel_wait`) wakes the waiters of any fd, registered or
//!   foreign, with `EBADF`; the monkey layer's `close` hook calls it. Without either, a
//!   foreign fd closed under a [`wait_fd`] is silently dropped by epoll and the wait lasts
//!   until its deadline.
//! - **Interrupts.** A wait ended by its deadline, a kill or a `Timeout` scope removes its
//!   waker from the slot first, then kill and `Timeout` unwind as everywhere else (except in
//!   [`wait_fd_nounwind`], which returns them, for the monkey layer's libc hooks). A woken
//!   waiter that is interrupted loses nothing: the event already set the ready bit.
//! - **Foreign fds.** [`wait_fd`] waits on an fd sprout does not own (gevent's `wait_read`):
//!   it uses the fd's registration if there is one, otherwise it adds the fd to epoll for the
//!   duration of the wait.
//!
//! # Polling
//!
//! The poller is created on first need. Fds are added with `epoll_ctl` on the poller's fd
//! rather than `polling`'s `add_with_mode`, which cannot ask for `EPOLLRDHUP` (needed by the
//! short-read rule above); `polling` keeps no per-fd state on Linux, so the two mix. Waiting
//! calls `epoll_wait` on the poller's fd directly: `polling`'s own `wait` re-arms a timerfd
//! and its notifier on every call (four extra syscalls), which the hub's timer queue makes
//! unnecessary. Other threads wake the hub through the reactor's own eventfd, registered
//! once (edge-triggered) under a reserved key and read directly when it fires; `polling`'s
//! notifier is never used, because consuming its event takes a `polling` `wait`, which would
//! drain and discard the pending edge-triggered events of every other fd.
//!
//! # Cost
//!
//! Measured on `examples/echo.rs` under `examples/echo_load.rs` (100 connections, 64-byte
//! messages, one loopback host with 2 cores): exactly one `recvfrom` and one `sendto` per
//! round trip, plus a share of one `epoll_wait` per loop pass. `perf stat` on the syscall
//! tracepoints counted 2.27 syscalls per round trip in total (0.27 `epoll_wait`: one pass
//! served about 3.7 round trips); under `strace -c -f`, which slows the server and so grows
//! the passes, `epoll_wait` fell to 0.01 per round trip. A short read clears the ready bit,
//! so the `EAGAIN` read that would otherwise end each handler iteration is never made.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hub::{self, Hub};
use crate::sys;
use crate::waiter::{raise, Interrupt, Waiter, Waker};

/// Events read per `epoll_wait`.
const EVENTS_CAP: usize = 1024;

/// The interest every fd is registered with.
const INTEREST: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Event bits that make a read (or accept) worth retrying.
const READ_BITS: u32 =
    (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Event bits after which reading never blocks again: the peer half-closed, or worse.
const HUP_BITS: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Event bits that make a write (or connect) worth retrying.
const WRITE_BITS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// A direction of readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Readable: data, EOF, an incoming connection, or an error.
    Read = 0,
    /// Writable: buffer space, a finished connect, or an error.
    Write = 1,
}

impl Interest {
    fn verb(self) -> &'static str {
        match self {
            Interest::Read => "read from",
            Interest::Write => "write to",
        }
    }
}

/// Who registered a slot's fd with epoll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Owner {
    /// Nobody: the fd is not in epoll (as far as this reactor knows).
    #[default]
    Free,
    /// A [`Registration`], which deletes it when dropped.
    Registration,
    /// [`wait_fd`] calls on a foreign fd; the number of them in progress. The last one out
    /// deletes it.
    Temp(u32),
}

/// Readiness of one direction of one fd.
#[derive(Default)]
struct Direction {
    /// False only when the last operation proved the fd not ready and no event came since
    /// (see the module docs). Set by events and registration, cleared by operations.
    ready: bool,
    /// The greenlet parked on this direction, if any; taken by the event that wakes it.
    waiter: Option<Waker>,
    /// A waiter woken by [`cancel_wait`]: its wait fails with `EBADF`. Set by `cancel`,
    /// cleared by that waiter when it runs (or by the next registration of the fd).
    cancelled: Option<Waker>,
}

/// The reactor's record of one fd number.
#[derive(Default)]
struct Slot {
    /// Generation of the current (or last) registration; bumped by every register and
    /// deregister, so stale events and stale waiters can be told apart.
    gen: u32,
    /// Who registered the fd.
    owner: Owner,
    /// An event reported a half-close, hang-up or error: a short read no longer clears the
    /// read bit. Set by events, reset by registration.
    hup: bool,
    /// Read and write readiness, indexed by `Interest as usize`.
    dirs: [Direction; 2],
}

/// One hub's epoll reactor.
pub(crate) struct Reactor {
    /// The epoll instance; replaced in a forked child (see `crate::fork`).
    poller: RefCell<polling::Poller>,
    /// The epoll instance's fd, cached; changes only with `poller`.
    epfd: Cell<RawFd>,
    /// The fork epoch the epoll instance belongs to (see `crate::fork`).
    epoch: Cell<u64>,
    /// The eventfd other threads bump to wake this reactor's poll (see `remote`).
    notifier: Arc<Notifier>,
    /// Buffer for `epoll_wait`, reused across polls.
    events: RefCell<Vec<libc::epoll_event>>,
    /// Per-fd readiness, indexed by fd number; grows on demand.
    slots: RefCell<Vec<Slot>>,
    /// Number of fds registered with the poller (owned and temporary).
    registered: Cell<usize>,
    /// Number of greenlets parked on fd readiness (occupied waiter slots).
    waiters: Cell<usize>,
}

/// The epoll key of registration `gen` of `fd`.
fn key(fd: RawFd, gen: u32) -> u64 {
    ((gen as u64) << 32) | (fd as u32 as u64)
}

/// The slot of `fd`, growing the slab if needed.
fn slot_mut(slots: &mut Vec<Slot>, fd: RawFd) -> &mut Slot {
    let idx = fd as usize;
    if idx >= slots.len() {
        slots.resize_with((idx + 1).next_power_of_two().max(64), Slot::default);
    }
    &mut slots[idx]
}

/// The error of a wait ended by [`cancel_wait`].
fn cancelled_error() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

fn closed_error(fd: RawFd) -> io::Error {
    io::Error::other(format!(
        "fd {fd} was closed by another greenlet while this one waited on it (EBADF)"
    ))
}

impl Reactor {
    /// Creates the epoll instance.
    pub(crate) fn new() -> io::Result<Reactor> {
        crate::fork::install();
        let (poller, efd) = new_poller()?;
        Ok(Reactor {
            epfd: Cell::new(poller.as_raw_fd()),
            epoch: Cell::new(crate::fork::epoch()),
            poller: RefCell::new(poller),
            notifier: Arc::new(Notifier {
                fd: std::sync::atomic::AtomicI32::new(efd.into_raw_fd()),
            }),
            events: RefCell::new(vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_CAP]),
            slots: RefCell::new(Vec::new()),
            registered: Cell::new(0),
            waiters: Cell::new(0),
        })
    }

    /// The notifier, for other threads to wake this hub (see `remote`).
    pub(crate) fn notifier(&self) -> Arc<Notifier> {
        self.notifier.clone()
    }

    /// Whether any fd is registered (a non-blocking poll can find something).
    pub(crate) fn has_registrations(&self) -> bool {
        self.registered.get() > 0
    }

    /// Registered fds and greenlets parked on fd readiness (for `run_info`).
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.registered.get(), self.waiters.get())
    }

    /// Whether any greenlet waits on fd readiness (so blocking in epoll can end).
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.get() > 0
    }

    /// In a child forked behind sprout's back (a plain `fork()`), rebuilds this hub's epoll
    /// instance before it is used: one relaxed load when nothing was forked.
    #[inline(always)]
    fn check_fork(&self) {
        if self.epoch.get() != crate::fork::epoch() {
            crate::fork::rebuild_current_hub();
        }
    }

    /// In a forked child: a new epoll instance and notifier eventfd with every registration
    /// of this reactor re-created under its old key. The parent's instance is never touched
    /// again (an `epoll_ctl` on it would change the parent's registrations).
    pub(crate) fn rebuild_after_fork(&self) -> io::Result<()> {
        self.epoch.set(crate::fork::epoch());
        let (poller, efd) = new_poller()?;
        let epfd = poller.as_raw_fd();
        let old = self.poller.replace(poller);
        self.epfd.set(epfd);
        // `polling`'s Drop would delete its own fds from the shared instance: close only
        // our copy of the old epoll fd and leak the old poller's other two fds.
        let old_epfd = old.as_raw_fd();
        std::mem::forget(old);
        sys::close(old_epfd);
        let old_efd = self
            .notifier
            .fd
            .swap(efd.into_raw_fd(), std::sync::atomic::Ordering::Relaxed);
        sys::close(old_efd);
        let mut slots = self.slots.borrow_mut();
        for (fd, slot) in slots.iter_mut().enumerate() {
            if slot.owner == Owner::Free {
                continue;
            }
            let fd = fd as RawFd;
            if sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, INTEREST, key(fd, slot.gen)).is_err() {
                // Closed behind its owner's back: as if deregistered.
                self.release(slot);
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for readiness, sets the ready bits of every fd reported and
    /// wakes its waiters.
    pub(crate) fn poll(&self, timeout: Option<Duration>) {
        self.check_fork();
        let mut events = self.events.borrow_mut();
        let n = match sys::epoll_wait(self.epfd.get(), &mut events, timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => panic!("sprout: epoll_wait failed: {e}"),
        };
        let mut slots = self.slots.borrow_mut();
        for ev in &events[..n] {
            let key = ev.u64;
            let bits = ev.events;
            if key == WAKE_KEY {
                // Reset the counter; the hub drains the completion queue after this poll.
                sys::eventfd_clear(self.notifier.raw());
                continue;
            }
            if key == polling_notify_key() {
                continue;
            }
            let Some(slot) = slots.get_mut((key & 0xffff_ffff) as usize) else {
                continue;
            };
            if slot.gen != (key >> 32) as u32 || slot.owner == Owner::Free {
                continue;
            }
            if bits & HUP_BITS != 0 {
                slot.hup = true;
            }
            if bits & READ_BITS != 0 {
                self.fire(&mut slot.dirs[Interest::Read as usize]);
            }
            if bits & WRITE_BITS != 0 {
                self.fire(&mut slot.dirs[Interest::Write as usize]);
            }
        }
        drop(slots);
        drop(events);
    }

    /// An event arrived for one direction: mark it ready and wake its waiter.
    #[inline]
    fn fire(&self, dir: &mut Direction) {
        dir.ready = true;
        if let Some(w) = dir.waiter.take() {
            self.waiters.set(self.waiters.get() - 1);
            w.wake();
        }
    }

    /// Wakes every waiter of `slot` (their waits then fail as closed) and frees the slot.
    fn release(&self, slot: &mut Slot) {
        for dir in &mut slot.dirs {
            dir.ready = false;
            if let Some(w) = dir.waiter.take() {
                self.waiters.set(self.waiters.get() - 1);
                // At thread exit the hub may be gone; its greenlets are never resumed then.
                if hub::alive() {
                    w.wake();
                }
            }
        }
        slot.gen = slot.gen.wrapping_add(1);
        slot.owner = Owner::Free;
        slot.hup = false;
        self.registered.set(self.registered.get() - 1);
    }

    /// [`cancel_wait`]'s work: wakes the waiters of `fd` so that their waits fail with
    /// `EBADF`, and deletes a temporary (foreign-fd) registration, whose fd is about to go.
    /// A registration owned by a [`Registration`] stays. Returns how many were woken.
    fn cancel(&self, fd: RawFd) -> usize {
        // Called from the `close` hook too, possibly while the reactor is busy: never panic.
        let Ok(mut slots) = self.slots.try_borrow_mut() else {
            return 0;
        };
        let Some(slot) = usize::try_from(fd).ok().and_then(|i| slots.get_mut(i)) else {
            return 0;
        };
        if slot.owner == Owner::Free {
            return 0;
        }
        let mut woken = 0;
        for dir in &mut slot.dirs {
            if let Some(w) = dir.waiter.take() {
                self.waiters.set(self.waiters.get() - 1);
                if w.wake() {
                    dir.cancelled = Some(w);
                    woken += 1;
                }
            }
        }
        if matches!(slot.owner, Owner::Temp(_)) {
            // In a child forked behind sprout's back the instance is still the parent's
            // (not rebuilt yet): deleting from it would end the parent's wait on this fd.
            if self.epoch.get() == crate::fork::epoch() {
                let _ = sys::epoll_del(self.epfd.get(), fd);
            }
            self.release(slot);
        }
        woken
    }

    /// Adds `fd` to epoll for a [`Registration`]; `None` if epoll does not support it (a
    /// regular file, which is always ready).
    fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
        self.check_fork();
        let raw = fd.as_raw_fd();
        let mut slots = self.slots.borrow_mut();
        let slot = slot_mut(&mut slots, raw);
        if slot.owner != Owner::Free {
            // The old owner's fd was closed behind its back and the number reused, or a
            // foreign wait is in progress on this very fd: the new registration wins, and
            // whoever waited on the old one learns that it is gone.
            self.release(slot);
        }
        let gen = slot.gen.wrapping_add(1);
        let epfd = self.epfd.get();
        match sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, raw, INTEREST, key(raw, gen)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                sys::epoll_ctl(epfd, libc::EPOLL_CTL_MOD, raw, INTEREST, key(raw, gen))?;
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(None),
            Err(e) => return Err(e),
        }
        slot.gen = gen;
        slot.owner = Owner::Registration;
        slot.hup = false;
        for dir in &mut slot.dirs {
            dir.ready = true;
            dir.cancelled = None;
        }
        self.registered.set(self.registered.get() + 1);
        Ok(Some(gen))
    }

    /// Removes registration `gen` of `fd` from epoll, waking its waiters with an error.
    fn deregister(&self, fd: BorrowedFd<'_>, gen: u32) {
        self.check_fork();
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(fd.as_raw_fd() as usize) else {
            return;
        };
        if slot.gen != gen || slot.owner != Owner::Registration {
            return;
        }
        let _ = sys::epoll_del(self.epfd.get(), fd.as_raw_fd());
        self.release(slot);
    }

    fn is_ready(&self, fd: RawFd, gen: u32, interest: Interest) -> bool {
        let slots = self.slots.borrow();
        let slot = &slots[fd as usize];
        slot.gen != gen || slot.dirs[interest as usize].ready
    }

    /// Clears a ready bit; `soft` (a short read) leaves it set after a hang-up.
    fn clear_ready(&self, fd: RawFd, gen: u32, interest: Interest, soft: bool) {
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[fd as usize];
        if slot.gen == gen && !(soft && slot.hup) {
            slot.dirs[interest as usize].ready = false;
        }
    }

    /// Parks the current greenlet until an event for `interest` arrives on registration
    /// `gen` of `fd` (at once if the ready bit is set), the deadline passes, or the fd is
    /// deregistered. Kill and `Timeout` unwind.
    fn wait(
        &self,
        fd: RawFd,
        gen: u32,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.wait_nounwind(fd, gen, interest, deadline)?
            .map_err(|i| raise(i).into())
    }

    /// [`wait`](Self::wait) without raising: an interrupt (deadline, kill, `Timeout`,
    /// LoopExit) comes back as the inner error, the kill or `Timeout` flag left set.
    fn wait_nounwind(
        &self,
        fd: RawFd,
        gen: u32,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<Result<(), Interrupt>> {
        let waiter = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[fd as usize];
            if slot.gen != gen || slot.owner == Owner::Free {
                return Err(closed_error(fd));
            }
            let dir = &mut slot.dirs[interest as usize];
            if dir.ready {
                return Ok(Ok(()));
            }
            if let Some(other) = dir.waiter.take() {
                if other.is_pending() {
                    let id = other.greenlet_id();
                    dir.waiter = Some(other);
                    return Err(io::Error::other(format!(
                        "greenlet #{id} is already waiting to {} fd {fd}: one reader and one \
                         writer per socket at a time (gevent's ConcurrentObjectUseError)",
                        interest.verb()
                    )));
                }
                // A waiter that was woken but has not run yet; it retries its syscall anyway.
                self.waiters.set(self.waiters.get() - 1);
            }
            let waiter = Waiter::new();
            dir.waiter = Some(waiter.waker());
            self.waiters.set(self.waiters.get() + 1);
            waiter
        };
        let parked = Parked {
            reactor: self,
            fd,
            gen,
            interest,
            waker: waiter.waker(),
        };
        crate::run_info::waits_on(crate::run_info::WaitsOn::Fd {
            fd,
            write: matches!(interest, Interest::Write),
        });
        let woke = waiter.wait(deadline);
        drop(parked);
        let (closed, cancelled) = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[fd as usize];
            let dir = &mut slot.dirs[interest as usize];
            let cancelled = dir.cancelled.as_ref().is_some_and(|w| waiter.owns(w));
            if cancelled {
                dir.cancelled = None;
            }
            (slot.gen != gen || slot.owner == Owner::Free, cancelled)
        };
        match woke {
            Err(i) => Ok(Err(i)),
            Ok(()) if cancelled => Err(cancelled_error()),
            Ok(()) if closed => Err(closed_error(fd)),
            Ok(()) => Ok(Ok(())),
        }
    }

    /// [`wait_fd`]'s work: wait on an fd that may not be registered. Does not raise (see
    /// [`wait_nounwind`](Self::wait_nounwind)).
    fn wait_foreign(
        &self,
        fd: RawFd,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<Result<(), Interrupt>> {
        self.check_fork();
        let (gen, temp) = {
            let mut slots = self.slots.borrow_mut();
            let slot = slot_mut(&mut slots, fd);
            match slot.owner {
                Owner::Registration => (slot.gen, false),
                Owner::Temp(n) => {
                    slot.owner = Owner::Temp(n + 1);
                    (slot.gen, true)
                }
                Owner::Free => {
                    let gen = slot.gen.wrapping_add(1);
                    // The entry is deleted when the last wait on it ends; one left behind by a
                    // closed fd only yields events the generation check ignores.
                    let epfd = self.epfd.get();
                    match sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, INTEREST, key(fd, gen)) {
                        Ok(()) => {}
                        // Regular files cannot be polled: they are always ready.
                        Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(Ok(())),
                        Err(e) => return Err(e),
                    }
                    slot.gen = gen;
                    slot.owner = Owner::Temp(1);
                    slot.hup = false;
                    self.registered.set(self.registered.get() + 1);
                    (gen, true)
                }
            }
        };
        let _temp = temp.then_some(TempUse {
            reactor: self,
            fd,
            gen,
        });
        // The caller proved the fd not ready; adding it reports its current state anyway.
        self.clear_ready(fd, gen, interest, false);
        self.wait_nounwind(fd, gen, interest, deadline)
    }

    /// One [`wait_fd`] on a temporary registration ended; the last one out deletes it.
    fn leave_temp(&self, fd: RawFd, gen: u32) {
        self.check_fork();
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[fd as usize];
        if slot.gen != gen {
            return;
        }
        match slot.owner {
            Owner::Temp(1) => {
                // The fd may have been closed meanwhile (then epoll dropped it already).
                let _ = sys::epoll_del(self.epfd.get(), fd);
                self.release(slot);
            }
            Owner::Temp(n) => slot.owner = Owner::Temp(n - 1),
            _ => {}
        }
    }
}

/// A waker stored in a waiter slot. Dropped when the wait ends, whether it returns or
/// unwinds: if no event took the waker (deadline, kill, `Timeout`), it gives the slot back.
struct Parked<'a> {
    /// The reactor holding the slot.
    reactor: &'a Reactor,
    /// The fd waited on.
    fd: RawFd,
    /// The registration waited on.
    gen: u32,
    /// The direction waited on.
    interest: Interest,
    /// The waker put in the slot.
    waker: Waker,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut slots = self.reactor.slots.borrow_mut();
        let slot = &mut slots[self.fd as usize];
        if slot.gen != self.gen || slot.owner == Owner::Free {
            return; // deregistered: `release` took the waker
        }
        let dir = &mut slot.dirs[self.interest as usize];
        let mine = &self.waker;
        let is_mine = |w: &Waker| Rc::ptr_eq(&w.task, &mine.task) && w.epoch == mine.epoch;
        if dir.waiter.as_ref().is_some_and(is_mine) {
            dir.waiter = None;
            self.reactor.waiters.set(self.reactor.waiters.get() - 1);
        }
    }
}

/// One [`wait_fd`] on a temporary registration; leaves it when dropped (see `leave_temp`).
struct TempUse<'a> {
    /// The reactor holding the registration.
    reactor: &'a Reactor,
    /// The fd waited on.
    fd: RawFd,
    /// The temporary registration's generation.
    gen: u32,
}

impl Drop for TempUse<'_> {
    fn drop(&mut self) {
        self.reactor.leave_temp(self.fd, self.gen);
    }
}

/// The key the notifier's eventfd is registered under: no fd slot has it (fd numbers stay
/// far below `u32::MAX - 1`).
const WAKE_KEY: u64 = u64::MAX - 1;

/// Wakes a reactor's poll from any thread: an eventfd in that reactor's epoll set.
pub(crate) struct Notifier {
    /// The eventfd, owned (closed on drop); bumped by `notify`, reset by the reactor's poll,
    /// replaced only in a forked child, where no other thread exists.
    fd: std::sync::atomic::AtomicI32,
}

impl Notifier {
    /// Makes the reactor's current or next poll return.
    pub(crate) fn notify(&self) -> io::Result<()> {
        sys::eventfd_bump(self.raw())
    }

    fn raw(&self) -> RawFd {
        self.fd.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // SAFETY: the notifier owns its eventfd; nothing else closes it.
        drop(unsafe { OwnedFd::from_raw_fd(*self.fd.get_mut()) });
    }
}

/// A new epoll instance (through `polling`) with a new notifier eventfd in it.
fn new_poller() -> io::Result<(polling::Poller, OwnedFd)> {
    let poller = polling::Poller::new()?;
    let efd = sys::eventfd()?;
    sys::epoll_ctl(
        poller.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        efd.as_raw_fd(),
        (libc::EPOLLIN | libc::EPOLLET) as u32,
        WAKE_KEY,
    )?;
    Ok((poller, efd))
}

/// The key `polling` registers its own notifier (and timerfd) under.
fn polling_notify_key() -> u64 {
    usize::MAX as u64
}

/// An fd registered with the current thread's reactor: owns the fd, and deletes it from
/// epoll (waking anybody waiting on it with an error) before closing it.
///
/// It belongs to the thread that made it (`!Send`): its readiness is delivered by that
/// thread's hub.
pub struct Registration {
    /// The reactor of the thread that registered the fd.
    reactor: Rc<Reactor>,
    /// The fd. INVARIANT: `Some` until `into_fd` takes it.
    fd: Option<OwnedFd>,
    /// The fd's number, cached for slab lookups.
    raw: RawFd,
    /// The registration's generation; `None` when epoll refused the fd (a regular file),
    /// which then counts as always ready.
    gen: Option<u32>,
}

impl Registration {
    /// Registers `fd` with this thread's reactor, edge-triggered for both directions, and
    /// takes ownership of it. On error the fd is closed.
    ///
    /// The fd should be non-blocking: operations on it are expected to fail with `EAGAIN`
    /// rather than block the thread.
    ///
    /// # Errors
    ///
    /// An error of `epoll_ctl(2)` adding the fd: `EPERM` for an fd epoll cannot watch (a regular
    /// file, a directory), `ENOMEM`, `ENOSPC` (past `fs.epoll.max_user_watches`); the fd is closed.
    pub fn new(fd: OwnedFd) -> io::Result<Registration> {
        Registration::try_new(fd).map_err(|(e, _fd)| e)
    }

    /// Like [`new`](Self::new), but on error hands the fd back instead of closing it (for the
    /// monkey layer, which registers fds the program owns).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), with the fd handed back.
    pub fn try_new(fd: OwnedFd) -> Result<Registration, (io::Error, OwnedFd)> {
        let reactor = Hub::current().reactor();
        let gen = match reactor.register(fd.as_fd()) {
            Ok(gen) => gen,
            Err(e) => return Err((e, fd)),
        };
        Ok(Registration {
            reactor,
            raw: fd.as_raw_fd(),
            fd: Some(fd),
            gen,
        })
    }

    /// The registered fd.
    #[inline]
    pub fn fd(&self) -> BorrowedFd<'_> {
        debug_assert!(self.fd.is_some());
        match &self.fd {
            Some(fd) => fd.as_fd(),
            None => unreachable!("a Registration holds its fd until into_fd"),
        }
    }

    /// Whether an operation in this direction is worth trying: false only when the last one
    /// proved the fd not ready and no event has arrived since.
    #[inline]
    pub fn is_ready(&self, interest: Interest) -> bool {
        match self.gen {
            Some(gen) => self.reactor.is_ready(self.raw, gen, interest),
            None => true,
        }
    }

    /// Records that an operation in this direction just failed with `EAGAIN`.
    #[inline]
    pub fn clear_ready(&self, interest: Interest) {
        if let Some(gen) = self.gen {
            self.reactor.clear_ready(self.raw, gen, interest, false);
        }
    }

    /// Records that a read from a TCP socket came back short: its receive queue is empty, so
    /// the next read would fail until a new event. Ignored once the peer has half-closed (the
    /// EOF is still to be read, and no further event would announce it).
    ///
    /// Only for sockets whose reads return less than asked only when the queue is empty
    /// (TCP); a datagram or pipe read must use [`clear_ready`](Self::clear_ready) on `EAGAIN`
    /// alone.
    #[inline]
    pub fn drained(&self) {
        if let Some(gen) = self.gen {
            self.reactor
                .clear_ready(self.raw, gen, Interest::Read, true);
        }
    }

    /// Parks the current greenlet until the fd may be ready in this direction: returns at
    /// once if the ready bit is set, otherwise when an event arrives.
    ///
    /// # Errors
    ///
    /// `TimedOut` when `deadline` passes first; an error if another greenlet already
    /// waits in this direction, or if the registration is dropped meanwhile. A kill or an
    /// expired `Timeout` scope unwinds from here, as from every blocking call.
    pub fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        match self.gen {
            Some(gen) => self.reactor.wait(self.raw, gen, interest, deadline),
            None => Ok(()),
        }
    }

    /// Deletes the fd from epoll and hands it back without closing it.
    pub fn into_fd(mut self) -> OwnedFd {
        self.deregister();
        self.fd
            .take()
            .expect("a Registration holds its fd until into_fd")
    }

    fn deregister(&mut self) {
        if let (Some(gen), Some(fd)) = (self.gen.take(), &self.fd) {
            self.reactor.deregister(fd.as_fd(), gen);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl AsFd for Registration {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

impl AsRawFd for Registration {
    fn as_raw_fd(&self) -> RawFd {
        self.raw
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.raw)
            .field("gen", &self.gen)
            .finish()
    }
}

/// Parks the current greenlet until an event for `interest` arrives on `fd`, which need not
/// be registered (gevent's `wait_read`/`wait_write` on a file number).
///
/// Meant to be called right after the caller proved the fd not ready (an `EAGAIN`, or a
/// zero-timeout `poll`): it waits for the next event. An fd owned by a [`Registration`] is
/// waited on through it, so dropping that registration wakes this wait with an error. Any
/// other fd is added to epoll for the duration of the wait; it must stay open until the wait
/// ends (if it is closed, only the deadline ends the wait). A regular file is always ready.
///
/// # Errors
///
/// `EBADF` for a negative fd, or if [`cancel_wait`] ended the wait; an `Other` error if the fd's
/// registration was dropped meanwhile ("closed by another greenlet") or another greenlet already
/// waits in this direction; `TimedOut` at `deadline`; a LoopExit error if nothing could ever wake
/// it; an error of `epoll_ctl(2)` adding a foreign fd. Kill and `Timeout` unwind.
pub fn wait_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Hub::current()
        .reactor()
        .wait_foreign(fd, interest, deadline)?
        .map_err(|i| raise(i).into())
}

/// Wakes every greenlet of this thread's hub that waits on `fd` (either direction, through
/// a sprout socket or [`wait_fd`]); each such wait fails with `EBADF`
/// (`io::Error::raw_os_error() == Some(libc::EBADF)`, "Bad file descriptor"). gevent's
/// `cancel_wait`. Call it before closing an fd that other greenlets may be waiting on: a wait
/// on a closed foreign fd otherwise lasts until its deadline, since epoll drops a closed fd
/// without an event. A foreign fd's temporary epoll entry is removed; a sprout socket keeps
/// its registration and stays usable. Returns how many greenlets were woken (0 on a thread
/// without a hub, or when nobody waits).
///
/// Only this thread's hub is searched: a greenlet of another thread waiting on the same fd
/// is not woken.
///
/// With the `monkey` feature compiled in, the `close` hook calls this for every fd, whether
/// or not `patch_all` ran.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::time::Duration;
///
/// let (reader, _writer) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fd = reader.as_raw_fd();
/// let waiter = sprout::spawn(move || sprout::net::wait_readable(fd, None));
/// sprout::yield_now(); // let it park
/// assert_eq!(sprout::net::cancel_wait(fd), 1);
/// let err = waiter.join().unwrap().unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(9)); // EBADF
/// ```
pub fn cancel_wait(fd: RawFd) -> usize {
    if fd < 0 || !hub::alive() {
        return 0;
    }
    match Hub::current().reactor_if_any() {
        Some(r) => r.cancel(fd),
        None => 0,
    }
}

/// [`wait_fd`] for code that must never unwind (the monkey layer's libc hooks, which sit
/// below `extern "C"` frames): a deadline, kill, `Timeout` scope or LoopExit comes back as
/// `Ok(Err(interrupt))` instead of unwinding, and a kill or `Timeout` flag stays set, so it is
/// raised at the greenlet's next ordinary blocking call. The outer error is as for
/// [`wait_fd`]: the fd's registration was dropped meanwhile, another greenlet already waits in
/// this direction, or epoll refused the fd.
///
/// # Errors
///
/// As [`wait_fd`] for the outer error; the inner `Err` carries the [`Interrupt`] (deadline, kill,
/// `Timeout` scope, LoopExit) instead of raising it.
pub fn wait_fd_nounwind(
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<Result<(), Interrupt>> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Hub::current()
        .reactor()
        .wait_foreign(fd, interest, deadline)
}
