//! The real libc functions behind the hooks, found with `dlsym(RTLD_NEXT, name)`, and the
//! thread's `errno`.
//!
//! Every pointer is resolved once, early, by an `.init_array` constructor that runs before
//! `main` (and before any other thread exists); a lazy fallback resolves a pointer on its
//! first use if the constructor did not run (an object file the linker placed without it).
//! After that a real call is one atomic load and an indirect call: `dlsym`, which is not
//! async-signal-safe and may allocate, stays off the pass-through path.
//!
//! `RTLD_NEXT` from this object (the executable, where the hooks are linked) names the next
//! definition in the lookup order, glibc's, so a real call never re-enters a hook. Calls
//! inside glibc (getaddrinfo's sockets, `sleep` calling `nanosleep`) never reach the hooks
//! either: they do not go through the dynamic symbol table.

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    clockid_t, fd_set, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, socklen_t, ssize_t,
    timespec, timeval, useconds_t,
};

/// One real function: its NUL-terminated name and its address once resolved.
pub(crate) struct Sym {
    /// The symbol's name with a trailing NUL, for `dlsym`.
    name: &'static str,
    /// The function's address; 0 until resolved. Written by `resolve` only, always with the
    /// same value, so a racing second resolution is harmless.
    addr: AtomicUsize,
}

impl Sym {
    const fn new(name: &'static str) -> Sym {
        Sym {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The function's address, resolved on first use if the constructor did not.
    #[inline(always)]
    fn get(&self) -> usize {
        let a = self.addr.load(Ordering::Acquire);
        if a != 0 {
            a
        } else {
            self.resolve()
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> usize {
        debug_assert!(self.name.ends_with('\0'));
        // SAFETY: `name` is a NUL-terminated string with static lifetime; RTLD_NEXT is a valid
        // pseudo-handle for dlsym.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr().cast::<c_char>()) };
        if p.is_null() {
            die(self.name);
        }
        self.addr.store(p as usize, Ordering::Release);
        p as usize
    }
}

/// No real function to forward to (a statically linked libc): nothing sound is left to do.
#[cold]
fn die(name: &str) -> ! {
    let msg = b"sprout::monkey: dlsym(RTLD_NEXT) found no libc function named ";
    let name = name.trim_end_matches('\0').as_bytes();
    for part in [&msg[..], name, b"\n"] {
        // SAFETY: writes a live buffer to stderr with the raw syscall (no hook, no allocation).
        unsafe { libc::syscall(libc::SYS_write, 2, part.as_ptr(), part.len()) };
    }
    std::process::abort();
}

/// Declares the real functions: a `Sym` per name, and a safe-to-name `unsafe fn` per name
/// that calls through it with the exact C signature.
macro_rules! real_fns {
    ($( fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty; )*) => {
        /// The symbols, one static each.
        #[allow(non_upper_case_globals)]
        mod sym {
            use super::Sym;
            $( pub(super) static $name: Sym = Sym::new(concat!(stringify!($name), "\0")); )*
        }

        /// Every symbol, for the constructor.
        static ALL: &[&Sym] = &[$( &sym::$name, )*];

        $(
            #[doc = concat!("The real `", stringify!($name), "`.")]
            ///
            /// # Safety
            /// The arguments must satisfy libc's contract for this function.
            #[inline(always)]
            pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                type F = unsafe extern "C" fn($($ty),*) -> $ret;
                let addr = sym::$name.get();
                // SAFETY: the address came from dlsym for this very name, whose C signature
                // is the one spelled here (glibc's, x86-64 Linux); the caller upholds the
                // function's contract.
                unsafe { std::mem::transmute::<usize, F>(addr)($($arg),*) }
            }
        )*
    };
}

real_fns! {
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    fn recvfrom(
        fd: c_int,
        buf: *mut c_void,
        len: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        addrlen: *mut socklen_t,
    ) -> ssize_t;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    fn sendto(
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
        addr: *const sockaddr,
        addrlen: socklen_t,
    ) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int;
    fn select(
        nfds: c_int,
        readfds: *mut fd_set,
        writefds: *mut fd_set,
        exceptfds: *mut fd_set,
        timeout: *mut timeval,
    ) -> c_int;
    fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
    fn clock_nanosleep(
        clock: clockid_t,
        flags: c_int,
        req: *const timespec,
        rem: *mut timespec,
    ) -> c_int;
    fn usleep(usec: useconds_t) -> c_int;
    fn sleep(secs: c_uint) -> c_uint;
    fn close(fd: c_int) -> c_int;
    fn dup(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> c_int;
    fn getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t,
    ) -> c_int;
    fn getaddrinfo(
        node: *const c_char,
        service: *const c_char,
        hints: *const libc::addrinfo,
        res: *mut *mut libc::addrinfo,
    ) -> c_int;
    fn freeaddrinfo(res: *mut libc::addrinfo) -> ();
    fn epoll_wait(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: c_int) -> c_int;
    fn epoll_pwait(
        epfd: c_int,
        events: *mut libc::epoll_event,
        max: c_int,
        timeout: c_int,
        sigmask: *const libc::sigset_t,
    ) -> c_int;
    fn epoll_pwait2(
        epfd: c_int,
        events: *mut libc::epoll_event,
        max: c_int,
        timeout: *const timespec,
        sigmask: *const libc::sigset_t,
    ) -> c_int;
    fn waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t;
    fn wait4(
        pid: libc::pid_t,
        status: *mut c_int,
        options: c_int,
        rusage: *mut libc::rusage,
    ) -> libc::pid_t;
    fn waitid(
        idtype: libc::idtype_t,
        id: libc::id_t,
        info: *mut libc::siginfo_t,
        options: c_int,
    ) -> c_int;
}

/// The variadic functions: called through a variadic pointer type (calling a variadic
/// function is stable Rust; only defining one is not, see the module docs of `monkey`).
#[allow(non_upper_case_globals)]
mod vsym {
    use super::Sym;
    pub(super) static fcntl: Sym = Sym::new("fcntl\0");
    pub(super) static fcntl64: Sym = Sym::new("fcntl64\0");
    pub(super) static ioctl: Sym = Sym::new("ioctl\0");
    pub(super) static syscall: Sym = Sym::new("syscall\0");
}

/// The real `fcntl` with an integer-or-pointer third argument.
///
/// # Safety
/// The arguments must satisfy libc's contract for `fcntl` with `cmd`.
#[inline(always)]
pub(crate) unsafe fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: the address is glibc's `fcntl`, declared `int fcntl(int, int, ...)`.
    let f: unsafe extern "C" fn(c_int, c_int, ...) -> c_int =
        unsafe { std::mem::transmute::<usize, _>(vsym::fcntl.get()) };
    // SAFETY: the caller upholds the contract; an integer-sized variadic argument is what
    // glibc reads with va_arg for every command.
    unsafe { f(fd, cmd, arg) }
}

/// The real `fcntl64` (see [`fcntl`]).
///
/// # Safety
/// As [`fcntl`].
#[inline(always)]
pub(crate) unsafe fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: the address is glibc's `fcntl64`, declared `int fcntl64(int, int, ...)`.
    let f: unsafe extern "C" fn(c_int, c_int, ...) -> c_int =
        unsafe { std::mem::transmute::<usize, _>(vsym::fcntl64.get()) };
    // SAFETY: as in `fcntl`.
    unsafe { f(fd, cmd, arg) }
}

/// The real `ioctl` with a pointer-or-integer third argument.
///
/// # Safety
/// The arguments must satisfy the contract of `request`.
#[inline(always)]
pub(crate) unsafe fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    // SAFETY: the address is glibc's `ioctl`, declared `int ioctl(int, unsigned long, ...)`.
    let f: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int =
        unsafe { std::mem::transmute::<usize, _>(vsym::ioctl.get()) };
    // SAFETY: the caller upholds the contract of `request`.
    unsafe { f(fd, request, arg) }
}

/// The real `syscall`, with the number and six arguments (a syscall takes at most six).
///
/// glibc's `syscall` is declared variadic, but it is a few instructions of assembly that move
/// the number and the six argument slots (`rdi, rsi, rdx, rcx, r8, r9` and the first stack
/// slot) into the kernel's registers and never reads `%al`: it is called here through a
/// fixed-arity pointer with the very same slots. That lets the compiler turn the hook's
/// pass-through into a plain jump (a sibling call: same arguments, same stack slot), so
/// glibc sees exactly the registers and stack the program's caller set up.
///
/// # Safety
/// The arguments must satisfy the kernel's contract for syscall `n`.
#[inline(always)]
pub(crate) unsafe fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let addr = vsym::syscall.addr.load(Ordering::Acquire);
    if addr == 0 {
        // SAFETY: the caller upholds the contract.
        return unsafe { syscall_resolving(n, a1, a2, a3, a4, a5, a6) };
    }
    // SAFETY: the address is glibc's `syscall`; on x86-64 a fixed-arity call with seven
    // integer arguments fills the same registers and stack slot a variadic call does (see
    // above), and glibc's implementation reads nothing else.
    let f = unsafe { std::mem::transmute::<usize, SyscallFn>(addr) };
    // SAFETY: the caller upholds the contract.
    unsafe { f(n, a1, a2, a3, a4, a5, a6) }
}

/// glibc's `syscall`, called with a fixed arity (see [`syscall`]).
type SyscallFn =
    unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;

/// [`syscall`] before its pointer is resolved: resolves it, then calls. Out of line with the
/// same signature, so that both paths of [`syscall`] stay jumps.
///
/// # Safety
/// As [`syscall`].
#[cold]
#[inline(never)]
unsafe extern "C" fn syscall_resolving(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // SAFETY: as in `syscall`.
    let f = unsafe { std::mem::transmute::<usize, SyscallFn>(vsym::syscall.get()) };
    // SAFETY: the caller upholds the contract.
    unsafe { f(n, a1, a2, a3, a4, a5, a6) }
}

/// Resolves every real function before `main`, while the process has one thread.
extern "C" fn resolve_all() {
    for s in ALL {
        s.get();
    }
    for s in [&vsym::fcntl, &vsym::fcntl64, &vsym::ioctl, &vsym::syscall] {
        s.get();
    }
}

/// The constructor entry: glibc calls every pointer in `.init_array` before `main`.
#[used]
#[link_section = ".init_array"]
static RESOLVE_AT_START: extern "C" fn() = resolve_all;

/// Makes sure every pointer is resolved (called by `patch_all`, in case the constructor was
/// dropped by the linker): after it, no hook calls `dlsym`.
pub(crate) fn ensure_resolved() {
    resolve_all();
}

/// The calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the life
    // of the thread.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`, as libc does on a failed call.
#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}
