//! `sprout::fork()`: the child serves a listener the parent created on a fresh epoll instance
//! of its own, cooperatively (the greenlet and timer it inherited keep running in it), while
//! the parent's greenlets keep running and its registrations survive. Alone in its binary: it forks.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use sprout::net::{TcpListener, TcpStream};

fn ticker() -> (Rc<Cell<u32>>, sprout::JoinHandle<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let h = sprout::spawn(move || loop {
        sprout::sleep(Duration::from_millis(5));
        t.set(t.get() + 1);
    });
    (ticks, h)
}

/// Child side: accept one connection, echo five bytes, report through the exit code. `ticks`
/// is the parent's ticker, inherited with its greenlet and timer.
fn child(listener: &TcpListener, ticks: &Cell<u32>) -> i32 {
    let start = ticks.get();
    let served = sprout::with_timeout(Duration::from_secs(10), || -> std::io::Result<()> {
        let (mut c, _) = listener.accept()?;
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf)?;
        c.write_all(&buf)
    });
    match served {
        Ok(Ok(())) if ticks.get() > start => 0,
        Ok(Ok(())) => 2, // accept blocked the child's hub, or the inherited ticker stopped
        _ => 1,
    }
}

#[test]
fn a_forked_child_serves_the_parents_listener_cooperatively() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ticks, t) = ticker();
    sprout::sleep(Duration::from_millis(20));

    let pid = sprout::fork().unwrap();
    if pid == 0 {
        let code = child(&listener, &ticks);
        // SAFETY: ends the child without running the test harness's code.
        unsafe { libc::_exit(code) };
    }
    sprout::sleep(Duration::from_millis(50));
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    let before = ticks.get();
    let status = sprout::process::wait_pid(pid).unwrap();
    assert_eq!(status.code(), Some(0), "the child served cooperatively");
    assert!(ticks.get() >= before, "the parent's ticker kept running");

    // The child's exit closed its copies; the parent's registration of the listener is
    // intact: it accepts through its own epoll instance.
    let acceptor = sprout::spawn(move || listener.accept().map(|_| ()));
    sprout::sleep(Duration::from_millis(20));
    let _c2 = TcpStream::connect(addr).unwrap();
    sprout::with_timeout(Duration::from_secs(5), || acceptor.join())
        .expect("the parent's accept is woken")
        .unwrap()
        .unwrap();
    assert!(ticks.get() > 10);
    t.kill();
}
