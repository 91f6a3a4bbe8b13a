//! `examples/echo_std.rs` (std::net only, plus `patch_all`) as a child process: 500
//! concurrent clients, every byte echoed, and the server on exactly one OS thread
//! throughout. The clients are std::net too, in greenlets of this patched process.

mod support;

use std::net::TcpStream;
use std::time::Duration;

#[test]
fn echo_std_example_serves_500_concurrent_clients_on_one_thread() {
    sprout::monkey::patch_all();
    let (server, addr) = support::spawn_server_example("echo_std");
    let pid = server.pid();
    assert_eq!(
        support::thread_count(pid),
        1,
        "the server starts with one thread"
    );
    let max_threads = support::echo_storm(addr, pid, 500, 3, |a| {
        let c = TcpStream::connect(a)?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(c)
    });
    assert_eq!(
        max_threads, 1,
        "the std-only echo server serves from one OS thread"
    );
    assert_eq!(support::thread_count(pid), 1);
}
