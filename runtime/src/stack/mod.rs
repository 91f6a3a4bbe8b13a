//! Greenlet stacks: slabs of guarded stacks, pooled process-wide, and the stack-overflow
//! reporter.
//!
//! ```
//! // Which guard mode this process uses, and what the pool holds right now.
//! let h = sprout::spawn(|| 1 + 1);
//! assert_eq!(h.join().unwrap(), 2);
//! let stats = sprout::stack::stats();
//! println!("{:?}: {} stacks in {} slabs", stats.guard_mode, stats.stacks, stats.slabs);
//! // Give every idle stack back to the kernel.
//! sprout::stack::trim();
//! ```
//!
//! # Slabs and the two guard modes
//!
//! Stacks are carved from slabs: one `mmap` (`MAP_NORESERVE`, so address space only; pages
//! are committed when touched) holds up to 4,096 stacks of one size (at most 1 GiB), each with
//! a guard page below it. How the guard page is made is the process's [`GuardMode`]:
//!
//! - [`GuardMode::GuardRegion`] (Linux 6.13 and later): `madvise(MADV_GUARD_INSTALL)` puts the
//!   guard into the page tables without splitting the mapping, so a slab of 4,096 guarded stacks
//!   is one entry of `/proc/self/maps`. A million parked greenlets (256 GiB of address space at
//!   the default 256 KiB) fit under Linux's default `vm.max_map_count` of 65,530.
//! - [`GuardMode::Mprotect`], the fallback where the kernel refuses guard regions (`EINVAL`
//!   before 6.13): each guard page is `mprotect(PROT_NONE)`, which splits the slab, so every
//!   stack costs two map entries and the default limit allows about 30,000 live stacks.
//!
//! A stack is never handed out without its guard. [`guard_mode`] (or [`stats`]) says which mode
//! is in use; it is decided once per process by trying `MADV_GUARD_INSTALL` on a probe page.
//! Setting the environment variable `SPROUT_STACK_GUARDS=mprotect` before the first greenlet
//! forces the fallback (tests use it to cover kernels other than the one they run on); any other
//! non-empty value is ignored with a one-line warning on stderr.
//!
//! # Pooling and the idle budget
//!
//! A finished greenlet's stack goes back to the warm pool of its thread (the last one in a
//! single slot, up to 64 more per size in a list): spawning on a warm stack makes no syscall and
//! takes no lock. When a thread's pool overflows, half of it moves to the process-wide pool;
//! when it runs empty it takes up to 32 from there (one lock per batch), and only when the
//! process-wide pool is empty too is a new stack carved from a slab (one `madvise` or
//! `mprotect` for its guard, and one `mmap` per new slab). So a burst on one hub leaves its
//! stacks to the others.
//!
//! The process-wide pool keeps at most [`idle_budget`] idle stacks (default
//! [`DEFAULT_IDLE_BUDGET`], set with [`set_idle_budget`]). Beyond it, slabs whose every stack is
//! idle are unmapped; once more than twice the budget of idle stacks still hold pages (stacks
//! scattered over slabs that are partly in use), those beyond the budget are released with
//! `MADV_FREE`.
//! [`trim`] releases everything idle now: whole idle slabs are unmapped, other idle stacks'
//! pages dropped with `MADV_DONTNEED`. Each thread's own warm pool (at most 65 stacks per size)
//! returns to the process-wide pool when it overflows or when the thread exits.
//!
//! # Headroom
//!
//! A new slab is refused, with an [`io::ErrorKind::OutOfMemory`] error that names the limit,
//! while the process still has room for everything else: it must leave
//! [`RESERVED_MAP_ENTRIES`] (4,096) entries below `vm.max_map_count` and
//! [`RESERVED_ADDRESS_SPACE`] (512 MiB) below `RLIMIT_AS` (and below the commit limit when
//! `vm.overcommit_memory` is 2). Before refusing, a smaller slab is tried, down to one stack.
//! So after `Builder::spawn` reports the error the process can still start threads, allocate
//! and print: reaching the limit never hangs or aborts it. [`set_max_stacks`] adds a cap of
//! its own on the number of stacks.
//!
//! # Overflow
//!
//! A stack overflow hits the guard page and raises `SIGSEGV` in both modes. The handler
//! installed here compares the fault address with the guard page of the greenlet running on
//! this thread; on a match it writes one line naming the greenlet and its stack size to stderr
//! and aborts. Other faults go to the handler that was installed before (std's own).

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

mod overflow;
mod slab;

pub(crate) use overflow::{enter, leave, StackInfo};
use slab::RawStack;

/// The stack size a greenlet gets when its builder names none (256 KiB).
///
/// Address space is cheap and pages are committed only when touched, so a parked greenlet
/// that used little of its stack costs one or two pages of memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Idle stacks the process-wide pool keeps before it releases memory (see [`set_idle_budget`]).
pub const DEFAULT_IDLE_BUDGET: usize = 16 * 1024;

/// Memory-map entries a new slab must leave free below `vm.max_map_count` (or half the limit,
/// if that is smaller), for threads, allocations and the error report.
pub const RESERVED_MAP_ENTRIES: usize = 4096;

/// Bytes of address space a new slab must leave free below `RLIMIT_AS` (and the commit limit
/// under strict overcommit): 512 MiB.
pub const RESERVED_ADDRESS_SPACE: usize = 512 << 20;

/// Idle stacks of one size a thread keeps for itself before half go to the process-wide pool.
const LOCAL_CAP: usize = 64;

/// Stacks a thread takes from the process-wide pool at once when its own runs empty.
const REFILL: usize = 32;

/// How guard pages are made in this process (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuardMode {
    /// Lightweight guard regions (`madvise(MADV_GUARD_INSTALL)`, Linux 6.13+): no map entry of
    /// their own, so a slab of stacks is one entry of `/proc/self/maps`.
    GuardRegion = 0,
    /// `mprotect(PROT_NONE)` guard pages: two map entries per stack.
    Mprotect = 1,
}

/// The guard mode of this process, decided on first use (see the module docs).
pub fn guard_mode() -> GuardMode {
    slab::guard_mode()
}

/// A snapshot of the process's stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackStats {
    /// How guard pages are made.
    pub guard_mode: GuardMode,
    /// Stacks mapped: in use, or idle in any pool.
    pub stacks: usize,
    /// Idle stacks in the process-wide pool (threads' own warm pools not counted).
    pub idle: usize,
    /// Slabs mapped.
    pub slabs: usize,
    /// Bytes of address space the slabs span.
    pub bytes: usize,
}

/// The process's stack counters.
pub fn stats() -> StackStats {
    let (stacks, idle, slabs, bytes) = slab::counters();
    StackStats {
        guard_mode: guard_mode(),
        stacks,
        idle,
        slabs,
        bytes,
    }
}

/// Releases every idle stack: this thread's warm pool goes back to the process-wide pool,
/// whose wholly idle slabs are unmapped and whose other idle stacks lose their pages
/// (`MADV_DONTNEED`). Stacks in use, and other threads' warm pools, are untouched.
pub fn trim() {
    flush_local();
    slab::trim();
}

/// Caps the number of stacks the process maps (in use and idle), on top of the kernel's limits
/// (see Headroom in the module docs); `usize::MAX`, the default, means no cap of its own.
///
/// Past the cap `sprout::Builder::spawn` returns an [`io::ErrorKind::OutOfMemory`] error that
/// names this function, and `sprout::spawn` panics with it. Stacks already mapped are kept.
pub fn set_max_stacks(n: usize) {
    slab::set_max_stacks(n);
}

/// Sets how many idle stacks the process-wide pool keeps before unmapping wholly idle slabs
/// and releasing pages (default [`DEFAULT_IDLE_BUDGET`]); applies it at once.
pub fn set_idle_budget(n: usize) {
    slab::set_idle_budget(n);
}

/// The process-wide idle budget (see [`set_idle_budget`]).
pub fn idle_budget() -> usize {
    slab::idle_budget()
}

/// The process-wide default stack size; 0 means [`DEFAULT_STACK_SIZE`].
static DEFAULT_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Sets the stack size used by greenlets created without an explicit size, on every thread.
pub fn set_default_stack_size(size: usize) {
    DEFAULT_SIZE.store(size, Ordering::Relaxed);
}

/// The stack size used by greenlets created without an explicit size.
pub fn default_stack_size() -> usize {
    match DEFAULT_SIZE.load(Ordering::Relaxed) {
        0 => DEFAULT_STACK_SIZE,
        n => n,
    }
}

/// Number of greenlet stacks the process has mapped, in use or idle ([`StackStats::stacks`]).
///
/// Tests use it to show that stacks are reused rather than carved afresh.
pub fn mapped_stacks() -> usize {
    slab::counters().0
}

/// Number of idle stacks in this thread's warm pool and the process-wide pool.
pub fn pooled_stacks() -> usize {
    let last = LAST.with(|l| {
        let s = l.take();
        let n = usize::from(s.is_some());
        l.set(s);
        n
    });
    let local = LOCAL.with(|p| {
        p.borrow()
            .buckets
            .iter()
            .map(|(_, v)| v.len())
            .sum::<usize>()
    });
    last + local + slab::counters().1
}

/// A guarded greenlet stack from a slab, on loan to one greenlet.
///
/// Dropping it (rather than [`recycle`](Self::recycle)) returns it to the process-wide pool.
pub(crate) struct PooledStack {
    /// The slot: guard page, then `size` usable bytes.
    raw: RawStack,
    /// `raw.base()`, kept unpacked: corosensei asks for it on every resume.
    base: corosensei::stack::StackPointer,
}

impl PooledStack {
    /// Takes a stack of at least `size` usable bytes: from this thread's warm pool, else the
    /// process-wide pool, else a slab.
    ///
    /// # Errors
    /// When a new stack is needed and the headroom checks, the cap, or the kernel refuse it.
    pub(crate) fn take(size: usize) -> io::Result<PooledStack> {
        // The last stack given back, if it has the right size: spawn, finish, spawn again
        // reuses it without touching the pool (a size in whole pages needs no rounding).
        let last = LAST.with(Cell::take);
        if let Some(stack) = &last {
            if stack.raw.size() == size {
                return Ok(last.expect("checked above"));
            }
        }
        let size = class_size(size)?;
        if let Some(stack) = last {
            if stack.raw.size() == size {
                return Ok(stack);
            }
            stack.recycle_to_local();
        }
        if let Some(stack) = LOCAL.with(|p| p.borrow_mut().pop(size)) {
            return Ok(stack);
        }
        Self::refill(size)
    }

    /// The slow path of [`take`](Self::take): a batch from the process-wide pool, or a new stack.
    #[cold]
    fn refill(size: usize) -> io::Result<PooledStack> {
        overflow::install_overflow_handler();
        let mut got = Vec::with_capacity(REFILL);
        slab::take(size, REFILL, &mut got)?;
        let first = PooledStack::from_raw(got.pop().expect("take returns a stack or an error"));
        LOCAL.with(|p| {
            let mut p = p.borrow_mut();
            for raw in got {
                p.push(PooledStack::from_raw(raw));
            }
        });
        Ok(first)
    }

    /// Gives the stack back to this thread's warm pool.
    pub(crate) fn recycle(self) {
        let previous = LAST.try_with(|l| l.replace(Some(self)));
        match previous {
            Ok(Some(older)) => older.recycle_to_local(),
            Ok(None) => {}
            // Thread exiting: `self` was dropped (returned to the process-wide pool).
            Err(_) => {}
        }
    }

    fn recycle_to_local(self) {
        let _ = LOCAL.try_with(|p| match p.try_borrow_mut() {
            Ok(mut p) => p.push(self),
            Err(_) => drop(self),
        });
    }

    /// Puts a slot taken from the process-wide pool on loan.
    fn from_raw(raw: RawStack) -> PooledStack {
        PooledStack {
            raw,
            base: corosensei::stack::StackPointer::new(raw.base()).expect("a mapped address"),
        }
    }

    /// Ends the loan without returning the stack anywhere.
    fn into_raw(self) -> RawStack {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The slot this stack occupies (for the overflow record).
    pub(crate) fn raw(&self) -> RawStack {
        self.raw
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        slab::give_back(&[self.raw]);
    }
}

// SAFETY: `[limit, base)` is one slot of a slab mapping that stays mapped while this value
// exists (a slab is unmapped only when none of its stacks is on loan); its lowest page is a
// guard (installed before the slot was first handed out, never removed), and the usable part is
// at least one page (`class_size`), aligned to the page size.
unsafe impl corosensei::stack::Stack for PooledStack {
    #[inline]
    fn base(&self) -> corosensei::stack::StackPointer {
        self.base
    }
    #[inline]
    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.raw.lo()).expect("a mapped address")
    }
}

/// The usable size a request for `size` bytes gets: whole pages, at least corosensei's minimum.
///
/// # Errors
/// `InvalidInput` for more than 1 TiB less one page (the largest size a slot can describe).
fn class_size(size: usize) -> io::Result<usize> {
    let page = page_size();
    let max = slab::max_stack_size();
    if size > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a greenlet stack of {size} bytes is larger than the {max} bytes \
                 (1 TiB less one page) sprout supports"
            ),
        ));
    }
    Ok(size.max(corosensei::stack::MIN_STACK_SIZE).div_ceil(page) * page)
}

/// Idle stacks of one thread, by size.
struct Local {
    /// `(size, stacks)`; few distinct sizes exist, so a vector is enough.
    buckets: Vec<(usize, Vec<PooledStack>)>,
}

impl Local {
    fn pop(&mut self, size: usize) -> Option<PooledStack> {
        self.buckets
            .iter_mut()
            .find(|(s, _)| *s == size)
            .and_then(|(_, v)| v.pop())
    }

    fn push(&mut self, stack: PooledStack) {
        let size = stack.raw.size();
        let i = match self.buckets.iter().position(|(s, _)| *s == size) {
            Some(i) => i,
            None => {
                self.buckets.push((size, Vec::with_capacity(LOCAL_CAP)));
                self.buckets.len() - 1
            }
        };
        let v = &mut self.buckets[i].1;
        if v.len() >= LOCAL_CAP {
            // Overflow: the older half goes to the process-wide pool, for any thread.
            let spill: Vec<RawStack> = v
                .drain(..LOCAL_CAP / 2)
                .map(PooledStack::into_raw)
                .collect();
            slab::give_back(&spill);
        }
        v.push(stack);
    }

    fn drain(&mut self) -> Vec<RawStack> {
        self.buckets
            .iter_mut()
            .flat_map(|(_, v)| v.drain(..))
            .map(PooledStack::into_raw)
            .collect()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        slab::give_back(&self.drain());
    }
}

/// Moves this thread's warm pool (and its last-stack slot) to the process-wide pool.
fn flush_local() {
    let mut all: Vec<RawStack> = LOCAL
        .try_with(|p| {
            p.try_borrow_mut()
                .map(|mut p| p.drain())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    if let Ok(Some(s)) = LAST.try_with(Cell::take) {
        all.push(s.into_raw());
    }
    slab::give_back(&all);
}

thread_local! {
    /// The stack given back last, kept out of the pool for the next `take`.
    static LAST: Cell<Option<PooledStack>> = const { Cell::new(None) };
    /// This thread's warm pool.
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { buckets: Vec::new() }) };
}

fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
            PAGE.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}
