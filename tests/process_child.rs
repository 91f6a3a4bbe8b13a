//! `sprout::process`: children waited for on pidfds, parking only their greenlet; output,
//! exit codes, timeouts, kill, missing programs, and no stolen or leftover children.

use std::cell::Cell;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::process::{Command, Stdio};

#[test]
fn output_collects_stdout_and_stderr_and_exit_codes() {
    let out = Command::new("echo").arg("hi").output().unwrap();
    assert_eq!(out.stdout, b"hi\n");
    assert!(out.status.success());

    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(
        (&out.stdout[..], &out.stderr[..]),
        (&b"out\n"[..], &b"err\n"[..])
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_std_child_beside_sprouts_keeps_its_exit_status() {
    let mut std_child = std::process::Command::new("sh")
        .args(["-c", "sleep 0.2; exit 7"])
        .spawn()
        .unwrap();
    let ours: Vec<_> = (0..5)
        .map(|i| {
            sprout::spawn(move || {
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("exit {i}"))
                    .status()
            })
        })
        .collect();
    for (i, h) in ours.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap().code(), Some(i as i32));
    }
    assert_eq!(std_child.wait().unwrap().code(), Some(7));
}

#[test]
fn a_missing_program_is_not_found() {
    let err = Command::new("/nonexistent/sprout-no-such-program")
        .status()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = Command::new("sprout-no-such-program-in-path")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn wait_timeout_then_kill() {
    let mut child = Command::new("sleep").arg("5").spawn().unwrap();
    let started = Instant::now();
    assert_eq!(
        child.wait_timeout(Duration::from_millis(100)).unwrap(),
        None
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(child.try_wait().unwrap(), None);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    child.kill().unwrap(); // reaped already: nothing to do
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn a_killed_waiter_leaves_no_zombie() {
    let pid = Rc::new(Cell::new(0u32));
    let p = pid.clone();
    let waiter = sprout::spawn(move || {
        let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
        p.set(child.id());
        child.wait()
    });
    sprout::sleep(Duration::from_millis(50));
    assert_ne!(pid.get(), 0);
    waiter.kill();
    assert!(waiter.join().unwrap_err().is_killed());
    // The reaper greenlet reaps it once it exits.
    let proc_entry = format!("/proc/{}", pid.get());
    let until = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&proc_entry).exists() && Instant::now() < until {
        sprout::sleep(Duration::from_millis(20));
    }
    assert!(
        !std::path::Path::new(&proc_entry).exists(),
        "process {} was reaped, not left a zombie",
        pid.get()
    );
}

#[test]
fn pipes_are_cooperative() {
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    let mut stdout = cat.stdout.take().unwrap();
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = sprout::spawn(move || loop {
        sprout::sleep(Duration::from_millis(5));
        t.set(t.get() + 1);
    });
    let writer = sprout::spawn(move || {
        for i in 0..3 {
            sprout::sleep(Duration::from_millis(40));
            writeln!(stdin, "line {i}").unwrap();
        }
    });
    let mut lines = BufReader::new(&mut stdout).lines();
    for i in 0..3 {
        assert_eq!(lines.next().unwrap().unwrap(), format!("line {i}"));
    }
    writer.join().unwrap(); // drops stdin: cat sees EOF
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    assert!(cat.wait().unwrap().success());
    assert!(
        ticks.get() >= 10,
        "the hub ran other greenlets: {}",
        ticks.get()
    );
    ticker.kill();
}

#[test]
fn wait_pid_never_reaps_a_process_that_is_not_our_child() {
    let err = sprout::process::wait_pid(1).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
}
