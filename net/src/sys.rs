//! The net crate's edge to libc: every raw call lives here, each returning `io::Result`.
//!
//! Sockets are created non-blocking and close-on-exec in one call. Sends use `MSG_NOSIGNAL`
//! so a peer that went away yields `EPIPE`, never `SIGPIPE`. Where std already has the right
//! call for a non-blocking fd (socket options, addresses, datagram sends and receives), the
//! fd is lent to a std socket type for that one call ([`view`]) instead of repeating std here.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::{self, ManuallyDrop};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Calls a libc function and turns a `-1` result into the thread's `errno` as an error.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each caller passes arguments that satisfy the named libc function's contract:
        // fds borrowed for the call, and pointers to live buffers of the stated lengths.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// The most iovecs one vectored call passes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Takes ownership of an fd a syscall just returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    debug_assert!(fd >= 0);
    // SAFETY: `fd` was just returned by a successful syscall that created it; nobody else
    // owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(
        domain,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0
    ))?;
    Ok(owned(fd))
}

/// A connected pair of non-blocking, close-on-exec Unix sockets.
pub(crate) fn socketpair(ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    syscall!(socketpair(
        libc::AF_UNIX,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0,
        fds.as_mut_ptr()
    ))?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// A socket address in the kernel's layout.
pub(crate) struct RawAddr {
    /// Storage large enough for any address family.
    storage: libc::sockaddr_storage,
    /// How many bytes of `storage` are meaningful.
    len: libc::socklen_t,
}

impl RawAddr {
    fn empty() -> RawAddr {
        RawAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid (AF_UNSPEC) value.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// The kernel form of an IP socket address.
    pub(crate) fn from_inet(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { (&mut raw.storage as *mut _ as *mut libc::sockaddr_in).write(sin) };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { (&mut raw.storage as *mut _ as *mut libc::sockaddr_in6).write(sin6) };
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// The kernel form of a Unix socket path (a leading NUL byte names an abstract socket).
    pub(crate) fn from_path(path: &Path) -> io::Result<RawAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut raw = RawAddr::empty();
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un; all-zero bytes
        // are a valid sockaddr_un.
        let sun = unsafe { &mut *(&mut raw.storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // Keep room for the terminating NUL of a pathname.
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path must be shorter than SUN_LEN",
            ));
        }
        if bytes.first() != Some(&0) && bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "paths must not contain interior null bytes",
            ));
        }
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let base = mem::size_of::<libc::sa_family_t>();
        let extra = if bytes.first() == Some(&0) { 0 } else { 1 };
        raw.len = (base + bytes.len() + extra) as libc::socklen_t;
        Ok(raw)
    }

    /// The IP socket address, if this is one.
    fn to_inet(&self) -> io::Result<SocketAddr> {
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the kernel wrote a sockaddr_in, which
                // sockaddr_storage is large enough and aligned for.
                let a = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an IP socket address",
            )),
        }
    }
}

/// A listening TCP socket on `addr` (non-blocking, close-on-exec) with `SO_REUSEADDR`, and
/// `SO_REUSEPORT` when `reuse_port` is set, so several sockets (one per hub thread) can
/// listen on one port and the kernel spreads connections across them.
pub(crate) fn tcp_listen(addr: &SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let fd = socket(domain, libc::SOCK_STREAM)?;
    let one: libc::c_int = 1;
    let mut opts = vec![libc::SO_REUSEADDR];
    if reuse_port {
        opts.push(libc::SO_REUSEPORT);
    }
    for opt in opts {
        syscall!(setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &one as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t
        ))?;
    }
    let raw = RawAddr::from_inet(addr);
    syscall!(bind(
        fd.as_raw_fd(),
        &raw.storage as *const _ as *const libc::sockaddr,
        raw.len
    ))?;
    syscall!(listen(fd.as_raw_fd(), backlog))?;
    Ok(fd)
}

/// Starts connecting `fd` to `addr` (`EINPROGRESS` or `EAGAIN` if it cannot finish at once).
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &RawAddr) -> io::Result<()> {
    syscall!(connect(
        fd.as_raw_fd(),
        &addr.storage as *const _ as *const libc::sockaddr,
        addr.len
    ))
    .map(drop)
}

/// Accepts a connection as a non-blocking, close-on-exec socket, with the peer's IP address.
pub(crate) fn accept_inet(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SocketAddr)> {
    let mut raw = RawAddr::empty();
    let conn = syscall!(accept4(
        fd.as_raw_fd(),
        &mut raw.storage as *mut _ as *mut libc::sockaddr,
        &mut raw.len,
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
    ))?;
    let conn = owned(conn);
    Ok((conn, raw.to_inet()?))
}

/// `recv` with `flags` (0 or `MSG_PEEK`).
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    syscall!(recv(
        fd.as_raw_fd(),
        buf.as_mut_ptr().cast(),
        buf.len(),
        flags
    ))
    .map(|n| n as usize)
}

/// `send` with `MSG_NOSIGNAL`.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    syscall!(send(
        fd.as_raw_fd(),
        buf.as_ptr().cast(),
        buf.len(),
        libc::MSG_NOSIGNAL
    ))
    .map(|n| n as usize)
}

/// `sendto` with `MSG_NOSIGNAL`, for datagram sockets.
pub(crate) fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &RawAddr) -> io::Result<usize> {
    syscall!(sendto(
        fd.as_raw_fd(),
        buf.as_ptr().cast(),
        buf.len(),
        libc::MSG_NOSIGNAL,
        &addr.storage as *const _ as *const libc::sockaddr,
        addr.len
    ))
    .map(|n| n as usize)
}

/// Scatter read (`readv`; fine for sockets, where no flag is needed on receive).
pub(crate) fn readv(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    // IoSliceMut is guaranteed ABI-compatible with iovec on Unix.
    syscall!(readv(
        fd.as_raw_fd(),
        bufs.as_mut_ptr() as *const libc::iovec,
        bufs.len().min(IOV_MAX) as libc::c_int
    ))
    .map(|n| n as usize)
}

/// Gather write on a socket (`sendmsg` with `MSG_NOSIGNAL`).
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: msghdr is plain old data; all-zero means no name and no control data.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix; sendmsg does not write to it.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(IOV_MAX) as _;
    syscall!(sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)).map(|n| n as usize)
}

/// `read` on any fd.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    syscall!(read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())).map(|n| n as usize)
}

/// `write` on any fd.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    syscall!(write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len())).map(|n| n as usize)
}

/// `writev` on any fd.
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    syscall!(writev(
        fd.as_raw_fd(),
        bufs.as_ptr() as *const libc::iovec,
        bufs.len().min(IOV_MAX) as libc::c_int
    ))
    .map(|n| n as usize)
}

/// Sets or clears `O_NONBLOCK`; returns whether it was set before.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<bool> {
    let flags = syscall!(fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
    let was = flags & libc::O_NONBLOCK != 0;
    if was != on {
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        syscall!(fcntl(fd.as_raw_fd(), libc::F_SETFL, flags))?;
    }
    Ok(was)
}

/// Seconds since the Unix epoch from `CLOCK_REALTIME_COARSE`: the kernel's last tick,
/// read from the vDSO without touching the hardware clock (a few ns where a precise read can
/// cost a hundred on a VM). For the HTTP `Date` header, which needs whole seconds only.
pub(crate) fn coarse_unix_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match syscall!(clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts)) {
        Ok(_) => ts.tv_sec.max(0) as u64,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// Whether `fd` is readable (`write` false) or writable (`write` true) right now, by a
/// zero-timeout `poll`. An error, a hang-up or a closed fd counts as ready for both.
pub(crate) fn poll_ready(fd: RawFd, write: bool) -> io::Result<bool> {
    let want = if write { libc::POLLOUT } else { libc::POLLIN };
    let mut pfd = libc::pollfd {
        fd,
        events: want,
        revents: 0,
    };
    loop {
        match syscall!(poll(&mut pfd, 1, 0)) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if pfd.revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(pfd.revents & (want | libc::POLLERR | libc::POLLHUP) != 0)
}

/// Lends `fd` to a std socket type `S` for one call, without transferring ownership: used for
/// the calls std already makes right on a non-blocking fd (options, addresses, datagrams).
pub(crate) fn view<S: FromRawFd, T>(fd: BorrowedFd<'_>, f: impl FnOnce(&S) -> T) -> T {
    // SAFETY: `fd` is open for the whole borrow, and ManuallyDrop keeps `S` from closing it,
    // even if `f` unwinds. The std types only issue syscalls on the fd they hold.
    let s = ManuallyDrop::new(unsafe { S::from_raw_fd(fd.as_raw_fd()) });
    f(&s)
}

/// A new pipe, both ends non-blocking and close-on-exec: `(read end, write end)`. Made with
/// `pipe2`, which the monkey layer does not interpose, so its ends stay unmanaged.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `fork()`: 0 in the child, the child's pid in the parent.
///
/// # Safety
/// In the child only the calling thread exists: a lock another thread held at the fork stays
/// held forever, and the child must not wait for it (sprout rebuilds its own per-process
/// state, see `sprout::fork`).
pub(crate) unsafe fn fork() -> io::Result<libc::pid_t> {
    syscall!(fork())
}

/// A pidfd for process `pid` (`pidfd_open`, Linux 5.3+), close-on-exec; readable once the
/// process has exited.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "sprout: waiting for a child process needs pidfd_open (Linux 5.3 or later)",
            ));
        }
        return Err(e);
    }
    Ok(owned(fd as libc::c_int))
}

/// `waitpid(pid, WNOHANG)`: the raw wait status if `pid` (a child of ours) has exited and is
/// now reaped, `None` if it still runs.
pub(crate) fn try_reap(pid: libc::pid_t) -> io::Result<Option<libc::c_int>> {
    let mut status = 0;
    loop {
        match syscall!(waitpid(pid, &mut status, libc::WNOHANG)) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sends signal `sig` to process `pid`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    syscall!(kill(pid, sig)).map(drop)
}

/// Blocks or unblocks `sigs` for the calling thread.
pub(crate) fn mask_signals(sigs: &[libc::c_int], block: bool) -> io::Result<()> {
    // SAFETY: an all-zero sigset_t is a valid value to initialise with sigemptyset.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    syscall!(sigemptyset(&mut set))?;
    for &s in sigs {
        syscall!(sigaddset(&mut set, s))?;
    }
    let how = if block {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: `set` is initialised; the old mask is not asked for.
    let r = unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Blocking `poll` on `fds` for readability, up to `timeout` (`None`: indefinitely); `EINTR`
/// counts as a wake-up. Fills each entry's `revents`.
pub(crate) fn poll_read(
    fds: &mut [libc::pollfd],
    timeout: Option<std::time::Duration>,
) -> io::Result<()> {
    let ms = timeout.map_or(-1, |t| {
        t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
    });
    for p in fds.iter_mut() {
        p.events = libc::POLLIN;
        p.revents = 0;
    }
    match syscall!(poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether signal `sig`'s action is the default one now (not ignored, no handler).
pub(crate) fn signal_action_is_default(sig: libc::c_int) -> bool {
    // SAFETY: an all-zero sigaction is a valid buffer for the old action.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a query only (no new action); `old` is valid and writable.
    let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_DFL
}
