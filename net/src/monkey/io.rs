//! Socket I/O hooks: `accept`, `accept4`, `connect`, and the reads and writes.
//!
//! Each hook forwards straight to the real function unless the process is patched, the fd
//! is a managed socket the program believes blocking, and the call does not ask for
//! `MSG_DONTWAIT`; only then does it run as a [`Blocking`] call. Sends on stream sockets go
//! on until everything is sent, as a blocking send does.

use std::ffi::{c_int, c_void};

use libc::{iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use sprout_runtime::reactor::Interest;

use super::blocking::{Blocking, Waited};
use super::bookkeeping;
use super::cancel;
use super::fdtable::{self, Timeout, STREAM, TCP};
use super::patch::{self, Mode};
use super::real;

/// The state word of `fd` if a hook must emulate a blocking call on it, else 0.
#[inline(always)]
fn emulated(fd: c_int) -> u64 {
    if patch::mode() == Mode::Off {
        return 0;
    }
    let word = fdtable::state(fd);
    if fdtable::emulates_blocking(word) {
        word
    } else {
        0
    }
}

/// A blocking read: `op` is the real call, `len` the bytes asked for, `flags` the recv flags.
#[inline]
fn blocking_read(
    name: &'static str,
    fd: c_int,
    word: u64,
    len: usize,
    flags: c_int,
    op: impl FnMut() -> isize,
) -> isize {
    let mut call = Blocking::new(fd, word, Interest::Read, Timeout::Recv).named(name);
    if word & STREAM != 0 {
        call = call.exchange();
    }
    let n = call.run(op);
    // A short TCP read means the receive queue is empty, unless it only peeked.
    if word & TCP != 0
        && n > 0
        && (n as usize) < len
        && flags & (libc::MSG_PEEK | libc::MSG_WAITALL) == 0
    {
        call.drained();
    }
    n
}

/// A blocking write of `len` bytes: on a stream socket, `op(offset)` is called until all is
/// sent (a timeout, kill or error after a partial send returns the count sent so far); on
/// any other socket once.
#[inline]
fn blocking_write(
    name: &'static str,
    fd: c_int,
    word: u64,
    len: usize,
    mut op: impl FnMut(usize) -> isize,
) -> isize {
    let mut call = Blocking::new(fd, word, Interest::Write, Timeout::Send).named(name);
    if word & STREAM == 0 || len == 0 {
        return call.run(|| op(0));
    }
    call = call.exchange();
    let mut sent = 0usize;
    while sent < len {
        let r = call.run(|| op(sent));
        if r <= 0 {
            return if sent > 0 { sent as isize } else { r };
        }
        sent += r as usize;
    }
    sent as isize
}

/// `accept` and `accept4`: after `patch_all`, the new socket is managed (non-blocking in the
/// kernel, the program's `SOCK_NONBLOCK` remembered).
fn accept_common(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
    four: bool,
) -> c_int {
    let mode = patch::mode();
    let real_accept = |flags: c_int| -> isize {
        // SAFETY: the caller's arguments, forwarded; accept4 with flags 0 is accept.
        (unsafe {
            if four || flags != 0 {
                real::accept4(fd, addr, len, flags)
            } else {
                real::accept(fd, addr, len)
            }
        }) as isize
    };
    if mode == Mode::Off {
        return real_accept(flags) as c_int;
    }
    let kernel_flags = if mode == Mode::On {
        flags | libc::SOCK_NONBLOCK
    } else {
        flags
    };
    let listener = fdtable::state(fd);
    let r = if fdtable::emulates_blocking(listener) {
        Blocking::new(fd, listener, Interest::Read, Timeout::Recv)
            .named("accept")
            .run(|| real_accept(kernel_flags))
    } else {
        real_accept(kernel_flags)
    };
    if r >= 0 {
        let e = real::errno();
        bookkeeping::accepted(r as c_int, listener, flags);
        real::set_errno(e);
    }
    r as c_int
}

/// Hook for `accept`.
///
/// # Safety
/// libc's contract for `accept`: `addr` and `len` null, or valid for the sizes given.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    accept_common(fd, addr, len, 0, false)
}

/// Hook for `accept4`.
///
/// # Safety
/// libc's contract for `accept4`.
#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    accept_common(fd, addr, len, flags, true)
}

/// Hook for `connect`: `EINPROGRESS` becomes a wait for writability (bounded by
/// `SO_SNDTIMEO`, which then fails it with `EINPROGRESS`, as the kernel does), then the
/// socket's `SO_ERROR`.
///
/// # Safety
/// libc's contract for `connect`: `addr` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let word = emulated(fd);
    if word != 0 && patch::cooperative() && cancel::pending() {
        // No new connection while a kill or an expired Timeout scope is pending.
        real::set_errno(cancel::ERRNO);
        return -1;
    }
    // SAFETY: the caller's arguments, forwarded.
    let r = unsafe { real::connect(fd, addr, len) };
    if word == 0 || r == 0 {
        return r;
    }
    let e = real::errno();
    if e != libc::EINPROGRESS {
        real::set_errno(e);
        return -1;
    }
    let call = Blocking::new(fd, word, Interest::Write, Timeout::Send)
        .named("connect")
        .exchange();
    let mut call = call;
    loop {
        match call.wait() {
            Waited::Ready => {}
            Waited::TimedOut => {
                real::set_errno(libc::EINPROGRESS);
                return -1;
            }
            Waited::Fail(e) if e == cancel::ERRNO => return call.cancelled() as c_int,
            Waited::Fail(e) => {
                real::set_errno(e);
                return -1;
            }
        }
        // Connected or failed once the socket is writable (or in error); anything else was a
        // wake-up for another reason.
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { real::poll(&mut pfd, 1, 0) } != 0 {
            break;
        }
    }
    let mut err: c_int = 0;
    let mut err_len = std::mem::size_of::<c_int>() as socklen_t;
    // SAFETY: valid pointers to a c_int and its length.
    let r = unsafe {
        real::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut c_int).cast(),
            &mut err_len,
        )
    };
    if r != 0 {
        return r;
    }
    if err != 0 {
        real::set_errno(err);
        return -1;
    }
    0
}

/// Hook for `read`.
///
/// # Safety
/// libc's contract for `read`: `buf` valid for `count` bytes.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    let word = emulated(fd);
    if word == 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::read(fd, buf, count) };
    }
    // SAFETY: as above, once per try.
    blocking_read("read", fd, word, count, 0, || unsafe {
        real::read(fd, buf, count)
    })
}

/// Hook for `readv`.
///
/// # Safety
/// libc's contract for `readv`: `iov` valid for `iovcnt` entries.
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    let word = emulated(fd);
    if word == 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::readv(fd, iov, iovcnt) };
    }
    let mut call = Blocking::new(fd, word, Interest::Read, Timeout::Recv).named("readv");
    // SAFETY: as above, once per try.
    call.run(|| unsafe { real::readv(fd, iov, iovcnt) })
}

/// Hook for `recv`.
///
/// # Safety
/// libc's contract for `recv`: `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    let word = emulated(fd);
    if word == 0 || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::recv(fd, buf, len, flags) };
    }
    // SAFETY: as above, once per try.
    blocking_read("recv", fd, word, len, flags, || unsafe {
        real::recv(fd, buf, len, flags)
    })
}

/// Hook for `recvfrom`.
///
/// # Safety
/// libc's contract for `recvfrom`.
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let word = emulated(fd);
    if word == 0 || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) };
    }
    // SAFETY: as above, once per try.
    blocking_read("recvfrom", fd, word, len, flags, || unsafe {
        real::recvfrom(fd, buf, len, flags, addr, addrlen)
    })
}

/// Hook for `recvmsg`.
///
/// # Safety
/// libc's contract for `recvmsg`.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let word = emulated(fd);
    if word == 0 || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    let mut call = Blocking::new(fd, word, Interest::Read, Timeout::Recv).named("recvmsg");
    // SAFETY: as above, once per try.
    call.run(|| unsafe { real::recvmsg(fd, msg, flags) })
}

/// Hook for `write`.
///
/// # Safety
/// libc's contract for `write`: `buf` valid for `count` bytes.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    let word = emulated(fd);
    if word == 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::write(fd, buf, count) };
    }
    // SAFETY: `off < count`, so the rest of the caller's buffer.
    blocking_write("write", fd, word, count, |off| unsafe {
        real::write(fd, buf.cast::<u8>().add(off).cast(), count - off)
    })
}

/// Hook for `writev` (a short count is possible, as POSIX allows).
///
/// # Safety
/// libc's contract for `writev`: `iov` valid for `iovcnt` entries.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    let word = emulated(fd);
    if word == 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::writev(fd, iov, iovcnt) };
    }
    let mut call = Blocking::new(fd, word, Interest::Write, Timeout::Send).named("writev");
    // SAFETY: as above, once per try.
    call.run(|| unsafe { real::writev(fd, iov, iovcnt) })
}

/// Hook for `send`.
///
/// # Safety
/// libc's contract for `send`: `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    let word = emulated(fd);
    if word == 0 || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::send(fd, buf, len, flags) };
    }
    // SAFETY: `off < len`, so the rest of the caller's buffer.
    blocking_write("send", fd, word, len, |off| unsafe {
        real::send(fd, buf.cast::<u8>().add(off).cast(), len - off, flags)
    })
}

/// Hook for `sendto`.
///
/// # Safety
/// libc's contract for `sendto`.
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    let word = emulated(fd);
    if word == 0 || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) };
    }
    // SAFETY: `off < len`, so the rest of the caller's buffer.
    blocking_write("sendto", fd, word, len, |off| unsafe {
        real::sendto(
            fd,
            buf.cast::<u8>().add(off).cast(),
            len - off,
            flags,
            addr,
            addrlen,
        )
    })
}

/// Hook for `sendmsg` (a short count is possible, as POSIX allows).
///
/// # Safety
/// libc's contract for `sendmsg`.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let word = emulated(fd);
    if word == 0 || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, forwarded.
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    let mut call = Blocking::new(fd, word, Interest::Write, Timeout::Send).named("sendmsg");
    // SAFETY: as above, once per try.
    call.run(|| unsafe { real::sendmsg(fd, msg, flags) })
}
