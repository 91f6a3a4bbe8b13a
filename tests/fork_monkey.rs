//! `sprout::fork()` under `monkey`: the child stays patched and its `std::net` calls
//! cooperate on its own hub. Alone in its binary: it forks.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

fn child(listener: &TcpListener) -> i32 {
    if !sprout::monkey::is_patched() {
        return 3;
    }
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let _ticker = sprout::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(5)); // patched: a hub timer
        t.set(t.get() + 1);
    });
    let served = (|| -> std::io::Result<()> {
        let (mut c, _) = listener.accept()?; // patched: parks this greenlet only
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf)?;
        c.write_all(&buf)
    })();
    match served {
        Ok(()) if ticks.get() > 0 => 0,
        Ok(()) => 2,
        Err(_) => 1,
    }
}

#[test]
fn a_child_forked_by_sprout_stays_patched_and_cooperative() {
    sprout::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pid = sprout::fork().unwrap();
    if pid == 0 {
        let code = child(&listener);
        // SAFETY: ends the child without running the test harness's code.
        unsafe { libc::_exit(code) };
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    let status = sprout::process::wait_pid(pid).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "0: patched and cooperative (3: not patched, 2: blocked)"
    );
    assert!(sprout::monkey::is_patched());
}
