//! Cross-thread wake-ups must not cost socket readiness. The notifier's event is made to
//! come first in epoll's ready list, followed by more readable sockets than one
//! `epoll_wait` returns (1,024): consuming the notifier must not drain, and lose, the rest.

use std::io::{Read, Write};
use std::time::Duration;

use sprout::net::UnixStream;
use sprout::sync::ThreadEvent;

/// Raises the soft fd limit to the hard one if needed (2 fds per pair).
fn ensure_fds(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit to fill, then to set.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < n {
            lim.rlim_cur = lim.rlim_max.min(n.max(lim.rlim_cur));
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[test]
fn a_cross_thread_wake_does_not_swallow_pending_socket_events() {
    const PAIRS: usize = 1100;
    ensure_fds(3 * PAIRS as u64);
    let pairs: Vec<(UnixStream, UnixStream)> =
        (0..PAIRS).map(|_| UnixStream::pair().unwrap()).collect();
    let (mut writers, readers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    // Every reader parks on its socket.
    let reading: Vec<_> = readers
        .into_iter()
        .map(|mut r| {
            sprout::spawn(move || {
                r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut b = [0u8; 1];
                r.read_exact(&mut b).map(|_| b[0])
            })
        })
        .collect();
    // One greenlet parks on a cross-thread event.
    let ev = ThreadEvent::new();
    let ev2 = ev.clone();
    let woken = sprout::spawn(move || ev2.wait_timeout(Duration::from_secs(10)).is_ok());
    sprout::yield_now(); // all of them park now
                         // First the notifier fires (set from another OS thread), then every socket gets a byte.
    std::thread::spawn(move || ev.set()).join().unwrap();
    for (i, w) in writers.iter_mut().enumerate() {
        w.write_all(&[i as u8]).unwrap();
    }
    assert!(woken.join().unwrap());
    for (i, r) in reading.into_iter().enumerate() {
        let got = r.join().unwrap().expect("no readiness event may be lost");
        assert_eq!(got, i as u8);
    }
}
