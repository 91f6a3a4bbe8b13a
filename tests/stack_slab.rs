//! Slab stacks: the guard mode, map entries, the process-wide pool shared by hubs, the idle
//! budget and `trim`. Each case runs in a child process: the stack counters are process-wide.

use std::time::Duration;

use sprout::stack::{self, GuardMode};

mod support;

fn maps_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// Whether the running kernel is at least 6.13 (lightweight guard regions).
fn kernel_has_guard_regions() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().unwrap().parse().unwrap();
    let minor: u32 = parts.next().unwrap().parse().unwrap();
    (major, minor) >= (6, 13)
}

/// Spawns `n` greenlets parked in a 50 ms sleep on this thread's hub, returns the number of
/// memory-map entries while they are all parked, and joins them.
fn park_many(n: usize) -> usize {
    let handles: Vec<_> = (0..n)
        .map(|_| sprout::spawn(|| sprout::sleep(Duration::from_millis(50))))
        .collect();
    sprout::yield_now();
    let maps = maps_count();
    assert!(sprout::joinall(&handles, Some(Duration::from_secs(60))));
    maps
}

/// Runs the test `name` again in a child process with `env` (plus `SPROUT_CHILD=1`), and
/// asserts it passed.
fn in_child(name: &str, env: &[(&str, &str)]) -> String {
    let mut all = vec![("SPROUT_CHILD", "1")];
    all.extend_from_slice(env);
    let out = support::run_self(name, &all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD-DONE"), "{stdout}");
    stdout
}

fn is_child() -> bool {
    std::env::var_os("SPROUT_CHILD").is_some()
}

#[test]
fn guard_regions_keep_10_000_parked_greenlets_in_a_few_map_entries() {
    if !is_child() {
        in_child(
            "guard_regions_keep_10_000_parked_greenlets_in_a_few_map_entries",
            &[],
        );
        return;
    }
    let expected = if kernel_has_guard_regions() {
        GuardMode::GuardRegion
    } else {
        GuardMode::Mprotect
    };
    assert_eq!(stack::guard_mode(), expected);
    assert_eq!(stack::stats().guard_mode, expected);
    let before = maps_count();
    let parked = park_many(10_000);
    let stats = stack::stats();
    assert!(stats.stacks >= 10_000, "{stats:?}");
    if expected == GuardMode::GuardRegion {
        // 10,000 guarded stacks in a handful of slabs; per-stack guards would add 20,000.
        assert!(parked < before + 40, "maps {before} -> {parked}");
        assert!(stats.slabs <= 12, "{stats:?}");
    }
    println!("CHILD-DONE");
}

#[test]
fn the_mprotect_fallback_guards_every_stack_with_two_map_entries() {
    if !is_child() {
        in_child(
            "the_mprotect_fallback_guards_every_stack_with_two_map_entries",
            &[("SPROUT_STACK_GUARDS", "mprotect")],
        );
        return;
    }
    assert_eq!(stack::guard_mode(), GuardMode::Mprotect);
    let before = maps_count();
    let parked = park_many(2_000);
    assert!(parked >= before + 2 * 2_000, "maps {before} -> {parked}");
    // The stacks are reused, and trim gives the map entries back with the slabs.
    let mapped = stack::mapped_stacks();
    park_many(2_000);
    assert_eq!(
        stack::mapped_stacks(),
        mapped,
        "second round reused the stacks"
    );
    stack::trim();
    assert_eq!(stack::stats().stacks, 0, "{:?}", stack::stats());
    assert!(maps_count() < before + 20, "{before} -> {}", maps_count());
    println!("CHILD-DONE");
}

#[test]
fn stacks_released_by_one_hub_are_reused_by_another() {
    if !is_child() {
        in_child("stacks_released_by_one_hub_are_reused_by_another", &[]);
        return;
    }
    let baseline_maps = maps_count();
    // Hub A: a burst of 5,000 parked greenlets, then it stays alive (parked on a channel).
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (burst_tx, burst_rx) = std::sync::mpsc::channel::<()>();
    let a = std::thread::spawn(move || {
        park_many(5_000);
        burst_tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    burst_rx.recv().unwrap();
    let after_a = stack::stats();
    assert!(after_a.stacks >= 5_000, "{after_a:?}");
    // Hub A keeps at most its warm pool (65 stacks); the rest is in the process-wide pool.
    assert!(after_a.idle >= 5_000 - 100, "{after_a:?}");
    // Hub B: the same burst is served from the stacks hub A gave back.
    std::thread::spawn(|| park_many(5_000)).join().unwrap();
    let after_b = stack::stats();
    assert!(
        after_b.stacks <= after_a.stacks + 100,
        "hub B carved new stacks instead of reusing: {after_a:?} -> {after_b:?}"
    );
    done_tx.send(()).unwrap();
    a.join().unwrap();
    // Both threads exited and gave their warm pools back; trim unmaps every slab.
    stack::trim();
    let trimmed = stack::stats();
    assert_eq!((trimmed.stacks, trimmed.slabs, trimmed.bytes), (0, 0, 0));
    assert!(maps_count() < baseline_maps + 20);
    println!("CHILD-DONE");
}

#[test]
fn the_idle_budget_unmaps_whole_slabs() {
    if !is_child() {
        in_child("the_idle_budget_unmaps_whole_slabs", &[]);
        return;
    }
    stack::set_idle_budget(1_000);
    assert_eq!(stack::idle_budget(), 1_000);
    std::thread::spawn(|| park_many(6_000)).join().unwrap();
    let s = stack::stats();
    // The thread exited: all 6,000 stacks went idle; only whole slabs beyond the budget went.
    assert!(s.idle <= 1_000, "{s:?}");
    assert!(s.stacks <= 1_000, "{s:?}");
    // A smaller budget applies at once.
    stack::set_idle_budget(0);
    assert_eq!(stack::stats().stacks, 0, "{:?}", stack::stats());
    println!("CHILD-DONE");
}

#[test]
fn an_impossible_stack_size_is_an_error_not_a_crash() {
    let err = sprout::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("1 TiB"), "{err}");
    // Tiny sizes are rounded up to a page and work.
    let h = sprout::Builder::new().stack_size(1).spawn(|| 7).unwrap();
    assert_eq!(h.join().unwrap(), 7);
}
