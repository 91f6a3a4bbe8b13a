//! `examples/subprocess` as a child process: it streams a command's lines as they come,
//! kills it at the timeout, and its ticker greenlet keeps running throughout.

mod support;

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(support::example_path("subprocess"))
        .args(args)
        .output()
        .expect("run the subprocess example");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn ticks(out: &str) -> u32 {
    out.lines()
        .find_map(|l| l.strip_prefix("ticks: "))
        .and_then(|n| n.parse().ok())
        .expect("a ticks line")
}

#[test]
fn streams_lines_and_reports_the_exit_status() {
    let out = run(&[
        "--timeout",
        "10",
        "--",
        "sh",
        "-c",
        "echo a; sleep 0.6; echo b; exit 3",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..3],
        ["out: a", "out: b", "exit: exit status: 3"],
        "{out}"
    );
    assert!(
        ticks(&out) >= 1,
        "the ticker ran while the command did: {out}"
    );
}

#[test]
fn kills_the_command_at_the_timeout() {
    let out = run(&[
        "--timeout",
        "0.8",
        "--",
        "sh",
        "-c",
        "echo a; exec sleep 10",
    ]);
    assert!(out.starts_with("out: a\n"), "{out}");
    assert!(out.contains("timeout: killed after"), "{out}");
    assert!(ticks(&out) >= 2, "{out}");
}

/// A command whose shell started a child that holds stdout: the whole process group is killed
/// at the timeout, so the example ends then, not when the grandchild would have (usertry #7).
#[test]
fn a_timeout_kills_the_commands_whole_process_group() {
    let started = std::time::Instant::now();
    let out = run(&[
        "--timeout",
        "1",
        "--",
        "sh",
        "-c",
        "echo a; sleep 8; echo b",
    ]);
    let took = started.elapsed();
    assert!(out.contains("timeout: killed after"), "{out}");
    assert!(!out.contains("out: b"), "{out}");
    // 8 s if only sh were killed; generous for a loaded machine.
    assert!(
        took < std::time::Duration::from_secs(6),
        "took {took:?}: {out}"
    );
}
