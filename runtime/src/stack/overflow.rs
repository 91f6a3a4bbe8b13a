//! The stack-overflow reporter: a `SIGSEGV`/`SIGBUS` handler that recognises a fault in the
//! guard page of the greenlet running on this thread, names it, and aborts.
//!
//! It works the same for both guard modes: a touch of a lightweight guard region
//! (`MADV_GUARD_INSTALL`) and of a `PROT_NONE` page both raise `SIGSEGV` with the faulting
//! address in `si_addr`.

use std::cell::Cell;
use std::sync::Once;

use super::slab::RawStack;
use super::{page_size, PooledStack};

thread_local! {
    /// What the overflow handler needs to know about the greenlet running on this thread,
    /// or null when none is. Written on every resume, read from the signal handler.
    static RUNNING: Cell<*const StackInfo> = const { Cell::new(std::ptr::null()) };
}

/// What the overflow handler prints about a greenlet. The owner's record (an explicit
/// greenlet's or a hub greenlet's) holds it; the handler finds the running one through the
/// explicit layer's `CURRENT` pointer, then the hub's current task, then `RUNNING` (set only
/// while a suspended greenlet is unwound by a drop).
#[derive(Clone)]
pub(crate) struct StackInfo {
    /// The stack: its guard page and usable size.
    stack: RawStack,
    /// Greenlet id, printed when it has no name.
    id: u64,
    /// Greenlet name, if any.
    name: Option<Box<str>>,
}

impl StackInfo {
    /// The record for greenlet `id` (named `name`) running on `stack`.
    pub(crate) fn new(stack: &PooledStack, id: u64, name: Option<Box<str>>) -> StackInfo {
        StackInfo {
            stack: stack.raw(),
            id,
            name,
        }
    }
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

pub(crate) fn install_overflow_handler() {
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
        let guard_lo = s.stack.lo();
        if addr >= guard_lo.saturating_sub(page_size()) && addr < guard_lo + page_size() {
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
    w.num(s.stack.size() as u64);
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
