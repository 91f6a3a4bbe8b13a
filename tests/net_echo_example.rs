//! `examples/echo.rs` as a child process: 1,000 concurrent clients (greenlets in this
//! process), every byte echoed, and the server on exactly one OS thread throughout.

mod support;

use std::time::Duration;

use sprout::net::TcpStream;

#[test]
fn echo_example_serves_1000_concurrent_clients_on_one_thread() {
    let (server, addr) = support::spawn_echo_example();
    let pid = server.pid();
    assert_eq!(
        support::thread_count(pid),
        1,
        "the server starts with one thread"
    );
    let max_threads = support::echo_storm(addr, pid, 1000, 3, |a| {
        let c = TcpStream::connect(a)?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(c)
    });
    assert_eq!(
        max_threads, 1,
        "the echo server must serve from one OS thread"
    );
    assert_eq!(support::thread_count(pid), 1);
}
