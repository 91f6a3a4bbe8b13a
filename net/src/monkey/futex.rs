//! The `syscall` hook: futex waits park the calling greenlet; futex wakes reach parked
//! greenlets on any hub as well as the kernel's waiters.
//!
//! What std, parking_lot and crossbeam call (measured with a logging `syscall` interposer and
//! `strace -f -e futex`) is tabled in the module docs of `monkey` ("Futex waits").
//!
//! # Protocol
//!
//! - **Pass-through.** Every syscall number but `SYS_futex` is forwarded after one compare.
//!   A futex wait is forwarded (blocking the thread) when the caller may not park (another
//!   thread, the hub loop, before `patch_all`), when the hook is re-entered (its own
//!   bookkeeping takes locks), and for the operations it does not model
//!   (priority-inheritance locks, `FUTEX_WAIT_REQUEUE_PI`, bad arguments: the kernel's
//!   error is the answer).
//! - **Park.** A wait (`FUTEX_WAIT`, `FUTEX_WAIT_BITSET`) from a greenlet that may park puts
//!   an entry (address, bitset, a cross-thread waker) in a process-wide table of 64 shards
//!   keyed by address, then, with the shard still locked, compares `*uaddr` with the
//!   expected value, as the kernel does: a mismatch removes the entry and fails with
//!   `EAGAIN` (after yielding once to the other greenlets). Otherwise the greenlet parks until a wake, its timeout (`ETIMEDOUT`), or a
//!   spurious resume (returns 0, which the futex contract allows).
//! - **Wake.** `FUTEX_WAKE`/`FUTEX_WAKE_BITSET` is always forwarded to the kernel (OS
//!   threads wait there), and also wakes up to `n` matching greenlet entries, removing them
//!   under the shard lock; the result is the sum. A waker on the parked greenlet's own hub
//!   wakes it directly; any other thread posts to that hub's completion queue. Since the
//!   entry is inserted and the value compared under the same lock that a waker takes after
//!   changing the value, a wake is never lost. `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE` and
//!   `FUTEX_WAKE_OP` are forwarded and then wake every greenlet entry of both addresses
//!   (spurious wake-ups, allowed).
//! - **Timeouts.** `FUTEX_WAIT` takes a relative timeout; `FUTEX_WAIT_BITSET` an absolute
//!   one on `CLOCK_MONOTONIC`, or `CLOCK_REALTIME` with `FUTEX_CLOCK_REALTIME` (turned into
//!   a monotonic deadline when the wait begins: a later change of the wall clock does not
//!   move it).
//! - **Shared futexes** (no `FUTEX_PRIVATE_FLAG`) may be woken by another process, which
//!   never reaches this table: a greenlet parked on one re-reads the word every 10 ms and
//!   returns (a spurious wake-up) once it changed.
//! - **Kill and `Timeout`** do not end a futex wait: `Mutex::lock` cannot fail, and an early
//!   return would make std's loop call again at once, spinning without ever yielding. The
//!   interrupt stays pending; it is raised at the greenlet's next ordinary blocking call
//!   once the lock (or notification) is obtained.
//!
//! # What stays blocking, and why
//!
//! - **Per-thread parkers.** parking_lot keeps its `ThreadData` (the futex word and the
//!   links of its wait queues) in a thread-local: every greenlet of a thread shares it. If a
//!   greenlet parked there, a second greenlet of the same thread reaching parking_lot's
//!   `park` would enqueue the same `ThreadData` twice and corrupt the queue. So a futex wait
//!   on an address inside the calling thread's static TLS block always blocks the OS thread
//!   (as before patching). parking_lot's locks therefore still block the thread while
//!   contended; use sprout's own locks between greenlets.
//! - `std::thread::park` (hence `mpsc`'s blocking `recv`) keeps one parker word per OS
//!   thread too, in the `Thread` handle on the heap: one greenlet per thread at a time may
//!   wait in it (a second one's wait finds the word changed and spins through `EAGAIN`,
//!   yielding each time; a wake meant for the first can then be consumed by the second).
//!   Waking it from a plain thread or another hub works.
//! - `JoinHandle::join` (`pthread_join`), and futexes waited on with raw syscalls (rustix's
//!   linux_raw backend): no hook sees them.
//! - A wake made with a raw syscall (bypassing libc's `syscall`) reaches only OS threads.

use std::cell::Cell;
use std::ffi::c_long;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sprout_runtime::waiter::{self, CrossWaker};
use std::sync::{Mutex, MutexGuard};

use super::patch;
use super::real;

/// `FUTEX_WAIT`.
const WAIT: c_long = 0;
/// `FUTEX_WAKE`.
const WAKE: c_long = 1;
/// `FUTEX_REQUEUE`.
const REQUEUE: c_long = 3;
/// `FUTEX_CMP_REQUEUE`.
const CMP_REQUEUE: c_long = 4;
/// `FUTEX_WAKE_OP`.
const WAKE_OP: c_long = 5;
/// `FUTEX_WAIT_BITSET`.
const WAIT_BITSET: c_long = 9;
/// `FUTEX_WAKE_BITSET`.
const WAKE_BITSET: c_long = 10;
/// `FUTEX_PRIVATE_FLAG`.
const PRIVATE: c_long = 128;
/// `FUTEX_CLOCK_REALTIME`.
const CLOCK_REALTIME: c_long = 256;
/// The operation without its flags.
const CMD_MASK: c_long = !(PRIVATE | CLOCK_REALTIME);
/// How often a greenlet parked on a shared (inter-process) futex re-reads the word.
const SHARED_RECHECK: Duration = Duration::from_millis(10);

/// One parked greenlet.
struct Waiting {
    /// The futex word's address.
    addr: usize,
    /// `FUTEX_WAIT_BITSET`'s mask (all ones for `FUTEX_WAIT`).
    bitset: u32,
    /// Unique per wait, to find the entry again.
    id: u64,
    /// Wakes the park.
    waker: CrossWaker,
}

/// Shards of the table, by address.
const SHARDS: usize = 64;

/// The process-wide table of greenlets parked in futex waits.
static TABLE: [Mutex<Vec<Waiting>>; SHARDS] = [const { Mutex::new(Vec::new()) }; SHARDS];
/// Entries in the table: a wake with nothing parked anywhere skips the table.
static PARKED: AtomicUsize = AtomicUsize::new(0);
/// Ids for entries.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Set while this thread runs the hook's own bookkeeping: futex calls made meanwhile
    /// (contended locks of the table or of a hub's completion queue) go
    /// straight to the kernel.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// The shard for `addr`, locked (a poisoned shard is still consistent: no code panics
/// while holding one).
fn shard(addr: usize) -> MutexGuard<'static, Vec<Waiting>> {
    // Futex words are 4-byte aligned; mix in higher bits so neighbours spread.
    TABLE[((addr >> 2) ^ (addr >> 8)) % SHARDS]
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` with `BUSY` set.
fn busy<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = BUSY.try_with(|b| b.set(false));
        }
    }
    let _ = BUSY.try_with(|b| b.set(true));
    let _reset = Reset;
    f()
}

/// Whether the hook is re-entered (or the thread is exiting).
#[inline]
fn is_busy() -> bool {
    BUSY.try_with(Cell::get).unwrap_or(true)
}

/// Hook for `syscall`, libc's variadic `long syscall(long number, ...)`, defined with a
/// fixed list of six further `long`s. This is call-compatible on x86-64 Linux (the only
/// target sprout builds for): the System V ABI passes the number and the first five
/// arguments in `rdi, rsi, rdx, rcx, r8, r9` whether the callee is variadic or not, and the
/// sixth in the caller's first stack slot, which is mapped memory in every caller's frame
/// (a caller passing fewer arguments leaves unrelated bits there, which the kernel ignores
/// for a syscall taking fewer, as it ignores the registers glibc forwards). `%al`, set by
/// variadic callers, is read only by variadic callees. Every number but `SYS_futex` is
/// forwarded after one compare, by a jump to glibc's `syscall` with the caller's registers
/// and stack slot untouched (see `real::syscall`); see the module docs for `SYS_futex`.
///
/// # Safety
/// The kernel's contract for syscall `n` with these arguments.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if n != libc::SYS_futex {
        // SAFETY: forwarded.
        return unsafe { real::syscall(n, a1, a2, a3, a4, a5, a6) };
    }
    // SAFETY: the caller's futex arguments.
    unsafe { futex_entry(n, a1, a2, a3, a4, a5, a6) }
}

/// The futex branch of [`syscall`], out of line with the same signature so that the
/// pass-through needs no stack frame (both branches are jumps).
///
/// # Safety
/// As [`syscall`].
#[cold]
#[inline(never)]
unsafe extern "C" fn futex_entry(
    _n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // SAFETY: the caller's futex arguments.
    unsafe { futex(a1, a2, a3, a4, a5, a6) }
}

/// `SYS_futex(uaddr, op, val, timeout_or_val2, uaddr2, val3)`.
///
/// # Safety
/// The kernel's contract for `futex(2)`.
#[cold]
#[inline(never)]
unsafe fn futex(
    uaddr: c_long,
    op: c_long,
    val: c_long,
    timeout: c_long,
    uaddr2: c_long,
    val3: c_long,
) -> c_long {
    // SAFETY: forwarded, exactly as called.
    let forward =
        || unsafe { real::syscall(libc::SYS_futex, uaddr, op, val, timeout, uaddr2, val3) };
    let cmd = op & CMD_MASK;
    match cmd {
        WAIT | WAIT_BITSET => {
            let bitset = if cmd == WAIT { u32::MAX } else { val3 as u32 };
            if bitset == 0
                || uaddr == 0
                || uaddr % 4 != 0
                || is_busy()
                || !patch::cooperative()
                || in_static_tls(uaddr as usize)
            {
                return forward();
            }
            let Some(deadline) = deadline_of(cmd, op, timeout) else {
                return forward(); // an invalid timespec: the kernel's EINVAL
            };
            wait(
                uaddr as usize,
                val as u32,
                bitset,
                deadline,
                op & PRIVATE == 0,
            )
        }
        WAKE | WAKE_BITSET => {
            let bitset = if cmd == WAKE { u32::MAX } else { val3 as u32 };
            let r = forward();
            // Orders the program's change of the word (made before this call, perhaps with
            // only Release) before the read of PARKED, against a waiter's increment of PARKED
            // followed by its read of the word: one of the two sees the other.
            std::sync::atomic::fence(Ordering::SeqCst);
            if r < 0 || PARKED.load(Ordering::SeqCst) == 0 {
                return r;
            }
            let e = real::errno();
            let woken = wake(
                uaddr as usize,
                val.clamp(0, i32::MAX as c_long) as usize,
                bitset,
            );
            real::set_errno(e);
            r + woken as c_long
        }
        REQUEUE | CMP_REQUEUE | WAKE_OP => {
            let r = forward();
            std::sync::atomic::fence(Ordering::SeqCst); // as for FUTEX_WAKE
            if PARKED.load(Ordering::SeqCst) != 0 {
                let e = real::errno();
                wake(uaddr as usize, usize::MAX, u32::MAX);
                wake(uaddr2 as usize, usize::MAX, u32::MAX);
                real::set_errno(e);
            }
            r
        }
        _ => forward(),
    }
}

/// The wait's deadline: `Some(None)` for none, `None` for a timespec the kernel rejects.
fn deadline_of(cmd: c_long, op: c_long, timeout: c_long) -> Option<Option<Instant>> {
    if timeout == 0 {
        return Some(None);
    }
    // SAFETY: a non-null timeout points to a timespec (the caller's contract).
    let ts = unsafe { (timeout as *const libc::timespec).read() };
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    let left = if cmd == WAIT {
        d
    } else {
        let clock = if op & CLOCK_REALTIME != 0 {
            libc::CLOCK_REALTIME
        } else {
            libc::CLOCK_MONOTONIC
        };
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill.
        unsafe { libc::clock_gettime(clock, &mut now) };
        d.saturating_sub(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    };
    Some(sprout_runtime::time::deadline_after(left))
}

/// Parks the current greenlet on the futex word at `addr` while it holds `val`.
fn wait(addr: usize, val: u32, bitset: u32, deadline: Option<Instant>, shared: bool) -> c_long {
    // SAFETY: `addr` is a non-null, aligned futex word the caller handed to the kernel; the
    // kernel reads it too. Read atomically, as other threads change it.
    let word = unsafe { &*(addr as *const AtomicU32) };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    loop {
        let park_deadline = if shared {
            let recheck = sprout_runtime::time::saturating_deadline(SHARED_RECHECK);
            Some(deadline.map_or(recheck, |d| d.min(recheck)))
        } else {
            deadline
        };
        let mut changed = false;
        sprout_runtime::run_info::hooked_call("futex");
        let parked = waiter::park_cross_thread(park_deadline, |waker| {
            busy(|| {
                let mut list = shard(addr);
                list.push(Waiting {
                    addr,
                    bitset,
                    id,
                    waker,
                });
                PARKED.fetch_add(1, Ordering::SeqCst);
                // Compared under the lock a waker takes after changing the word.
                if word.load(Ordering::SeqCst) != val {
                    remove(&mut list, id);
                    changed = true;
                    return false;
                }
                true
            })
        });
        if !parked {
            debug_assert!(changed);
            // Let the others run once: a second greenlet of this thread sharing a per-thread
            // parker word (see the module docs) spins through EAGAIN; it must not stall the
            // hub meanwhile.
            super::cancel::yield_once();
            real::set_errno(libc::EAGAIN);
            return -1;
        }
        let still_there = busy(|| remove(&mut shard(addr), id));
        if !still_there {
            return 0; // a wake removed the entry
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            real::set_errno(libc::ETIMEDOUT);
            return -1;
        }
        if !shared || word.load(Ordering::SeqCst) != val {
            return 0; // a spurious wake-up
        }
    }
}

/// Removes entry `id` from a locked shard; returns whether it was there.
fn remove(list: &mut Vec<Waiting>, id: u64) -> bool {
    match list.iter().position(|w| w.id == id) {
        Some(i) => {
            list.swap_remove(i);
            PARKED.fetch_sub(1, Ordering::SeqCst);
            true
        }
        None => false,
    }
}

/// Wakes up to `n` greenlets parked on `addr` whose bitset meets `bitset`, oldest first;
/// returns how many.
fn wake(addr: usize, n: usize, bitset: u32) -> usize {
    if n == 0 {
        return 0;
    }
    busy(|| {
        let mut woken = Vec::new();
        {
            let mut list = shard(addr);
            let mut i = 0;
            while i < list.len() && woken.len() < n {
                if list[i].addr == addr && list[i].bitset & bitset != 0 {
                    // `remove` keeps arrival order: the oldest waiter goes first.
                    woken.push(list.remove(i).waker);
                    PARKED.fetch_sub(1, Ordering::SeqCst);
                } else {
                    i += 1;
                }
            }
        }
        let count = woken.len();
        for w in woken {
            w.wake();
        }
        count
    })
}

/// The executable's TLS segment: `(memsz, align)`, found once.
fn exe_tls() -> (usize, usize) {
    static TLS: AtomicU64 = AtomicU64::new(u64::MAX);
    let v = TLS.load(Ordering::Relaxed);
    if v != u64::MAX {
        return ((v >> 16) as usize, (v & 0xffff) as usize);
    }
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        out: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: glibc hands a valid dl_phdr_info; `out` is the `(usize, usize)` below.
        unsafe {
            let info = &*info;
            for i in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type == libc::PT_TLS {
                    *out.cast::<(usize, usize)>() = (ph.p_memsz as usize, ph.p_align as usize);
                }
            }
        }
        1 // the first object is the executable: stop there
    }
    let mut found = (0usize, 1usize);
    // SAFETY: the callback only reads what glibc hands it and writes `found`.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut found as *mut (usize, usize)).cast()) };
    let (memsz, align) = (found.0.min(1 << 47), found.1.clamp(1, 0x8000));
    TLS.store(((memsz as u64) << 16) | align as u64, Ordering::Relaxed);
    (memsz, align)
}

/// Whether `addr` lies in the calling thread's TLS block of the executable (x86-64's TLS
/// variant II: the block ends at the thread pointer).
fn in_static_tls(addr: usize) -> bool {
    let (memsz, align) = exe_tls();
    if memsz == 0 {
        return false;
    }
    let tp: usize;
    // SAFETY: on x86-64 glibc, `%fs:0` holds the thread pointer (the TCB points to itself).
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    let span = memsz.next_multiple_of(align) + align;
    addr < tp && addr >= tp.saturating_sub(span)
}
