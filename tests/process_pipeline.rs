//! `Stdio::from(ChildStdout)` (and `ChildStdin`, `ChildStderr`), as std has: one child's pipe
//! becomes another command's stdio, for pipelines.

use std::io::Read;

use sprout::process::{Command, Stdio};

#[test]
fn stdout_of_one_child_feeds_the_next() {
    let mut echo = Command::new("echo")
        .arg("hello pipeline")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(Stdio::from(echo.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"HELLO PIPELINE\n");
    assert!(echo.wait().unwrap().success());
}

#[test]
fn stderr_and_stdin_pipes_convert_too() {
    // cat reads from a pipe whose write end becomes sh's stderr.
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = Command::new("sh")
        .args(["-c", "echo to-stderr >&2"])
        .stderr(Stdio::from(cat.stdin.take().unwrap()))
        .status()
        .unwrap();
    assert!(status.success());
    // This process's copy of cat's stdin is closed: cat sees EOF once sh has exited.
    let mut text = String::new();
    cat.stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "to-stderr\n");
    assert!(cat.wait().unwrap().success());

    // A child's stderr as the next command's stdin.
    let mut sh = Command::new("sh")
        .args(["-c", "echo from-stderr >&2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("cat")
        .stdin(Stdio::from(sh.stderr.take().unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"from-stderr\n");
    assert!(sh.wait().unwrap().success());
}
