//! `cancel_wait` in a plainly forked child (the `close` hook's path under `monkey`) must not
//! delete the parent's epoll entry for a foreign fd the parent waits on. Alone in its binary:
//! it forks.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn cancel_wait_in_a_plainly_forked_child_keeps_the_parents_wait() {
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = reader.as_raw_fd();
    // A foreign fd: the wait adds a temporary entry to this hub's epoll instance.
    let mut waiter = sprout::spawn(move || sprout::net::wait_readable(fd, None));
    sprout::sleep(Duration::from_millis(10)); // let it park

    // SAFETY: the child only uses sprout on this thread and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // The child's copy of the waiter is woken; the parent's must not be touched.
        let woken = sprout::net::cancel_wait(fd);
        // SAFETY: ends the child without running the test harness's code.
        unsafe { libc::_exit(if woken == 1 { 0 } else { 1 }) };
    }
    let status = sprout::process::wait_pid(pid as u32).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the child's cancel_wait woke its copy"
    );

    writer.write_all(b"x").unwrap();
    let result = waiter
        .join_timeout(Duration::from_secs(10))
        .expect("the parent's wait ended: its epoll entry survived the child's cancel_wait");
    result.unwrap();
    drop(reader);
}
