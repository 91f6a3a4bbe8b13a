//! The sleep_many example: N sleepers on one OS thread, one result line.

use std::process::Command;

mod support;

#[test]
fn sleep_many_runs_on_one_thread_and_prints_one_line() {
    let out = Command::new(support::example_bin("sleep_many"))
        .args(["--count", "2000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let fields = support::int_fields(&text);
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "count",
            "wall_ms",
            "rss_per_greenlet_bytes",
            "threads",
            "maps"
        ]
    );
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).unwrap().1;
    assert_eq!(get("count"), 2000);
    assert_eq!(get("threads"), 1);
    // 2,000 one-second sleeps overlapped: far below the 2,000 s they would take in sequence.
    assert!(get("wall_ms") >= 1000 && get("wall_ms") < 10_000, "{text}");
}
