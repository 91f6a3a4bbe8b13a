//! Pre-fork workers do not outlive their master: after `kill -KILL` or `kill -HUP` of the
//! master of `examples/http_hello --workers 2`, the workers stop (they get SIGTERM from the
//! kernel) within the grace period, and the port can be bound again.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::time::Duration;

use http_support::{get, wait_until};
use sprout::process::{Command, Stdio};

/// The children of `pid` (live or zombie).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether `pid` is gone or a zombie.
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => true,
    }
}

/// Starts a master with two workers, sends it `sig`, and checks the workers stop.
fn master_dies_of(sig: i32) {
    let grace = Duration::from_secs(5);
    let mut master = Command::new(support::example_path("http_hello"))
        .args(["--addr", "127.0.0.1:0", "--workers", "2", "--grace", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = master.stdout.take().unwrap();
    stdout.set_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let mpid = master.id();
    assert!(
        wait_until(Duration::from_secs(10), || children(mpid).len() == 2),
        "two workers start"
    );
    let workers = children(mpid);
    assert_eq!(get(addr, "/").status, 200, "a worker answers");

    // SAFETY: signals the master process this test started.
    unsafe { libc::kill(mpid as libc::pid_t, sig) };
    let status = master.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(status.is_some(), "the master dies of signal {sig}");
    let stopped = wait_until(grace, || workers.iter().all(|&w| dead(w)));
    if !stopped {
        for &w in &workers {
            // SAFETY: signals a worker process this test started (through its master).
            unsafe { libc::kill(w as libc::pid_t, libc::SIGKILL) };
        }
    }
    assert!(
        stopped,
        "the workers {workers:?} stop within {grace:?} of signal {sig}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || std::net::TcpListener::bind(addr)
            .is_ok()),
        "{addr} is free again after signal {sig}"
    );
}

#[test]
fn workers_stop_when_the_master_is_killed() {
    master_dies_of(libc::SIGKILL);
}

#[test]
fn workers_stop_when_the_master_gets_sighup() {
    master_dies_of(libc::SIGHUP);
}
