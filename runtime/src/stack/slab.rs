//! The process-wide stack pool: slabs of guarded stacks, the idle budget, and the headroom
//! checks that refuse a new slab while the process still has room to do everything else.
//!
//! A slab is one `mmap` (`MAP_NORESERVE`) of up to [`MAX_SLAB_STACKS`] slots of one stack size.
//! A slot is a guard page followed by the usable stack. Slots are carved in address order the
//! first time they are needed, and their guard is installed then (one `madvise` or `mprotect`),
//! so a slab that is only partly used never pays for the rest.
//!
//! Everything here runs under one mutex, and only when a thread's own warm pool (see the parent
//! module) runs empty or overflows: never on the spawn/finish fast path.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use super::{page_size, GuardMode, RESERVED_ADDRESS_SPACE, RESERVED_MAP_ENTRIES};

/// `madvise` advice that installs guard markers in the page tables (Linux 6.13+); not in the
/// `libc` crate yet. Source: linux `include/uapi/asm-generic/mman-common.h`.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The most stacks one slab holds. Slabs grow from 16 slots, doubling with each slab of the
/// same size class, up to this many (and at most [`MAX_SLAB_BYTES`]).
pub(crate) const MAX_SLAB_STACKS: usize = 4096;

/// The most address space one slab spans (1 GiB).
const MAX_SLAB_BYTES: usize = 1 << 30;

/// With `mprotect` guards every stack is two map entries anyway; small slabs let whole slabs go
/// back (with their entries) sooner.
const MAX_SLAB_STACKS_MPROTECT: usize = 64;

/// A carved stack slot, owned by whoever holds it.
///
/// Packed into one word (every greenlet record holds one, twice): the slot's page number in
/// the high 36 bits (user addresses are below 2^48), its usable size in pages in the low 28
/// (stacks up to 1 TiB less one page; [`RawStack::new`] refuses more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawStack(std::num::NonZeroU64);

/// Bits of [`RawStack`] that hold the size in pages.
const SIZE_BITS: u32 = 28;

impl RawStack {
    /// The slot at `lo` (page-aligned, nonzero) with `size` usable bytes (whole pages).
    pub(crate) fn new(lo: usize, size: usize) -> RawStack {
        let page = page_size();
        debug_assert!(lo % page == 0 && size % page == 0 && size / page < 1 << SIZE_BITS);
        let packed = ((lo / page) as u64) << SIZE_BITS | (size / page) as u64;
        RawStack(std::num::NonZeroU64::new(packed).expect("a mapped slot is not at address 0"))
    }

    /// Start of the slot: the guard page's first byte.
    pub(crate) fn lo(self) -> usize {
        (self.0.get() >> SIZE_BITS) as usize * page_size()
    }

    /// Usable bytes above the guard page.
    pub(crate) fn size(self) -> usize {
        (self.0.get() & ((1 << SIZE_BITS) - 1)) as usize * page_size()
    }

    /// One past the highest usable byte: where the stack starts growing down from.
    pub(crate) fn base(self) -> usize {
        self.lo() + page_size() + self.size()
    }
}

/// The largest usable stack size a [`RawStack`] can describe.
pub(crate) fn max_stack_size() -> usize {
    ((1usize << SIZE_BITS) - 1) * page_size()
}

/// One mapping of `cap` slots.
struct Slab {
    /// Bytes mapped (`cap` slots).
    len: usize,
    /// Number of slots.
    cap: usize,
    /// Slots carved so far (guards installed); slots `carved..cap` are untouched.
    carved: usize,
    /// Carved slots not in the global pool: in use, or in some thread's warm pool.
    out: usize,
    /// Idle slots whose pages may still be committed.
    warm: Vec<u32>,
    /// Idle slots whose pages were given back (`MADV_FREE`/`MADV_DONTNEED`).
    cold: Vec<u32>,
}

/// The slabs of one stack size.
struct Class {
    /// Usable stack size of this class.
    size: usize,
    /// Slabs keyed by start address (so a returned stack finds its slab).
    slabs: BTreeMap<usize, Slab>,
    /// The slab new stacks were last carved from (a hint: it may be full or gone).
    carving: usize,
}

/// Process-wide pool state, behind [`GLOBAL`].
struct Global {
    /// One entry per stack size in use (few exist).
    classes: Vec<Class>,
    /// Carved stacks currently mapped (in use, or idle anywhere).
    stacks: usize,
    /// Slabs currently mapped.
    slabs: usize,
    /// Bytes of address space in mapped slabs.
    bytes: usize,
    /// Idle stacks in this pool (`warm + cold` summed over slabs).
    idle: usize,
    /// Idle stacks whose pages may be committed.
    warm: usize,
    /// Slabs with no stack out (every carved slot idle here).
    empty_slabs: usize,
    /// Most carved stacks allowed (`set_max_stacks`); `usize::MAX` for no cap.
    max_stacks: usize,
    /// Idle stacks kept before whole slabs are unmapped and pages released.
    idle_budget: usize,
    /// Upper estimate of the process's memory-map entries, refreshed from `/proc/self/maps`
    /// when it gets near the limit; `None` until first read.
    maps_estimate: Option<usize>,
}

/// The pool. Locked only off the fast path, and by the fork handlers (see [`lock`]).
///
/// A std mutex: unlocking it in a forked child is one atomic swap (and a futex wake), with
/// no other lock involved.
static GLOBAL: Mutex<Global> = Mutex::new(Global {
    classes: Vec::new(),
    stacks: 0,
    slabs: 0,
    bytes: 0,
    idle: 0,
    warm: 0,
    empty_slabs: 0,
    max_stacks: usize::MAX,
    idle_budget: super::DEFAULT_IDLE_BUDGET,
    maps_estimate: None,
});

thread_local! {
    /// The pool's guard held by the forking thread from the `pthread_atfork` prepare handler
    /// to the parent and child handlers.
    static FORK_GUARD: RefCell<Option<MutexGuard<'static, Global>>> = const { RefCell::new(None) };
}

/// Locks the pool. The first call installs `pthread_atfork` handlers that hold the lock
/// across every `fork()`, so a child never inherits it held by a thread that does not exist
/// there (its greenlets would hang at their next spawn).
fn lock() -> MutexGuard<'static, Global> {
    static ATFORK: Once = Once::new();
    ATFORK.call_once(|| {
        // SAFETY: the handlers are `extern "C" fn()`s; prepare takes the pool's lock (never
        // held by the thread that forks: no pool code forks), parent and child release it.
        let r = unsafe {
            libc::pthread_atfork(Some(fork_prepare), Some(fork_release), Some(fork_release))
        };
        assert_eq!(r, 0, "sprout: pthread_atfork failed");
    });
    GLOBAL.lock().unwrap_or_else(PoisonError::into_inner)
}

extern "C" fn fork_prepare() {
    let g = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = FORK_GUARD.try_with(|s| *s.borrow_mut() = Some(g));
}

extern "C" fn fork_release() {
    let _ = FORK_GUARD.try_with(|s| s.borrow_mut().take());
}

/// 0 until decided, then 1 + `GuardMode as u8`.
static MODE: AtomicU8 = AtomicU8::new(0);

/// The guard mode of this process, deciding it on first use: `SPROUT_STACK_GUARDS=mprotect`
/// forces the fallback (any other non-empty value is ignored with a warning on stderr);
/// otherwise a two-page probe mapping tells whether the kernel accepts `MADV_GUARD_INSTALL`.
pub(crate) fn guard_mode() -> GuardMode {
    match MODE.load(Ordering::Acquire) {
        1 => return GuardMode::GuardRegion,
        2 => return GuardMode::Mprotect,
        _ => {}
    }
    let forced = match std::env::var_os("SPROUT_STACK_GUARDS") {
        Some(v) if v == "mprotect" => true,
        Some(v) if !v.is_empty() => {
            eprintln!(
                "sprout: ignoring SPROUT_STACK_GUARDS={}: the accepted value is `mprotect` \
                 (or unset, to choose automatically)",
                v.to_string_lossy()
            );
            false
        }
        _ => false,
    };
    let mode = if forced || !probe_guard_regions() {
        GuardMode::Mprotect
    } else {
        GuardMode::GuardRegion
    };
    // A racing thread probes the same kernel and gets the same answer, or the same variable.
    let _ = MODE.compare_exchange(0, 1 + mode as u8, Ordering::AcqRel, Ordering::Acquire);
    match MODE.load(Ordering::Acquire) {
        1 => GuardMode::GuardRegion,
        _ => GuardMode::Mprotect,
    }
}

/// Whether `MADV_GUARD_INSTALL` works here (Linux 6.13+; older kernels answer `EINVAL`).
fn probe_guard_regions() -> bool {
    let page = page_size();
    let Ok(p) = map(2 * page) else { return false };
    let ok = madvise(p, page, MADV_GUARD_INSTALL).is_ok();
    unmap(p, 2 * page);
    ok
}

/// Fills `out` with up to `want` idle stacks of `size` bytes, or carves one new stack when the
/// pool has none. Returns the error that refused the new stack, if any.
pub(crate) fn take(size: usize, want: usize, out: &mut Vec<RawStack>) -> io::Result<()> {
    let mode = guard_mode();
    let mut g = lock();
    let g = &mut *g;
    let ci = class_index(&mut g.classes, size);
    if g.idle > 0 {
        let class = &mut g.classes[ci];
        // Lowest slabs first, warm stacks before cold: high slabs drain and can be unmapped.
        for pass in 0..2 {
            for (&lo, slab) in class.slabs.iter_mut() {
                while out.len() < want {
                    let list = if pass == 0 {
                        &mut slab.warm
                    } else {
                        &mut slab.cold
                    };
                    let Some(i) = list.pop() else { break };
                    if slab.out == 0 {
                        g.empty_slabs -= 1;
                    }
                    slab.out += 1;
                    g.idle -= 1;
                    if pass == 0 {
                        g.warm -= 1;
                    }
                    out.push(RawStack::new(lo + i as usize * slot_len(size), size));
                }
                if out.len() == want {
                    return Ok(());
                }
            }
        }
        if !out.is_empty() {
            return Ok(());
        }
    }
    carve(g, ci, mode).map(|s| out.push(s))
}

/// Carves one new stack from the newest slab of class `ci`, mapping a slab when none has room.
fn carve(g: &mut Global, ci: usize, mode: GuardMode) -> io::Result<RawStack> {
    let size = g.classes[ci].size;
    if g.stacks >= g.max_stacks {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot create a {size}-byte greenlet stack: the process has {} greenlet stacks, \
                 the limit set with sprout::stack::set_max_stacks",
                g.stacks
            ),
        ));
    }
    let slot = slot_len(size);
    let page = page_size();
    let class = &g.classes[ci];
    let has_room = match class.slabs.get(&class.carving) {
        Some(s) if s.carved < s.cap => Some(class.carving),
        _ => class
            .slabs
            .iter()
            .find(|(_, s)| s.carved < s.cap)
            .map(|(&lo, _)| lo),
    };
    let lo = match has_room {
        Some(lo) => lo,
        None => new_slab(g, ci, mode)?,
    };
    g.classes[ci].carving = lo;
    let slab = g.classes[ci].slabs.get_mut(&lo).expect("slab just found");
    let stack = RawStack::new(lo + slab.carved * slot, size);
    let guarded = match mode {
        GuardMode::GuardRegion => madvise(stack.lo(), page, MADV_GUARD_INSTALL),
        // SAFETY: the guard page lies inside this slab's own mapping, which nothing uses yet.
        GuardMode::Mprotect => crate::sys::syscall!(mprotect(
            stack.lo() as *mut libc::c_void,
            page,
            libc::PROT_NONE
        ))
        .map(drop),
    };
    if let Err(e) = guarded {
        // Never hand out a stack without its guard.
        if slab.carved == 0 {
            let len = slab.len;
            g.classes[ci].slabs.remove(&lo);
            g.slabs -= 1;
            g.bytes -= len;
            unmap(lo, len);
        }
        return Err(io::Error::new(
            e.kind(),
            format!("cannot install the guard page of a {size}-byte greenlet stack: {e}"),
        ));
    }
    slab.carved += 1;
    slab.out += 1;
    g.stacks += 1;
    Ok(stack)
}

/// Maps a new slab for class `ci` after the headroom checks; returns its start address.
fn new_slab(g: &mut Global, ci: usize, mode: GuardMode) -> io::Result<usize> {
    let size = g.classes[ci].size;
    let slot = slot_len(size);
    let max = match mode {
        GuardMode::GuardRegion => MAX_SLAB_STACKS,
        GuardMode::Mprotect => MAX_SLAB_STACKS_MPROTECT,
    };
    let grown = 16usize << g.classes[ci].slabs.len().min(16);
    let mut cap = grown.min(max).min((MAX_SLAB_BYTES / slot).max(1));
    // Shrink the slab until it fits the headroom, down to one stack.
    let len = loop {
        let len = cap * slot;
        let maps = match mode {
            // The slab, plus one more should an unmap beside it split a neighbour.
            GuardMode::GuardRegion => 2,
            // Every stack ends up as a guard entry plus a stack entry.
            GuardMode::Mprotect => 2 * cap + 1,
        };
        match headroom(g, len, maps, size, mode) {
            Ok(()) => break len,
            Err(e) if cap == 1 => return Err(e),
            Err(_) => cap /= 2,
        }
    };
    let lo = map(len).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot map {len} bytes for {size}-byte greenlet stacks: {e}"),
        )
    })?;
    g.slabs += 1;
    g.bytes += len;
    g.classes[ci].slabs.insert(
        lo,
        Slab {
            len,
            cap,
            carved: 0,
            out: 0,
            warm: Vec::new(),
            cold: Vec::new(),
        },
    );
    Ok(lo)
}

/// Refuses a new mapping of `len` bytes needing `maps` more map entries unless the process keeps
/// [`RESERVED_MAP_ENTRIES`] map entries and [`RESERVED_ADDRESS_SPACE`] bytes for everything else.
fn headroom(
    g: &mut Global,
    len: usize,
    maps: usize,
    size: usize,
    mode: GuardMode,
) -> io::Result<()> {
    let limit = max_map_count();
    let reserve = RESERVED_MAP_ENTRIES.min(limit / 2);
    let fits = |n: usize| n + maps + reserve <= limit;
    let est = match g.maps_estimate {
        Some(n) if fits(n) => n,
        // Near the limit (or never read): count the real entries; other code maps too.
        _ => {
            let n = count_maps()?;
            g.maps_estimate = Some(n);
            n
        }
    };
    if !fits(est) {
        let per = match mode {
            GuardMode::GuardRegion => "guard regions cost no entry of their own",
            GuardMode::Mprotect => "in the mprotect guard mode each stack takes two entries",
        };
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot map a {size}-byte greenlet stack: the process has {est} memory mappings \
                 and vm.max_map_count is {limit}; sprout keeps {reserve} free for threads and \
                 allocations ({per}); raise it (sysctl -w vm.max_map_count=262144) or keep \
                 fewer greenlets alive"
            ),
        ));
    }
    g.maps_estimate = Some(est + maps);
    address_space_headroom(len, size)
}

/// The address-space half of [`headroom`]: `RLIMIT_AS`, and the commit limit when the kernel
/// does strict overcommit accounting (`vm.overcommit_memory=2` ignores `MAP_NORESERVE`).
fn address_space_headroom(len: usize, size: usize) -> io::Result<()> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) } == 0
        && rl.rlim_cur != libc::RLIM_INFINITY
    {
        let used = statm_size_bytes();
        let limit = rl.rlim_cur as usize;
        if used + len + RESERVED_ADDRESS_SPACE > limit {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "cannot map {len} bytes for {size}-byte greenlet stacks: the process uses \
                     {used} bytes of address space and RLIMIT_AS is {limit}; sprout keeps \
                     {RESERVED_ADDRESS_SPACE} bytes free for threads and allocations; raise \
                     the limit (ulimit -v) or keep fewer greenlets alive"
                ),
            ));
        }
    }
    if overcommit_strict() {
        let (limit, committed) = commit_limit();
        if committed + len + RESERVED_ADDRESS_SPACE > limit {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "cannot map {len} bytes for {size}-byte greenlet stacks: \
                     vm.overcommit_memory=2 and {committed} of the {limit}-byte commit limit \
                     are committed; sprout keeps {RESERVED_ADDRESS_SPACE} bytes free for \
                     threads and allocations"
                ),
            ));
        }
    }
    Ok(())
}

/// Returns stacks to the pool, then applies the idle budget.
pub(crate) fn give_back(stacks: &[RawStack]) {
    if stacks.is_empty() {
        return;
    }
    let mut g = lock();
    let g = &mut *g;
    for s in stacks {
        let (s_lo, size) = (s.lo(), s.size());
        let ci = class_index(&mut g.classes, size);
        let (&lo, slab) = g.classes[ci]
            .slabs
            .range_mut(..=s_lo)
            .next_back()
            .expect("a returned stack belongs to a mapped slab");
        debug_assert!(s_lo < lo + slab.len);
        slab.warm.push(((s_lo - lo) / slot_len(size)) as u32);
        slab.out -= 1;
        if slab.out == 0 {
            g.empty_slabs += 1;
        }
        g.idle += 1;
        g.warm += 1;
    }
    let budget = g.idle_budget;
    enforce(g, budget, libc::MADV_FREE);
}

/// Unmaps wholly idle slabs while more than `budget` stacks are idle, then releases the pages
/// of warm idle stacks (with `advice`) while more than `budget` are warm.
fn enforce(g: &mut Global, budget: usize, advice: libc::c_int) {
    if g.idle > budget && g.empty_slabs > 0 {
        for class in &mut g.classes {
            let empty: Vec<usize> = class
                .slabs
                .iter()
                .filter(|(_, s)| s.out == 0)
                .map(|(&lo, _)| lo)
                .collect();
            for lo in empty {
                if g.idle <= budget {
                    break;
                }
                let slab = class.slabs.remove(&lo).expect("listed above");
                unmap(lo, slab.len);
                g.empty_slabs -= 1;
                g.slabs -= 1;
                g.bytes -= slab.len;
                g.stacks -= slab.carved;
                g.idle -= slab.carved;
                g.warm -= slab.warm.len();
            }
        }
    }
    // Hysteresis: stacks usually come back slab by slab, and a wholly idle slab is unmapped
    // above, so pages are released one stack at a time only past twice the budget.
    if g.warm > budget.saturating_mul(2) || (budget == 0 && g.warm > 0) {
        let page = page_size();
        for class in &mut g.classes {
            let slot = slot_len(class.size);
            // Highest slabs first: they are the ones `take` reaches last.
            for (&lo, slab) in class.slabs.iter_mut().rev() {
                while g.warm > budget {
                    let Some(i) = slab.warm.pop() else { break };
                    let start = lo + i as usize * slot + page;
                    // Best effort: a failure leaves the pages committed, nothing worse.
                    let _ = madvise(start, class.size, advice);
                    slab.cold.push(i);
                    g.warm -= 1;
                }
            }
        }
    }
}

/// Releases every idle stack of the pool: wholly idle slabs are unmapped, the pages of the rest
/// are dropped with `MADV_DONTNEED`.
pub(crate) fn trim() {
    let mut g = lock();
    enforce(&mut g, 0, libc::MADV_DONTNEED);
}

/// Sets the stack cap (see `set_max_stacks`).
pub(crate) fn set_max_stacks(n: usize) {
    lock().max_stacks = n;
}

/// Sets the idle budget and applies it now.
pub(crate) fn set_idle_budget(n: usize) {
    let mut g = lock();
    g.idle_budget = n;
    enforce(&mut g, n, libc::MADV_FREE);
}

/// The idle budget.
pub(crate) fn idle_budget() -> usize {
    lock().idle_budget
}

/// A snapshot of the pool's counters: (stacks, idle, slabs, bytes).
pub(crate) fn counters() -> (usize, usize, usize, usize) {
    let g = lock();
    (g.stacks, g.idle, g.slabs, g.bytes)
}

fn class_index(classes: &mut Vec<Class>, size: usize) -> usize {
    match classes.iter().position(|c| c.size == size) {
        Some(i) => i,
        None => {
            classes.push(Class {
                size,
                slabs: BTreeMap::new(),
                carving: 0,
            });
            classes.len() - 1
        }
    }
}

/// Bytes per slot: the guard page and the stack.
fn slot_len(size: usize) -> usize {
    size + page_size()
}

fn map(len: usize) -> io::Result<usize> {
    // SAFETY: a fresh private anonymous mapping; the kernel picks the address.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p as usize)
    }
}

fn unmap(lo: usize, len: usize) {
    // SAFETY: `[lo, lo + len)` is one whole mapping of ours with no stack in use in it.
    unsafe {
        libc::munmap(lo as *mut libc::c_void, len);
    }
}

fn madvise(lo: usize, len: usize, advice: libc::c_int) -> io::Result<()> {
    crate::sys::syscall!(madvise(lo as *mut libc::c_void, len, advice)).map(drop)
}

/// `vm.max_map_count`, read once (65530, the kernel default, if unreadable).
fn max_map_count() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65530)
    })
}

/// Lines of `/proc/self/maps`, counted through a fixed buffer.
fn count_maps() -> io::Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open("/proc/self/maps")?;
    let mut buf = [0u8; 16 * 1024];
    let mut n = 0;
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += buf[..k].iter().filter(|&&b| b == b'\n').count(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The process's address-space size (`VmSize`), from `/proc/self/statm`.
fn statm_size_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .map_or(0, |pages| pages * page_size())
}

fn overcommit_strict() -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STRICT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|s| s.trim() == "2")
    })
}

/// `CommitLimit` and `Committed_AS` from `/proc/meminfo`, in bytes.
fn commit_limit() -> (usize, usize) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("CommitLimit:"), field("Committed_AS:"))
}
