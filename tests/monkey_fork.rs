//! Monkey patching and fork: the child shares the parent's epoll instance, so its hooks must
//! pass through. A child that closes a socket the parent's hub has registered must not
//! remove it from the parent's epoll. Alone in its binary: it forks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn a_forked_child_closing_a_socket_does_not_disturb_the_parent() {
    sprout::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let fd = client.as_raw_fd();

    // Round one registers the client socket with this thread's hub: the reader parks.
    let reader = sprout::spawn(move || {
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).map(|()| (client, buf))
    });
    sprout::sleep(Duration::from_millis(20));
    server.write_all(b"first").unwrap();
    let (mut client, buf) = reader.join().unwrap().unwrap();
    assert_eq!(&buf, b"first");

    // Park again, then fork while parked.
    let reader = sprout::spawn(move || {
        let mut buf = [0u8; 6];
        client.read_exact(&mut buf).map(|()| buf)
    });
    sprout::sleep(Duration::from_millis(20));
    // SAFETY: the child only calls async-signal-safe functions (close, _exit) and reads an
    // atomic through `is_patched`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let patched = sprout::monkey::is_patched();
        // SAFETY: the child's copy of the fd; closing it is the point of the test.
        let closed = unsafe { libc::close(fd) } == 0;
        let code = if !patched && closed { 0 } else { 1 };
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "in the child, is_patched() is false and close succeeds"
    );

    // The parent's registration survived: the parked reader is woken by the next write.
    server.write_all(b"second").unwrap();
    let buf = reader
        .join()
        .unwrap()
        .expect("the read completes instead of timing out");
    assert_eq!(&buf, b"second");
    assert!(sprout::monkey::is_patched());
}
