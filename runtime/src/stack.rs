//! Greenlet stacks: a per-thread pool of guarded stacks and the stack-overflow reporter.
//!
//! Every stack is one `mmap` with a `PROT_NONE` guard page at its low end (corosensei's
//! `DefaultStack`). Creating one costs an `mmap` and an `mprotect` (17-20 µs) and two entries in
//! the process's memory map, so finished greenlets hand their stack back to the pool of the
//! thread they ran on and the next greenlet of that size reuses it: in the steady state creating
//! a greenlet makes no syscall.
//!
//! A stack overflow hits the guard page and raises `SIGSEGV`. The handler installed here
//! compares the fault address with the guard page of the greenlet that is running on this
//! thread; on a match it writes one line naming the greenlet and its stack size to stderr and
//! aborts. Other faults are passed to the handler that was installed before (std's own).

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use corosensei::stack::{DefaultStack, Stack as _};

/// The stack size a greenlet gets when its builder names none (256 KiB).
///
/// Address space is cheap and pages are committed only when touched, so a parked greenlet
/// that used little of its stack costs one or two pages of memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// How many idle stacks of one size a thread keeps warm (pages still committed).
const HOT_CAP: usize = 1024;

/// How many more idle stacks of one size a thread keeps cold: their pages are released with
/// `MADV_FREE` (one syscall; reclaimed only under memory pressure) instead of unmapping them (`munmap`, then `mmap` and
/// `mprotect` to map again). They still count against `vm.max_map_count`, hence the cap.
const COLD_CAP: usize = 16 * 1024;

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

/// A guarded greenlet stack, on loan from the pool of the thread that created it.
pub(crate) struct PooledStack {
    /// The mapping; its lowest page is the guard.
    stack: DefaultStack,
    /// The size that was asked for, the key of the pool bucket it returns to.
    size: usize,
}

impl PooledStack {
    /// Takes a stack of `size` bytes from this thread's pool, or maps a new one.
    pub(crate) fn take(size: usize) -> io::Result<PooledStack> {
        // The last stack given back, if it has the right size: spawn, finish, spawn again
        // reuses it without touching the pool.
        if let Some(stack) = LAST.with(Cell::take) {
            if stack.size == size {
                return Ok(stack);
            }
            stack.recycle_to_pool();
        }
        if let Some(stack) = POOL.with(|p| p.borrow_mut().pop(size)) {
            return Ok(stack);
        }
        install_overflow_handler();
        match DefaultStack::new(size) {
            Ok(stack) => {
                MAPPED.with(|m| m.set(m.get() + 1));
                Ok(PooledStack { stack, size })
            }
            Err(e) => Err(map_error(e, size)),
        }
    }

    /// Gives the stack back to this thread's pool (or unmaps it when the pool is full).
    pub(crate) fn recycle(self) {
        let previous = LAST.try_with(|l| l.replace(Some(self)));
        match previous {
            Ok(Some(older)) => older.recycle_to_pool(),
            Ok(None) => {}
            // Thread exiting: `self` was dropped (unmapped) by the failed access.
            Err(_) => {}
        }
    }

    fn recycle_to_pool(self) {
        let _ = POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                p.push(self);
            }
        });
    }

    /// Gives the stack's pages back to the kernel; the mapping (and guard) stays.
    fn release_pages(&self) {
        let lo = self.stack.limit().get() + page_size();
        let hi = self.stack.base().get();
        // SAFETY: `[lo, hi)` is the usable part of this stack's own mapping, and the stack is
        // idle (in the pool), so nothing lives in it; MADV_FREE on private anonymous memory
        // lets the kernel reclaim the pages lazily; a stack needs no particular contents.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_FREE);
        }
    }

    /// The size this stack was created with.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        let lo = self.stack.limit().get();
        (lo, lo + page_size())
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        let _ = MAPPED.try_with(|m| m.set(m.get().saturating_sub(1)));
    }
}

// SAFETY: delegates every method to the `DefaultStack` it owns, which upholds the contract.
unsafe impl corosensei::stack::Stack for PooledStack {
    fn base(&self) -> corosensei::stack::StackPointer {
        self.stack.base()
    }
    fn limit(&self) -> corosensei::stack::StackPointer {
        self.stack.limit()
    }
}

/// Idle stacks of one size.
struct Bucket {
    /// The stack size of this bucket.
    size: usize,
    /// Recently used stacks, pages still committed; reused first.
    hot: Vec<PooledStack>,
    /// Overflow of `hot`, pages released.
    cold: Vec<PooledStack>,
}

/// Idle stacks of one thread, bucketed by size.
struct Pool {
    /// Few distinct sizes exist, so a vector is enough.
    buckets: Vec<Bucket>,
}

impl Pool {
    fn pop(&mut self, size: usize) -> Option<PooledStack> {
        let b = self.buckets.iter_mut().find(|b| b.size == size)?;
        b.hot.pop().or_else(|| b.cold.pop())
    }

    fn push(&mut self, stack: PooledStack) {
        let size = stack.size;
        let i = match self.buckets.iter().position(|b| b.size == size) {
            Some(i) => i,
            None => {
                self.buckets.push(Bucket {
                    size,
                    hot: Vec::new(),
                    cold: Vec::new(),
                });
                self.buckets.len() - 1
            }
        };
        let b = &mut self.buckets[i];
        if b.hot.len() < HOT_CAP {
            b.hot.push(stack);
        } else if b.cold.len() < COLD_CAP {
            stack.release_pages();
            b.cold.push(stack);
        }
        // Otherwise `stack` is dropped here and unmapped.
    }

    fn len(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.hot.len() + b.cold.len())
            .sum()
    }
}

thread_local! {
    /// The stack given back last, kept out of the pool for the next `take`.
    static LAST: Cell<Option<PooledStack>> = const { Cell::new(None) };
    /// This thread's idle stacks.
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { buckets: Vec::new() }) };
    /// How many stacks this thread has mapped and not yet unmapped (pooled or in use).
    static MAPPED: Cell<usize> = const { Cell::new(0) };
    /// What the overflow handler needs to know about the greenlet running on this thread,
    /// or null when none is. Written on every resume, read from the signal handler.
    static RUNNING: Cell<*const StackInfo> = const { Cell::new(std::ptr::null()) };
}

/// Number of greenlet stacks this thread currently has mapped, in use or pooled.
///
/// Tests use it to show that stacks are reused rather than mapped afresh.
pub fn mapped_stacks() -> usize {
    MAPPED.with(|m| m.get())
}

/// Number of idle stacks in this thread's pool.
pub fn pooled_stacks() -> usize {
    let last = LAST.with(|l| {
        let s = l.take();
        let n = usize::from(s.is_some());
        l.set(s);
        n
    });
    POOL.with(|p| p.borrow().len()) + last
}

fn map_error(e: io::Error, size: usize) -> io::Error {
    if e.raw_os_error() == Some(libc::ENOMEM) {
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot map a {size}-byte greenlet stack: the kernel refused (ENOMEM); each guarded \
                 stack takes two memory mappings and the process has likely reached \
                 vm.max_map_count ({limit}); raise it (sysctl -w vm.max_map_count=262144) or keep \
                 fewer greenlets alive"
            ),
        )
    } else {
        io::Error::new(
            e.kind(),
            format!("cannot map a {size}-byte greenlet stack: {e}"),
        )
    }
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

/// What the overflow handler prints about a greenlet. The owner's record (an explicit
/// greenlet's or a hub greenlet's) holds it; the handler finds the running one through the
/// explicit layer's `CURRENT` pointer, then the hub's current task, then `RUNNING` (set only
/// while a suspended greenlet is unwound by a drop).
#[derive(Clone)]
pub(crate) struct StackInfo {
    /// Guard page start.
    pub(crate) guard_lo: usize,
    /// Guard page end (exclusive).
    pub(crate) guard_hi: usize,
    /// Usable stack size in bytes.
    pub(crate) size: usize,
    /// Greenlet id, printed when it has no name.
    pub(crate) id: u64,
    /// Greenlet name, if any.
    pub(crate) name: Option<Box<str>>,
}

/// Marks `info` as the stack now running on this thread; returns the previous one to restore.
#[inline]
pub(crate) fn enter(info: *const StackInfo) -> *const StackInfo {
    RUNNING.with(|r| r.replace(info))
}

/// Restores the running-stack marker saved by [`enter`].
#[inline]
pub(crate) fn leave(prev: *const StackInfo) {
    RUNNING.with(|r| r.set(prev));
}

/// The previously installed SIGSEGV and SIGBUS actions, chained to for faults that are not ours.
static mut PREV_SEGV: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static mut PREV_BUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

fn install_overflow_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installing a signal handler with a zeroed, then filled, sigaction; the
        // previous actions are written before any greenlet stack exists, so the handler never
        // reads them uninitialised (it only runs for faults after this point).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fault as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGSEGV, &sa, (&raw mut PREV_SEGV).cast());
            libc::sigaction(libc::SIGBUS, &sa, (&raw mut PREV_BUS).cast());
        }
    });
    ensure_altstack();
}

/// The overflow handler runs on the alternate signal stack; std gives its own threads one,
/// other threads (C-created) get one here.
fn ensure_altstack() {
    thread_local! {
        static DONE: Cell<bool> = const { Cell::new(false) };
    }
    if DONE.with(|d| d.replace(true)) {
        return;
    }
    // SAFETY: querying the current alternate stack; then, only if there is none, installing a
    // freshly mapped one that is never unmapped (it must outlive the thread's last signal).
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut old) != 0
            || old.ss_flags & libc::SS_DISABLE == 0
        {
            return;
        }
        let size = libc::SIGSTKSZ.max(64 * 1024);
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: size,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    // Only const-initialised, destructor-free thread-locals are read here: no allocation, no
    // lazy initialisation, safe in a signal handler.
    // Any of the three records may name the overflowing stack (an explicit greenlet being
    // drop-unwound inside a hub greenlet is only in `RUNNING`): check each.
    let candidates = [
        crate::greenlet::running_stack_info(),
        crate::hub::running_stack_info(),
        RUNNING.try_with(|r| r.get()).unwrap_or(std::ptr::null()),
    ];
    for running in candidates {
        if running.is_null() {
            continue;
        }
        // SAFETY: each pointer names the `StackInfo` of a greenlet alive on this thread for
        // the whole resume (see `StackInfo`).
        let s = unsafe { &*running };
        // A large frame can step over the guard page by up to a page with stack probes.
        if addr >= s.guard_lo.saturating_sub(page_size()) && addr < s.guard_hi {
            report_overflow(s);
        }
    }
    // SAFETY: PREV_* were filled before this handler could run (see install_overflow_handler).
    let prev = unsafe {
        let slot = if sig == libc::SIGBUS {
            &raw const PREV_BUS
        } else {
            &raw const PREV_SEGV
        };
        (*slot).assume_init_ref()
    };
    if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // SAFETY: restoring the default action; returning re-executes the faulting
        // instruction, which now kills the process with the original signal.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(prev.sa_sigaction) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a plain handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev.sa_sigaction) };
        f(sig);
    }
}

fn report_overflow(s: &StackInfo) -> ! {
    let mut buf = [0u8; 512];
    let mut w = RawWriter {
        buf: &mut buf,
        len: 0,
    };
    w.put(b"sprout: stack overflow in greenlet ");
    match &s.name {
        Some(n) => {
            w.put(b"'");
            w.put(n.as_bytes());
            w.put(b"' (id ");
            w.num(s.id);
            w.put(b")");
        }
        None => {
            w.put(b"#");
            w.num(s.id);
        }
    }
    w.put(b" with a stack of ");
    w.num(s.size as u64);
    w.put(b" bytes; raise its stack size (Builder::stack_size). Aborting.\n");
    let len = w.len;
    // SAFETY: write(2) and abort(3) are async-signal-safe; the buffer is a valid local.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), len);
        libc::abort();
    }
}

/// Formats into a fixed buffer without allocating (signal-handler safe).
struct RawWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl RawWriter<'_> {
    fn put(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}
