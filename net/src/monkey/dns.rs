//! The `getaddrinfo` hook: in a cooperating greenlet the real call runs on the thread pool.
//!
//! glibc's resolver makes its own socket calls internally, where no hook sees them, and may
//! wait seconds for a DNS server: made on the hub's thread it would stall every greenlet.
//! So the hook copies its inputs (the node and service strings and the four meaningful
//! `hints` fields), runs the real `getaddrinfo` on a pool thread
//! (`spawn_blocking_interruptible`), and hands the result list back. Everywhere else, and
//! on the pool threads themselves, it is the real call.
//!
//! A kill or `Timeout` that reaches the greenlet while it waits makes the hook fail at once
//! with `EAI_SYSTEM` and `errno` `ECONNABORTED` (a hook never unwinds). The lookup then finishes
//! on the pool with copies of the inputs, and its result list is freed when it arrives:
//! nothing it touches belongs to the caller any more.

use std::ffi::{c_char, c_int, CStr, CString};

use libc::addrinfo;

use super::{patch, real};

/// A result list from the real `getaddrinfo`, owned: freed on drop unless taken.
struct AddrList(*mut addrinfo);

// SAFETY: the list is glibc-allocated memory owned by this value alone; `freeaddrinfo` may
// run on any thread.
unsafe impl Send for AddrList {}

impl AddrList {
    /// Hands the list to the caller, who frees it with `freeaddrinfo`.
    fn take(mut self) -> *mut addrinfo {
        std::mem::replace(&mut self.0, std::ptr::null_mut())
    }
}

impl Drop for AddrList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a list returned by the real getaddrinfo, not freed or handed out yet.
            unsafe { real::freeaddrinfo(self.0) };
        }
    }
}

/// The `hints` fields `getaddrinfo` reads (the others must be zero or null).
#[derive(Clone, Copy)]
struct Hints {
    /// `ai_flags`.
    flags: c_int,
    /// `ai_family`.
    family: c_int,
    /// `ai_socktype`.
    socktype: c_int,
    /// `ai_protocol`.
    protocol: c_int,
}

/// Hook for `getaddrinfo`.
///
/// # Safety
/// libc's contract for `getaddrinfo`: `node` and `service` null or NUL-terminated, `hints`
/// null or valid, `res` valid.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if !patch::cooperative() || res.is_null() {
        // SAFETY: forwarded.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    // SAFETY: per the contract, non-null strings are NUL-terminated and `hints` is valid.
    let (node, service, hints) = unsafe {
        (
            (!node.is_null()).then(|| CStr::from_ptr(node).to_owned()),
            (!service.is_null()).then(|| CStr::from_ptr(service).to_owned()),
            (!hints.is_null()).then(|| Hints {
                flags: (*hints).ai_flags,
                family: (*hints).ai_family,
                socktype: (*hints).ai_socktype,
                protocol: (*hints).ai_protocol,
            }),
        )
    };
    let job = move || lookup(node, service, hints);
    sprout_runtime::run_info::hooked_call("getaddrinfo");
    match sprout_runtime::threadpool::spawn_resolver_interruptible(job) {
        Ok((rc, list, errno)) => {
            // SAFETY: `res` is valid (the caller's contract).
            unsafe { *res = list.take() };
            if rc == libc::EAI_SYSTEM {
                real::set_errno(errno);
            }
            rc
        }
        Err(_) => {
            real::set_errno(super::cancel::ERRNO);
            libc::EAI_SYSTEM
        }
    }
}

/// The real lookup, on a pool thread: the return code, the list, and `errno` for
/// `EAI_SYSTEM`.
fn lookup(
    node: Option<CString>,
    service: Option<CString>,
    hints: Option<Hints>,
) -> (c_int, AddrList, c_int) {
    let raw_hints = hints.map(|h| {
        // SAFETY: an all-zero addrinfo is valid (null pointers, zero lengths).
        let mut a: addrinfo = unsafe { std::mem::zeroed() };
        a.ai_flags = h.flags;
        a.ai_family = h.family;
        a.ai_socktype = h.socktype;
        a.ai_protocol = h.protocol;
        a
    });
    let mut out: *mut addrinfo = std::ptr::null_mut();
    // SAFETY: owned NUL-terminated strings or null, a valid hints struct or null, and a valid
    // out-pointer, all alive for the call.
    let rc = unsafe {
        real::getaddrinfo(
            node.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            service.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            raw_hints
                .as_ref()
                .map_or(std::ptr::null(), |h| h as *const addrinfo),
            &mut out,
        )
    };
    let errno = real::errno();
    (rc, AddrList(out), errno)
}
