//! Bookkeeping hooks: the calls that create, duplicate, close or reconfigure fds, kept in
//! step with the fd table (`socket`, `socketpair`, `close`, `dup`, `dup2`, `dup3`, `fcntl`,
//! `fcntl64`, `ioctl(FIONBIO)`, `setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)`).
//!
//! `getsockopt` needs no hook: `setsockopt` still forwards every option to the kernel, so
//! the kernel's answer stays the program's.

use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use libc::socklen_t;

use super::blocking;
use super::fdtable::{self, Timeout, MANAGED, NONBLOCK, STREAM, TCP};
use super::patch::{self, Mode};
use super::real;

/// `SO_RCVTIMEO_NEW` (64-bit `time_t` layout; the same bytes as `timeval` on x86-64).
const SO_RCVTIMEO_NEW: c_int = 66;
/// `SO_SNDTIMEO_NEW`.
const SO_SNDTIMEO_NEW: c_int = 67;

/// The type flags of a socket of `domain` and `ty` (the base type, without flags).
fn kind_flags(domain: c_int, ty: c_int) -> u64 {
    if ty != libc::SOCK_STREAM {
        return 0;
    }
    if domain == libc::AF_INET || domain == libc::AF_INET6 {
        STREAM | TCP
    } else {
        STREAM
    }
}

/// The type flags of an existing socket, asked from the kernel.
fn kind_of(fd: c_int) -> u64 {
    let ask = |name: c_int| -> Option<c_int> {
        let mut v: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as socklen_t;
        // SAFETY: valid pointers to a c_int and its length.
        let r = unsafe {
            real::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&mut v as *mut c_int).cast(),
                &mut len,
            )
        };
        (r == 0).then_some(v)
    };
    match (ask(libc::SO_DOMAIN), ask(libc::SO_TYPE)) {
        (Some(domain), Some(ty)) => kind_flags(domain, ty),
        _ => 0,
    }
}

/// Records a socket just created by the program through a hook: managed when patched, with
/// the program's own non-blocking choice remembered; a fresh, empty entry in a forked child.
fn adopt(fd: c_int, mode: Mode, nonblock: bool, kind: u64) {
    match mode {
        Mode::Off => {}
        Mode::On => {
            let flags = MANAGED | kind | if nonblock { NONBLOCK } else { 0 };
            fdtable::created(fd, flags, true);
        }
        Mode::Child => fdtable::created(fd, 0, false),
    }
}

/// `accept`/`accept4` made `fd` from `listener` (its state word) with the program's `flags`.
pub(crate) fn accepted(fd: c_int, listener: u64, flags: c_int) {
    let mode = patch::mode();
    let kind = if listener & MANAGED != 0 {
        listener & (STREAM | TCP)
    } else if mode == Mode::On {
        kind_of(fd)
    } else {
        0
    };
    adopt(fd, mode, flags & libc::SOCK_NONBLOCK != 0, kind);
}

/// Forgets `fd` before it is closed or replaced: a new generation in the table, and this
/// thread's registration dropped (which wakes greenlets parked on it, with `EBADF`).
fn before_close(fd: c_int, mode: Mode) {
    let managed = fdtable::state(fd) & MANAGED != 0;
    fdtable::closed(fd);
    if managed && mode == Mode::On {
        blocking::forget(fd);
    }
}

/// Hook for `socket`: after `patch_all` every new socket is non-blocking in the kernel.
///
/// # Safety
/// libc's contract for `socket` (none beyond valid integers).
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let mode = patch::mode();
    let kernel_ty = if mode == Mode::On {
        ty | libc::SOCK_NONBLOCK
    } else {
        ty
    };
    // SAFETY: forwarded; socket takes no pointers.
    let fd = unsafe { real::socket(domain, kernel_ty, protocol) };
    if fd >= 0 && mode != Mode::Off {
        let e = real::errno();
        let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        adopt(
            fd,
            mode,
            ty & libc::SOCK_NONBLOCK != 0,
            kind_flags(domain, base),
        );
        real::set_errno(e);
    }
    fd
}

/// Hook for `socketpair`.
///
/// # Safety
/// libc's contract for `socketpair`: `sv` valid for two `c_int`s.
#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    let mode = patch::mode();
    let kernel_ty = if mode == Mode::On {
        ty | libc::SOCK_NONBLOCK
    } else {
        ty
    };
    // SAFETY: forwarded; the caller provides `sv`.
    let r = unsafe { real::socketpair(domain, kernel_ty, protocol, sv) };
    if r == 0 && mode != Mode::Off {
        let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        let kind = kind_flags(domain, base);
        for i in 0..2 {
            // SAFETY: socketpair succeeded, so it wrote both entries of `sv`.
            let fd = unsafe { *sv.add(i) };
            adopt(fd, mode, ty & libc::SOCK_NONBLOCK != 0, kind);
        }
    }
    r
}

/// Hook for `close`: forgets the fd first (waking greenlets parked on it with `EBADF`, also
/// before `patch_all`, through `cancel_wait`), then closes it.
///
/// # Safety
/// libc's contract for `close`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let mode = patch::mode();
    if mode != Mode::Off {
        before_close(fd, mode);
    }
    // Patched or not: a greenlet of this thread waiting on `fd` (a `wait_readable` on a pipe,
    // say) fails with EBADF instead of staying parked forever (gevent#191). Never panics.
    sprout_runtime::reactor::cancel_wait(fd);
    // SAFETY: forwarded.
    unsafe { real::close(fd) }
}

/// Hook for `dup`.
///
/// # Safety
/// libc's contract for `dup`.
#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: forwarded.
    let r = unsafe { real::dup(fd) };
    let mode = patch::mode();
    if r >= 0 && mode != Mode::Off {
        fdtable::duplicated(fd, r, mode == Mode::On);
    }
    r
}

/// `dup2` and `dup3`: `new` is closed (if open) and replaced by a duplicate of `old`.
fn dup_onto(old: c_int, new: c_int, call: impl FnOnce() -> c_int) -> c_int {
    let mode = patch::mode();
    if mode != Mode::Off && old != new {
        before_close(new, mode);
    }
    let r = call();
    if r >= 0 && mode != Mode::Off && old != new {
        let e = real::errno();
        fdtable::duplicated(old, new, mode == Mode::On);
        real::set_errno(e);
    }
    r
}

/// Hook for `dup2`.
///
/// # Safety
/// libc's contract for `dup2`.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: forwarded.
    dup_onto(old, new, || unsafe { real::dup2(old, new) })
}

/// Hook for `dup3`.
///
/// # Safety
/// libc's contract for `dup3`.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    dup_onto(old, new, || unsafe { real::dup3(old, new, flags) })
}

/// `fcntl` and `fcntl64`: the program's view of `O_NONBLOCK` on managed sockets, and
/// duplicates.
fn fcntl_common(fd: c_int, cmd: c_int, arg: c_long, call: impl Fn(c_int) -> c_int) -> c_int {
    let mode = patch::mode();
    if mode == Mode::Off {
        return call(cmd);
    }
    match cmd {
        libc::F_GETFL => {
            let word = fdtable::state(fd);
            let r = call(cmd);
            if r < 0 || word & MANAGED == 0 {
                return r;
            }
            if r & libc::O_NONBLOCK == 0 {
                // Not the non-blocking socket the hooks made: a stale entry (closed behind
                // the hooks' back). Forget it; the kernel's answer is the truth.
                fdtable::closed(fd);
                return r;
            }
            if word & NONBLOCK != 0 {
                r
            } else {
                r & !libc::O_NONBLOCK
            }
        }
        libc::F_SETFL => {
            if fdtable::state(fd) & MANAGED == 0 {
                return call(cmd);
            }
            // The kernel's flag stays set; the program's choice is remembered.
            let r = fcntl_set(fd, arg | libc::O_NONBLOCK as c_long);
            if r == 0 {
                fdtable::set_nonblocking(fd, arg & libc::O_NONBLOCK as c_long != 0);
            }
            r
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let r = call(cmd);
            if r >= 0 {
                let e = real::errno();
                fdtable::duplicated(fd, r, mode == Mode::On);
                real::set_errno(e);
            }
            r
        }
        _ => call(cmd),
    }
}

/// The real `fcntl(fd, F_SETFL, flags)`.
fn fcntl_set(fd: c_int, flags: c_long) -> c_int {
    // SAFETY: F_SETFL takes an integer argument.
    unsafe { real::fcntl(fd, libc::F_SETFL, flags) }
}

/// Hook for `fcntl`, defined with a fixed third argument (see the module docs of `monkey`:
/// on x86-64 Linux a variadic caller passes it in the same register).
///
/// # Safety
/// libc's contract for `fcntl` with `cmd`.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: forwarded with the caller's argument.
    fcntl_common(fd, cmd, arg, |cmd| unsafe { real::fcntl(fd, cmd, arg) })
}

/// Hook for `fcntl64` (see [`fcntl`]).
///
/// # Safety
/// libc's contract for `fcntl64` with `cmd`.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: forwarded with the caller's argument.
    fcntl_common(fd, cmd, arg, |cmd| unsafe { real::fcntl64(fd, cmd, arg) })
}

/// Hook for `ioctl`: `FIONBIO` on a managed socket records the program's choice and keeps
/// the kernel's flag set. Fixed third argument, as for [`fcntl`].
///
/// # Safety
/// libc's contract for `ioctl` with `request`; for `FIONBIO`, `arg` points to a `c_int`.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    if request == libc::FIONBIO as c_ulong
        && patch::mode() != Mode::Off
        && fdtable::state(fd) & MANAGED != 0
        && !arg.is_null()
    {
        // SAFETY: FIONBIO's argument points to an int (the caller's contract).
        let on = unsafe { *arg.cast::<c_int>() } != 0;
        let mut one: c_int = 1;
        // SAFETY: a valid pointer to an int for FIONBIO.
        let r = unsafe { real::ioctl(fd, request, (&mut one as *mut c_int).cast()) };
        if r == 0 {
            fdtable::set_nonblocking(fd, on);
        }
        return r;
    }
    // SAFETY: forwarded.
    unsafe { real::ioctl(fd, request, arg) }
}

/// Hook for `setsockopt`: forwards every option, and records `SO_RCVTIMEO`/`SO_SNDTIMEO`,
/// which the kernel ignores on the non-blocking fds the hooks made, for the emulation.
///
/// # Safety
/// libc's contract for `setsockopt`: `value` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: forwarded.
    let r = unsafe { real::setsockopt(fd, level, name, value, len) };
    if r == 0
        && level == libc::SOL_SOCKET
        && patch::mode() != Mode::Off
        && !value.is_null()
        && len as usize >= std::mem::size_of::<libc::timeval>()
    {
        let dir = match name {
            libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => Some(Timeout::Recv),
            libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => Some(Timeout::Send),
            _ => None,
        };
        if let Some(dir) = dir {
            // SAFETY: the kernel accepted a timeval of at least this size at `value`.
            let tv = unsafe { value.cast::<libc::timeval>().read_unaligned() };
            let t = Duration::from_secs(tv.tv_sec.max(0) as u64)
                + Duration::from_micros(tv.tv_usec.max(0) as u64);
            fdtable::set_timeout(fd, dir, (!t.is_zero()).then_some(t));
        }
    }
    r
}

/// Hands a socket the hooks manage back to the kernel: its `O_NONBLOCK` becomes the program's
/// own view again, and the hooks forget it (every later call on it forwards). Use it before
/// passing the socket to another process (as a child's stdin, say), which shares the open file
/// description and would otherwise inherit a non-blocking socket it believes blocking.
///
/// Does nothing to an fd the hooks do not manage.
///
/// # Errors
///
/// Those of `fcntl(2)` (`EBADF` for a closed fd).
pub fn unmanage(fd: RawFd) -> io::Result<()> {
    let word = fdtable::state(fd);
    if word & MANAGED == 0 {
        return Ok(());
    }
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if word & NONBLOCK != 0 {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if fcntl_set(fd, flags as c_long) != 0 {
        return Err(io::Error::last_os_error());
    }
    before_close(fd, patch::mode());
    Ok(())
}
