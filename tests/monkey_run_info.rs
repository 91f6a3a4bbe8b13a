//! `sprout::run_info` names the hooked libc call a greenlet is parked in (issue 16): a
//! `std::net` read after `patch_all` shows as `hooked recv(): fd N readable`, a
//! `std::thread::sleep` as `hooked sleep()`, a `std::sync::Mutex` wait as `hooked futex()`.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn run_info_names_the_hooked_libc_call_each_greenlet_waits_in() {
    sprout::monkey::patch_all();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    let fd = server_side.as_raw_fd();
    let reader = sprout::Builder::new()
        .name("std-reader")
        .spawn(move || {
            let mut s = server_side;
            let mut buf = [0u8; 8];
            s.read(&mut buf).map(|n| buf[..n].to_vec())
        })
        .unwrap();
    let sleeper = sprout::Builder::new()
        .name("std-sleeper")
        .spawn(|| std::thread::sleep(Duration::from_millis(300)))
        .unwrap();
    let lock = Arc::new(Mutex::new(()));
    let held = lock.clone();
    let holder = sprout::spawn(move || {
        let _g = held.lock().unwrap();
        sprout::sleep(Duration::from_millis(300));
    });
    sprout::yield_now(); // the holder takes the lock
    let waiter = {
        let lock = lock.clone();
        sprout::Builder::new()
            .name("std-locker")
            .spawn(move || drop(lock.lock().unwrap()))
            .unwrap()
    };
    sprout::sleep(Duration::from_millis(50));
    let info = sprout::run_info().to_string();
    let line = |name: &str| {
        info.lines()
            .find(|l| l.contains(&format!("'{name}'")))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{info}"))
            .to_string()
    };
    assert!(
        line("std-reader").contains(&format!("hooked recv(): fd {fd} readable")),
        "{info}"
    );
    assert!(line("std-sleeper").contains("hooked sleep()"), "{info}");
    assert!(line("std-locker").contains("hooked futex()"), "{info}");
    use std::io::Write;
    (&client).write_all(b"hi").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"hi");
    sleeper.join().unwrap();
    holder.join().unwrap();
    waiter.join().unwrap();
}
