//! The sleep_many example with `--secs` and `maps=`: many parked greenlets on one thread in a
//! few memory-map entries.

use std::process::Command;

mod support;

#[test]
fn sleep_many_reports_maps_and_honours_secs() {
    let out = Command::new(support::example_bin("sleep_many"))
        .args(["--count", "20000", "--secs", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
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
    assert_eq!(get("count"), 20_000);
    assert_eq!(get("threads"), 1);
    // Every greenlet slept its 2 s, overlapped: far below the 40,000 s in sequence.
    assert!(get("wall_ms") >= 2000 && get("wall_ms") < 20_000, "{text}");
    if sprout::stack::guard_mode() == sprout::stack::GuardMode::GuardRegion {
        // 20,000 guarded stacks with per-stack guards would be 40,000 entries.
        assert!(get("maps") < 1000, "{text}");
    }
}

#[test]
fn sleep_many_rejects_a_bad_secs_value() {
    let out = Command::new(support::example_bin("sleep_many"))
        .args(["--secs", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad --secs value"));
}
