//! A plain `libc::fork()` after the hub exists: the child's first sprout call rebuilds its
//! hub on a new epoll instance, so a registration the child drops stays in the parent's
//! epoll. Alone in its binary: it forks.

use std::io::{Read, Write};
use std::time::Duration;

use sprout::net::UnixStream;

#[test]
fn a_plainly_forked_child_never_touches_the_parents_epoll() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Registered and proven idle: the next read parks on an edge from the parent's epoll.
    sprout::sleep(Duration::from_millis(1));

    // SAFETY: the child only uses sprout on this thread and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // Without the rebuild this would delete `a` from the parent's epoll instance.
        drop(a);
        // The child's own hub works: a timer and a fresh socket pair.
        sprout::sleep(Duration::from_millis(5));
        let (mut x, mut y) = UnixStream::pair().unwrap();
        let echoed = sprout::spawn(move || {
            let mut buf = [0u8; 2];
            y.read_exact(&mut buf).map(|()| buf)
        });
        sprout::sleep(Duration::from_millis(5));
        x.write_all(b"ok").unwrap();
        let code = match echoed.join() {
            Ok(Ok(buf)) if &buf == b"ok" => 0,
            _ => 1,
        };
        // SAFETY: ends the child without running the test harness's code.
        unsafe { libc::_exit(code) };
    }
    let status = sprout::process::wait_pid(pid as u32).unwrap();
    assert_eq!(status.code(), Some(0));

    let reader = sprout::spawn(move || {
        let mut buf = [0u8; 4];
        a.read_exact(&mut buf).map(|()| buf)
    });
    sprout::sleep(Duration::from_millis(50));
    b.write_all(b"ping").unwrap();
    let buf = reader
        .join()
        .unwrap()
        .expect("the parent's registration survived the child's drop");
    assert_eq!(&buf, b"ping");
}
