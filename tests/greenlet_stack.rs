//! Stacks: pooled reuse, overflow reporting in both guard modes, and the vm.max_map_count
//! error of the mprotect fallback.

use std::hint::black_box;
use std::sync::Mutex;

use sprout::greenlet::{Builder, Greenlet};

mod support;

fn maps_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// The stack counters are process-wide: tests that compare them run one at a time.
static COUNTERS: Mutex<()> = Mutex::new(());

#[test]
fn creating_100_000_greenlets_in_sequence_reuses_stacks() {
    let _serial = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up: one stack in the pool.
    let g = Greenlet::new(|x: u64| x);
    let _: u64 = g.switch(1u64).unwrap();
    let mapped = sprout::stack::mapped_stacks();
    let maps = maps_count();
    let mut sum = 0u64;
    for i in 0..100_000u64 {
        let g = Greenlet::new(|x: u64| x + 1);
        sum += g.switch::<u64, u64>(i).unwrap();
    }
    assert_eq!(sum, (1..=100_000u64).sum::<u64>());
    assert_eq!(
        sprout::stack::mapped_stacks(),
        mapped,
        "no new stack was mapped"
    );
    // Other test threads may map memory meanwhile; 100,000 fresh stacks would add 200,000.
    assert!(
        maps_count() < maps + 100,
        "memory map did not grow with the greenlet count"
    );
}

#[test]
fn hub_greenlets_reuse_stacks_too() {
    let _serial = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    sprout::spawn(|| ()).join().unwrap();
    let mapped = sprout::stack::mapped_stacks();
    for _ in 0..20_000 {
        sprout::spawn(|| ()).join().unwrap();
    }
    assert_eq!(sprout::stack::mapped_stacks(), mapped);
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let buf = black_box([n as u8; 512]);
    if n == 0 {
        return buf[0] as u64;
    }
    recurse(n - 1) + black_box(buf[7]) as u64
}

#[test]
fn stack_overflow_names_the_greenlet_and_aborts() {
    if std::env::var_os("SPROUT_CHILD_OVERFLOW").is_some() {
        let g = Builder::new()
            .name("deep-diver")
            .stack_size(64 * 1024)
            .spawn(|n: u64| recurse(n))
            .unwrap();
        let _: u64 = g.switch(1_000_000u64).unwrap();
        unreachable!("the overflow aborts the process");
    }
    // Once per guard mode: this kernel's choice, then the forced mprotect fallback.
    for forced in [None, Some("mprotect")] {
        let mut env = vec![("SPROUT_CHILD_OVERFLOW", "1")];
        env.extend(forced.map(|m| ("SPROUT_STACK_GUARDS", m)));
        let out = support::run_self("stack_overflow_names_the_greenlet_and_aborts", &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "child must fail; stderr: {stderr}");
        assert!(
            stderr.contains("stack overflow in greenlet 'deep-diver'")
                && stderr.contains("65536 bytes"),
            "{forced:?}: stderr names the greenlet and its stack size: {stderr}"
        );
    }
}

#[test]
fn hub_greenlet_overflow_is_reported_too() {
    if std::env::var_os("SPROUT_CHILD_OVERFLOW_HUB").is_some() {
        let h = sprout::Builder::new()
            .name("hub-diver")
            .stack_size(64 * 1024)
            .spawn(|| recurse(1_000_000))
            .unwrap();
        let _ = h.join();
        unreachable!();
    }
    for forced in [None, Some("mprotect")] {
        let mut env = vec![("SPROUT_CHILD_OVERFLOW_HUB", "1")];
        env.extend(forced.map(|m| ("SPROUT_STACK_GUARDS", m)));
        let out = support::run_self("hub_greenlet_overflow_is_reported_too", &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("stack overflow in greenlet 'hub-diver'")
                && stderr.contains("65536 bytes"),
            "{forced:?}: {stderr}"
        );
    }
}

/// In the mprotect fallback every stack costs two map entries, so the real
/// `vm.max_map_count` is reachable: spawning stops with an error naming it while the process
/// can still start a thread-pool thread, allocate 100 MB and print, with `RUST_BACKTRACE=1`.
#[test]
fn running_out_of_memory_maps_is_a_clear_error() {
    if std::env::var_os("SPROUT_CHILD_MAPS").is_some() {
        assert_eq!(
            sprout::stack::guard_mode(),
            sprout::stack::GuardMode::Mprotect
        );
        // Keep creating (unstarted) greenlets until a stack is refused.
        let mut keep = Vec::new();
        let err = loop {
            match Builder::new().stack_size(16 * 1024).spawn(|_: ()| ()) {
                Ok(g) => keep.push(g),
                Err(e) => break e,
            }
            assert!(keep.len() < 1_000_000, "no limit hit");
        };
        println!("CHILD-ERROR after {}: {err}", keep.len());
        // The root code parks on the hub, so the job runs on a new pool thread.
        sprout::yield_now();
        let me = std::thread::current().id();
        let job = sprout::spawn_blocking(move || {
            assert_ne!(std::thread::current().id(), me);
            6 * 7
        });
        let mut big = vec![0u8; 100 << 20];
        big[50 << 20] = 1;
        println!(
            "CHILD-OK job={job} alloc={} maps={}",
            black_box(&big).len(),
            maps_count()
        );
        return;
    }
    let out = support::run_self(
        "running_out_of_memory_maps_is_a_clear_error",
        &[
            ("SPROUT_CHILD_MAPS", "1"),
            ("SPROUT_STACK_GUARDS", "mprotect"),
            ("RUST_BACKTRACE", "1"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child exits cleanly: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("CHILD-ERROR") && stdout.contains("vm.max_map_count"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CHILD-OK job=42 alloc=104857600"),
        "{stdout}"
    );
}
