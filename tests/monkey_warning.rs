//! Monkey patching: `patch_all` warns, in one line on stderr, about sockets created before it
//! that are still open (they stay blocking). Each case runs in a child process (this test
//! binary again), since the warning is printed once per process.

use std::process::Command;

/// Runs this test binary's `child` test with `mode` in a fresh process; returns its stderr.
fn run_child(mode: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("SPROUT_WARNING_CHILD", mode)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// The child's side: make sockets (or not), then patch.
#[test]
fn child() {
    let Ok(mode) = std::env::var("SPROUT_WARNING_CHILD") else {
        return; // run directly: nothing to do
    };
    let listener = (mode == "sockets").then(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let udp = (mode == "sockets").then(|| std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    sprout::monkey::patch_all();
    sprout::monkey::patch_all(); // once per process
                                 // Sockets made after patch_all are not reported by a later call either.
    let _after = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    drop((listener, udp));
}

#[test]
fn open_sockets_made_before_patch_all_get_one_warning_line() {
    let err = run_child("sockets");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("sprout::monkey"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("2 sockets created before patch_all are still open"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("they stay blocking"), "{}", lines[0]);
}

#[test]
fn no_sockets_no_warning() {
    let err = run_child("none");
    assert!(!err.contains("sprout::monkey"), "{err}");
}
