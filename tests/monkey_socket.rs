//! Monkey patching, sockets: std::net in greenlets after `patch_all` parks only the caller,
//! honours the program's own non-blocking flag and socket timeouts, turns kill and close into
//! errors instead of unwinding, and leaves plain threads with blocking sockets.

use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A connected std pair made after patching: (client, server side).
fn std_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// The kernel's own `O_NONBLOCK` for `fd`, asked with a raw syscall no hook sees.
fn kernel_nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) } as i32;
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

/// `O_NONBLOCK` as the program sees it, through the hooked `fcntl`.
fn program_nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

/// Counts to `n` in 10 ms steps on this thread's hub; returns how many steps it made.
fn ticker(n: usize) -> sprout::JoinHandle<usize> {
    counting_ticker(n, Rc::new(Cell::new(0)))
}

/// [`ticker`], publishing its count in `count` as it goes.
fn counting_ticker(n: usize, count: Rc<Cell<usize>>) -> sprout::JoinHandle<usize> {
    sprout::spawn(move || {
        for _ in 0..n {
            sprout::sleep(Duration::from_millis(10));
            count.set(count.get() + 1);
        }
        count.get()
    })
}

#[test]
fn std_echo_in_greenlets_yields_and_every_byte_comes_back() {
    sprout::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = sprout::spawn(move || {
        for _ in 0..50 {
            let (mut conn, _) = listener.accept().unwrap();
            sprout::spawn(move || {
                let mut buf = [0u8; 1024];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
    let before = sprout::switch_count();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            sprout::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let msg = vec![i as u8; 100_000];
                let reader = {
                    let mut r = c.try_clone().unwrap();
                    sprout::spawn(move || {
                        let mut back = vec![0u8; 100_000];
                        r.read_exact(&mut back).unwrap();
                        back
                    })
                };
                c.write_all(&msg).unwrap();
                assert_eq!(reader.join().unwrap(), msg);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    assert!(
        sprout::switch_count() > before + 50,
        "the calls parked greenlets"
    );
}

#[test]
fn managed_sockets_are_nonblocking_in_the_kernel_only() {
    sprout::monkey::patch_all();
    let (client, server) = std_pair();
    for fd in [client.as_raw_fd(), server.as_raw_fd()] {
        assert!(
            kernel_nonblocking(fd),
            "the hooks made the socket non-blocking"
        );
        assert!(
            !program_nonblocking(fd),
            "F_GETFL reports the program's view"
        );
    }
    client.set_nonblocking(true).unwrap();
    assert!(program_nonblocking(client.as_raw_fd()));
    client.set_nonblocking(false).unwrap();
    assert!(!program_nonblocking(client.as_raw_fd()));
    assert!(kernel_nonblocking(client.as_raw_fd()));
    // An fd the hooks did not create is never touched.
    let (r, w) = pipe();
    assert!(!kernel_nonblocking(r));
    // SAFETY: both ends are ours to close.
    unsafe {
        libc::close(r);
        libc::close(w);
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

#[test]
fn a_socket_the_program_made_nonblocking_still_sees_would_block() {
    sprout::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut client, _server) = std_pair();
    let h = sprout::spawn(move || {
        client.set_nonblocking(true).unwrap();
        listener.set_nonblocking(true).unwrap();
        let before = sprout::switch_count();
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let read = client.read(&mut buf).unwrap_err().kind();
        let accept = listener.accept().unwrap_err().kind();
        // SOCK_NONBLOCK at creation counts too.
        // SAFETY: plain integers.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0);
        // SAFETY: a fresh socket we own.
        let mut raw = unsafe { TcpStream::from_raw_fd(fd) };
        let unconnected = raw.read(&mut buf).unwrap_err().kind();
        (
            read,
            accept,
            unconnected,
            start.elapsed(),
            sprout::switch_count() - before,
        )
    });
    let (read, accept, unconnected, took, switches) = h.join().unwrap();
    assert_eq!(read, ErrorKind::WouldBlock);
    assert_eq!(accept, ErrorKind::WouldBlock);
    assert_eq!(unconnected, ErrorKind::NotConnected);
    assert!(took < Duration::from_millis(100));
    assert_eq!(switches, 0, "a non-blocking call never parks");
}

#[test]
fn std_read_timeout_times_out_without_blocking_others() {
    sprout::monkey::patch_all();
    let (mut client, _server) = std_pair();
    let count = Rc::new(Cell::new(0));
    let ticks = counting_ticker(30, count.clone());
    let reader = sprout::spawn(move || {
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(
            client.read_timeout().unwrap(),
            Some(Duration::from_millis(200)),
            "getsockopt stays truthful"
        );
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let ticks_before = count.get();
        let err = client.read(&mut buf).unwrap_err();
        (err.kind(), start.elapsed(), count.get() - ticks_before)
    });
    let (kind, took, ticked) = reader.join().unwrap();
    assert!(
        ticked >= 5,
        "only {ticked} ticks of 10 ms during a 200 ms read"
    );
    assert_eq!(
        kind,
        ErrorKind::WouldBlock,
        "EAGAIN, as the kernel reports it"
    );
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(ticks.join().unwrap(), 30, "the ticker ran meanwhile");
}

#[test]
fn std_write_timeout_times_out_when_the_peer_does_not_read() {
    sprout::monkey::patch_all();
    let (mut client, _server) = std_pair();
    let h = sprout::spawn(move || {
        client
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let chunk = vec![0u8; 1 << 20];
        let start = Instant::now();
        let mut sent = 0usize;
        let err = loop {
            match client.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
            assert!(start.elapsed() < Duration::from_secs(20), "never filled up");
        };
        (err.kind(), sent)
    });
    let (kind, sent) = h.join().unwrap();
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert!(sent > 0);
}

#[test]
fn plain_threads_see_blocking_sockets_even_ones_the_hooks_made_nonblocking() {
    sprout::monkey::patch_all();
    let (client, mut server) = std_pair();
    assert!(kernel_nonblocking(client.as_raw_fd()));
    // A plain thread reads a socket the hooks made non-blocking: it blocks until data comes.
    let t = std::thread::spawn(move || {
        let mut client = client;
        let mut buf = [0u8; 5];
        let start = Instant::now();
        client.read_exact(&mut buf).unwrap();
        let waited = start.elapsed();
        // A timeout on a plain thread is the kernel-like EAGAIN after the time.
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let err = client.read(&mut buf).unwrap_err().kind();
        (buf, waited, err, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    server.write_all(b"hello").unwrap();
    let (buf, waited, err, timed_out_after) = t.join().unwrap();
    assert_eq!(&buf, b"hello");
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert_eq!(err, ErrorKind::WouldBlock);
    assert!(
        timed_out_after >= Duration::from_millis(95),
        "{timed_out_after:?}"
    );

    // Sockets a plain thread makes are plain blocking sockets too, and a full round trip
    // between two plain threads works through the hooks.
    let t = std::thread::spawn(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"ping").unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            b
        });
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(b"pong").unwrap();
        (b, peer.join().unwrap())
    });
    assert_eq!(t.join().unwrap(), (*b"ping", *b"pong"));
}

#[test]
fn kill_of_a_greenlet_parked_in_a_hooked_recv_ends_it_cleanly() {
    sprout::monkey::patch_all();
    let (mut client, _server) = std_pair();
    let reached = Rc::new(Cell::new(None));
    let r = reached.clone();
    let h = sprout::spawn(move || {
        let mut buf = [0u8; 16];
        let err = client.read(&mut buf).unwrap_err();
        r.set(err.raw_os_error());
        err
    });
    sprout::sleep(Duration::from_millis(20));
    assert!(h.kill_timeout(Duration::from_secs(5)), "the kill ended it");
    assert_eq!(
        reached.get(),
        Some(libc::ECONNABORTED),
        "the hook returned an error instead of unwinding"
    );
    // It swallowed the error and returned normally: still reported killed.
    assert!(h.join().unwrap_err().is_killed());

    // With a plain sprout call after the hook, the kill is raised there.
    let (mut client, _server) = std_pair();
    let h = sprout::spawn(move || {
        let mut buf = [0u8; 16];
        let _ = client.read(&mut buf);
        sprout::yield_now();
        unreachable!("the kill is raised at the yield");
    });
    sprout::sleep(Duration::from_millis(20));
    h.kill();
    assert!(h.join().unwrap_err().is_killed());
}

#[test]
fn a_timeout_scope_reaching_a_hooked_recv_fails_it_with_econnaborted() {
    sprout::monkey::patch_all();
    let (mut client, _server) = std_pair();
    let start = Instant::now();
    let r = sprout::with_timeout(Duration::from_millis(50), || {
        let mut buf = [0u8; 16];
        let err = client.read(&mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNABORTED));
        sprout::sleep(Duration::from_secs(5)); // raised here
    });
    assert!(r.is_err(), "the scope caught its timeout");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn close_from_another_greenlet_wakes_the_reader_with_ebadf() {
    sprout::monkey::patch_all();
    let (client, _server) = std_pair();
    let fd = client.as_raw_fd();
    std::mem::forget(client); // closed below through the hooked close
    let reader = sprout::spawn(move || {
        // SAFETY: `fd` is open until the closer greenlet closes it; ManuallyDrop never closes.
        let mut s = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        let mut buf = [0u8; 16];
        s.read(&mut buf).unwrap_err()
    });
    sprout::sleep(Duration::from_millis(20));
    // SAFETY: the fd is open and nobody else closes it.
    assert_eq!(unsafe { libc::close(fd) }, 0);
    let err = reader.join().unwrap();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
}

#[test]
fn a_second_reader_greenlet_gets_ebusy() {
    sprout::monkey::patch_all();
    let (client, mut server) = std_pair();
    let client = Rc::new(client);
    let c1 = client.clone();
    let first = sprout::spawn(move || {
        let mut buf = [0u8; 4];
        (&*c1).read_exact(&mut buf).map(|()| buf)
    });
    sprout::sleep(Duration::from_millis(10));
    let c2 = client.clone();
    let second = sprout::spawn(move || {
        let mut buf = [0u8; 4];
        (&*c2).read(&mut buf).unwrap_err().raw_os_error()
    });
    assert_eq!(second.join().unwrap(), Some(libc::EBUSY));
    server.write_all(b"data").unwrap();
    assert_eq!(&first.join().unwrap().unwrap(), b"data");
}

#[test]
fn connect_timeout_udp_and_unix_sockets_cooperate() {
    sprout::monkey::patch_all();
    let ticks = ticker(20);
    // connect_timeout: FIONBIO on, connect, FIONBIO off, then poll.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let c = sprout::spawn(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)));
    let s = c.join().unwrap().unwrap();
    assert!(!program_nonblocking(s.as_raw_fd()));

    // UDP: a receive with a timeout parks, then a datagram arrives.
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a_addr: SocketAddr = a.local_addr().unwrap();
    let recv = sprout::spawn(move || {
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = a.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from)
    });
    let send = sprout::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        b.send_to(b"datagram", a_addr).unwrap();
        b.local_addr().unwrap()
    });
    let b_addr = send.join().unwrap();
    assert_eq!(recv.join().unwrap(), (b"datagram".to_vec(), b_addr));

    // Unix stream sockets from socketpair.
    let (mut x, mut y) = UnixStream::pair().unwrap();
    let echo = sprout::spawn(move || {
        let mut buf = [0u8; 5];
        y.read_exact(&mut buf).unwrap();
        y.write_all(&buf).unwrap();
    });
    let h = sprout::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        x.write_all(b"unix!").unwrap();
        let mut back = [0u8; 5];
        x.read_exact(&mut back).unwrap();
        back
    });
    assert_eq!(&h.join().unwrap(), b"unix!");
    echo.join().unwrap();
    assert_eq!(ticks.join().unwrap(), 20);
}

#[test]
fn poll_and_select_park_only_the_caller() {
    sprout::monkey::patch_all();
    let (client, mut server) = std_pair();
    let fd = client.as_raw_fd();
    let ticks = ticker(10);
    let poller = sprout::spawn(move || {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let start = Instant::now();
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
        (n, pfd.revents, start.elapsed())
    });
    let writer = sprout::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        server.write_all(b"x").unwrap();
        server
    });
    let (n, revents, took) = poller.join().unwrap();
    assert_eq!(n, 1);
    assert!(revents & libc::POLLIN != 0);
    assert!(
        took >= Duration::from_millis(40) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let mut server = writer.join().unwrap();
    assert_eq!(ticks.join().unwrap(), 10);

    // poll with a timeout and nothing ready returns 0 after the timeout.
    let (other, _keep) = std_pair();
    let ofd = other.as_raw_fd();
    let h = sprout::spawn(move || {
        let mut pfd = libc::pollfd {
            fd: ofd,
            events: libc::POLLIN,
            revents: 0,
        };
        let start = Instant::now();
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 80) };
        (n, start.elapsed())
    });
    let (n, took) = h.join().unwrap();
    assert_eq!(n, 0);
    assert!(took >= Duration::from_millis(75), "{took:?}");

    // select: readable after a write from another greenlet; the timeout is updated.
    let mut c = client;
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    let selector = sprout::spawn(move || {
        // SAFETY: fd_set is plain data; all-zero is an empty set.
        let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set, and fd < FD_SETSIZE.
        unsafe {
            libc::FD_ZERO(&mut set);
            libc::FD_SET(fd, &mut set);
        }
        let mut tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: valid set and timeval.
        let n = unsafe {
            libc::select(
                fd + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            )
        };
        // SAFETY: a valid set.
        (n, unsafe { libc::FD_ISSET(fd, &set) }, tv.tv_sec)
    });
    sprout::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        server.write_all(b"y").unwrap();
    })
    .join()
    .unwrap();
    let (n, isset, left) = selector.join().unwrap();
    assert_eq!((n, isset), (1, true));
    assert!(left < 5, "the timeout was updated");
    drop(c);
}

#[test]
fn dup2_over_a_socket_and_shutdown_behave() {
    sprout::monkey::patch_all();
    let (client, mut server) = std_pair();
    let dup = client.try_clone().unwrap();
    assert!(
        !program_nonblocking(dup.as_raw_fd()),
        "the clone keeps the program's view"
    );
    assert!(kernel_nonblocking(dup.as_raw_fd()));
    // dup2 a pipe over the clone: the number now holds a plain pipe, untouched.
    let (r, w) = pipe();
    // SAFETY: both fds are open; dup2 replaces the clone's number, which we then own as a pipe.
    assert_eq!(unsafe { libc::dup2(r, dup.as_raw_fd()) }, dup.as_raw_fd());
    assert!(!kernel_nonblocking(dup.as_raw_fd()));
    assert!(!program_nonblocking(dup.as_raw_fd()));
    // SAFETY: closing the pipe ends we own.
    unsafe {
        libc::close(r);
        libc::close(w);
    }
    drop(dup); // closes the pipe copy

    let h = sprout::spawn(move || {
        let mut c = client;
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        all
    });
    server.write_all(b"bye").unwrap();
    server.shutdown(Shutdown::Write).unwrap();
    assert_eq!(h.join().unwrap(), b"bye");
}

#[test]
fn a_thread_exiting_with_a_greenlet_parked_in_a_hook_does_not_abort() {
    sprout::monkey::patch_all();
    let (client, server) = std_pair();
    let t = std::thread::spawn(move || {
        // This thread gets a hub; its greenlet parks inside the hooked recv.
        sprout::spawn(move || {
            let mut c = client;
            let mut buf = [0u8; 1];
            let _ = c.read(&mut buf);
        });
        sprout::sleep(Duration::from_millis(20));
        // Returning leaks the parked greenlet instead of unwinding it through the hook.
    });
    t.join().expect("the thread exits cleanly");
    drop(server);
}

#[test]
fn errors_pass_through_with_errno_intact() {
    sprout::monkey::patch_all();
    let h = sprout::spawn(|| {
        let mut buf = [0u8; 4];
        // SAFETY: an invalid fd; recv only reports EBADF.
        let r = unsafe { libc::recv(-1, buf.as_mut_ptr().cast(), 4, 0) };
        let e1 = io::Error::last_os_error().raw_os_error();
        // Connection refused on a managed socket, through the emulated connect.
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            drop(l);
            TcpStream::connect(addr).unwrap_err().kind()
        };
        (r, e1, refused)
    });
    let (r, e1, refused) = h.join().unwrap();
    assert_eq!((r, e1), (-1, Some(libc::EBADF)));
    assert_eq!(refused, ErrorKind::ConnectionRefused);
}

#[test]
fn unmanage_hands_a_socket_to_a_child_process_in_blocking_mode() {
    sprout::monkey::patch_all();
    let (client, mut server) = std_pair();
    let fd = client.as_raw_fd();
    assert!(kernel_nonblocking(fd));
    sprout::monkey::unmanage(fd).unwrap();
    assert!(!kernel_nonblocking(fd), "blocking again in the kernel");
    assert!(!program_nonblocking(fd));
    // A plain thread writes only once `head` is blocked reading its stdin, the socket.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        server.write_all(b"hello").unwrap();
        server
    });
    let out = Command::new("head")
        .args(["-c", "5"])
        .stdin(Stdio::from(OwnedFd::from(client)))
        .output()
        .unwrap();
    drop(writer.join().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout, b"hello");
}
