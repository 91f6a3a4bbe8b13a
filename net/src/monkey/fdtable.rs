//! The process-wide table of what the program believes about each fd number.
//!
//! One entry per fd number, lock-free: a state word (flags and a generation) and the two
//! socket timeouts. The first 1,024 fds live in a static chunk; higher numbers in chunks of
//! 1,024 allocated on first need (by an fd-creating hook, never by a read, a write or a
//! close), up to 2^20 fds, Linux's default `nr_open`. A number beyond that is never managed.
//!
//! The generation grows by one every time the number is created or closed through the hooks,
//! so a per-thread registration made for an earlier socket under the same number is known to
//! be stale.

use std::alloc::{self, Layout};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

/// The socket was created through a hook after `patch_all`: the kernel fd is non-blocking
/// whatever the program asked, and the hooks emulate the program's view.
pub(crate) const MANAGED: u64 = 1;
/// The program's own view of `O_NONBLOCK` (set at creation, by `fcntl(F_SETFL)` or
/// `ioctl(FIONBIO)`).
pub(crate) const NONBLOCK: u64 = 2;
/// A stream socket (TCP or Unix): a blocking send sends everything.
pub(crate) const STREAM: u64 = 4;
/// A TCP socket: a short read means the receive queue is empty (see `Registration::drained`).
pub(crate) const TCP: u64 = 8;
/// The flag bits of a state word; the generation is the high 32 bits.
const FLAGS: u64 = 0xffff_ffff;

/// fds per chunk.
const CHUNK: usize = 1024;
/// Chunks in the table: 2^20 fds in all.
const CHUNKS: usize = 1024;

/// A direction whose timeout the program can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// `SO_RCVTIMEO`: reads and accepts.
    Recv,
    /// `SO_SNDTIMEO`: writes and connects.
    Send,
}

/// What the table knows about one fd number.
struct Entry {
    /// Flags (low 32 bits) and generation (high 32 bits). Written by the fd-creating hooks,
    /// `close`, `fcntl(F_SETFL)` and `ioctl(FIONBIO)`.
    state: AtomicU64,
    /// `SO_RCVTIMEO` in microseconds, 0 for none; written by `setsockopt`.
    recv_us: AtomicU64,
    /// `SO_SNDTIMEO` in microseconds, 0 for none; written by `setsockopt`.
    send_us: AtomicU64,
}

impl Entry {
    const fn new() -> Entry {
        Entry {
            state: AtomicU64::new(0),
            recv_us: AtomicU64::new(0),
            send_us: AtomicU64::new(0),
        }
    }

    fn timeout_slot(&self, dir: Timeout) -> &AtomicU64 {
        match dir {
            Timeout::Recv => &self.recv_us,
            Timeout::Send => &self.send_us,
        }
    }

    /// Starts a new generation with `flags` and the given timeouts.
    fn reset(&self, flags: u64, recv_us: u64, send_us: u64) {
        self.recv_us.store(recv_us, Ordering::Relaxed);
        self.send_us.store(send_us, Ordering::Relaxed);
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let next = (cur & !FLAGS).wrapping_add(1 << 32) | (flags & FLAGS);
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// 1,024 entries. All-zero bytes are a valid chunk (atomics of 0: nothing known).
struct Chunk {
    /// The entries, indexed by `fd % CHUNK`.
    entries: [Entry; CHUNK],
}

/// fds 0 to 1,023: always present, so the common case never allocates.
static FIRST: Chunk = Chunk {
    entries: [const { Entry::new() }; CHUNK],
};

/// Chunks 1 and up, allocated on demand and never freed. INVARIANT: each pointer is null or
/// a leaked, zero-initialised `Chunk`.
static MORE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

/// The entry of `fd` if its chunk exists.
#[inline]
fn entry(fd: i32) -> Option<&'static Entry> {
    let fd = usize::try_from(fd).ok()?;
    if fd < CHUNK {
        return Some(&FIRST.entries[fd]);
    }
    let p = MORE.get(fd / CHUNK)?.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: see the invariant on MORE: a live, never-freed chunk.
    Some(unsafe { &(*p).entries[fd % CHUNK] })
}

/// The entry of `fd`, allocating its chunk if `alloc` allows (never in a forked child, where
/// another thread of the parent may have held the allocator's lock).
fn entry_or_alloc(fd: i32, alloc: bool) -> Option<&'static Entry> {
    if let Some(e) = entry(fd) {
        return Some(e);
    }
    if !alloc {
        return None;
    }
    let idx = usize::try_from(fd).ok()? / CHUNK;
    let slot = MORE.get(idx)?;
    let layout = Layout::new::<Chunk>();
    // SAFETY: the layout is non-zero-sized; all-zero bytes are a valid Chunk.
    let fresh = unsafe { alloc::alloc_zeroed(layout) }.cast::<Chunk>();
    if fresh.is_null() {
        return None;
    }
    if let Err(_other) = slot.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // Another thread installed the chunk first.
        // SAFETY: `fresh` came from alloc_zeroed with this layout and was never shared.
        unsafe { alloc::dealloc(fresh.cast(), layout) };
    }
    entry(fd)
}

/// The state word of `fd`: 0 when nothing is known.
#[inline]
pub(crate) fn state(fd: i32) -> u64 {
    match entry(fd) {
        Some(e) => e.state.load(Ordering::Acquire),
        None => 0,
    }
}

/// Whether a state word describes a socket whose program believes it blocking: the only
/// case in which a hook does anything but forward.
#[inline]
pub(crate) fn emulates_blocking(word: u64) -> bool {
    word & (MANAGED | NONBLOCK) == MANAGED
}

/// The generation of a state word.
#[inline]
pub(crate) fn generation(word: u64) -> u32 {
    (word >> 32) as u32
}

/// A socket was created under `fd` with `flags` (0 for an unmanaged one).
pub(crate) fn created(fd: i32, flags: u64, alloc: bool) {
    if let Some(e) = entry_or_alloc(fd, alloc && flags != 0) {
        e.reset(flags, 0, 0);
    }
}

/// `to` became a duplicate of `from` (dup, dup2, dup3, `F_DUPFD`): it starts with a copy of
/// `from`'s entry. (The kernel shares `O_NONBLOCK` and the socket options between the two;
/// here later changes through one number are not seen through the other.)
pub(crate) fn duplicated(from: i32, to: i32, alloc: bool) {
    let (flags, recv, send) = match entry(from) {
        Some(e) => (
            e.state.load(Ordering::Acquire) & FLAGS,
            e.recv_us.load(Ordering::Relaxed),
            e.send_us.load(Ordering::Relaxed),
        ),
        None => (0, 0, 0),
    };
    if let Some(e) = entry_or_alloc(to, alloc && flags != 0) {
        e.reset(flags, recv, send);
    }
}

/// `fd` is being closed (or replaced by `dup2`): a new generation with nothing known.
pub(crate) fn closed(fd: i32) {
    if let Some(e) = entry(fd) {
        if e.state.load(Ordering::Relaxed) & FLAGS != 0 {
            e.reset(0, 0, 0);
        }
    }
}

/// The program set or cleared `O_NONBLOCK` on a managed socket.
pub(crate) fn set_nonblocking(fd: i32, on: bool) {
    if let Some(e) = entry(fd) {
        if on {
            e.state.fetch_or(NONBLOCK, Ordering::AcqRel);
        } else {
            e.state.fetch_and(!NONBLOCK, Ordering::AcqRel);
        }
    }
}

/// Records a socket timeout the program set (`None` or zero: no timeout).
pub(crate) fn set_timeout(fd: i32, dir: Timeout, t: Option<Duration>) {
    if let Some(e) = entry(fd) {
        let us = t.map_or(0, |t| t.as_micros().min(u64::MAX as u128) as u64);
        e.timeout_slot(dir).store(us, Ordering::Relaxed);
    }
}

/// The socket timeout the program set, if any.
pub(crate) fn timeout(fd: i32, dir: Timeout) -> Option<Duration> {
    let us = entry(fd)?.timeout_slot(dir).load(Ordering::Relaxed);
    (us != 0).then(|| Duration::from_micros(us))
}
