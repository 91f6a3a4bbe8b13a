//! The ping-pong example prints exactly what the README promises.

use std::process::Command;

mod support;

#[test]
fn ping_pong_prints_three_rounds() {
    let out = Command::new(support::example_bin("ping_pong"))
        .args(["--rounds", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ping 1\npong 1\nping 2\npong 2\nping 3\npong 3\n"
    );
}

#[test]
fn ping_pong_defaults_to_five_rounds() {
    let out = Command::new(support::example_bin("ping_pong"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(text.ends_with("ping 5\npong 5\n"));
}

#[test]
fn ping_pong_rejects_bad_arguments() {
    let out = Command::new(support::example_bin("ping_pong"))
        .args(["--rounds", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rounds"));
}
