//! `Command::process_group` and `Child::kill_group`: a child in its own process group is
//! killed together with the processes it started, which then release its stdout.

use std::io::Read;
use std::time::{Duration, Instant};

use sprout::process::{Command, Stdio};

/// The process group of `pid`, from /proc (field 5 of stat).
fn pgrp(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit(')').next().unwrap();
    rest.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn a_child_in_its_own_group_is_killed_with_what_it_started() {
    let mut child = Command::new("sh")
        .args(["-c", "sleep 8 & echo started; sleep 8; echo never"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    assert_eq!(
        pgrp(child.id()) as u32,
        child.id(),
        "the child leads a new group"
    );
    assert_ne!(pgrp(std::process::id()) as u32, child.id());
    let mut out = child.stdout.take().unwrap();
    out.set_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut first = [0u8; 8];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"started\n");
    assert!(child
        .wait_timeout(Duration::from_millis(200))
        .unwrap()
        .is_none());

    let started = Instant::now();
    child.kill_group().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    // Every member held stdout; EOF comes once all of them are dead, long before 8 s.
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn kill_group_of_a_child_without_a_group_of_its_own_fails() {
    let mut child = Command::new("sleep").arg("5").spawn().unwrap();
    let e = child.kill_group().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ESRCH));
    child.kill().unwrap();
    child.wait().unwrap();
}
