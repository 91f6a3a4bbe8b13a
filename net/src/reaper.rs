//! The process-wide reaper thread: the fallback for running children whose hub cannot wait
//! for them any more (a [`Child`](crate::process::Child) dropped on a thread that then exits,
//! where its reaper greenlet dies with the hub, or dropped where no greenlet can be spawned).
//!
//! - Started lazily, on the first hand-off, once per process (again in a forked child, where
//!   the parent's thread does not exist).
//! - It `poll`s the pidfds handed to it and reaps each process with
//!   `waitid(P_PIDFD, ..)` when it exits: exactly that process, even if its pid number has been
//!   reused meanwhile; `ECHILD` (someone else reaped it) just drops it.
//! - A hub's reaper greenlets record their children in a thread-local list; when the thread
//!   exits, its destructor hands the ones still running to this thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

/// The reaper thread's queue, with the process that started it.
static REAPER: Mutex<Option<(u32, Sender<OwnedFd>)>> = Mutex::new(None);

/// Hands the process behind `pidfd` to the reaper thread, which reaps it once it exits.
/// If the thread cannot be started, the process is left unreaped (a zombie until this
/// process exits) and the error is printed: there is nobody else to wait for it.
pub(crate) fn hand_off(pidfd: OwnedFd) {
    let me = std::process::id();
    let mut reaper = REAPER.lock().unwrap_or_else(|e| e.into_inner());
    let pidfd = match reaper.as_ref() {
        Some((pid, tx)) if *pid == me => match tx.send(pidfd) {
            Ok(()) => return,
            Err(mpsc::SendError(fd)) => fd,
        },
        _ => pidfd,
    };
    let (tx, rx) = mpsc::channel();
    let started = std::thread::Builder::new()
        .name("sprout-reaper".into())
        .spawn(move || reap_loop(rx));
    match started {
        Ok(_) => {
            let _ = tx.send(pidfd);
            *reaper = Some((me, tx));
        }
        Err(e) => eprintln!("sprout: cannot start the reaper thread ({e}): a child stays a zombie"),
    }
}

/// The reaper thread: waits for pidfds to turn readable, reaps them.
fn reap_loop(rx: Receiver<OwnedFd>) {
    let mut pidfds: Vec<OwnedFd> = Vec::new();
    loop {
        if pidfds.is_empty() {
            match rx.recv() {
                Ok(fd) => pidfds.push(fd),
                Err(_) => return,
            }
        }
        pidfds.extend(rx.try_iter());
        let mut polls: Vec<libc::pollfd> = pidfds
            .iter()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // New hand-offs are picked up at least every 100 ms.
        // SAFETY: `polls` is a valid array of `polls.len()` pollfds.
        unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 100) };
        let mut i = 0;
        pidfds.retain(|fd| {
            let ready = polls[i].revents != 0;
            i += 1;
            !(ready && reaped(fd.as_fd()))
        });
    }
}

/// Reaps the exited process behind `pidfd`; true if it is gone (reaped here or elsewhere).
fn reaped(pidfd: BorrowedFd<'_>) -> bool {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid with P_PIDFD takes the pidfd's number and writes into `info`.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if r == 0 {
            // SAFETY: waitid filled `info` (si_pid is 0 if the process has not exited).
            return unsafe { info.si_pid() } != 0;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return true; // ECHILD: reaped by someone else; anything else: nothing to retry
        }
    }
}

/// This thread's children that reaper greenlets wait for, by pid (a duplicate of the pidfd
/// each); handed to the reaper thread when the thread exits.
struct Pending(RefCell<HashMap<u32, OwnedFd>>);

impl Drop for Pending {
    fn drop(&mut self) {
        for (_, fd) in self.0.get_mut().drain() {
            hand_off(fd);
        }
    }
}

thread_local! {
    static PENDING: Pending = Pending(RefCell::new(HashMap::new()));
}

/// Records that a reaper greenlet of this thread waits for process `pid` (`pidfd` is its
/// pidfd, duplicated here).
pub(crate) fn track(pid: u32, pidfd: BorrowedFd<'_>) {
    if let Ok(fd) = pidfd.try_clone_to_owned() {
        let _ = PENDING.try_with(|p| p.0.borrow_mut().insert(pid, fd));
    }
}

/// The reaper greenlet for `pid` is done with it.
pub(crate) fn untrack(pid: u32) {
    let _ = PENDING.try_with(|p| p.0.borrow_mut().remove(&pid));
}
