//! Stacks: pooled reuse, overflow reporting, and the vm.max_map_count error.

use std::hint::black_box;

use sprout::greenlet::{Builder, Greenlet};

mod support;

fn maps_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn creating_100_000_greenlets_in_sequence_reuses_stacks() {
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
    let out = support::run_self(
        "stack_overflow_names_the_greenlet_and_aborts",
        &[("SPROUT_CHILD_OVERFLOW", "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "child must fail; stderr: {stderr}");
    assert!(
        stderr.contains("stack overflow in greenlet 'deep-diver'")
            && stderr.contains("65536 bytes"),
        "stderr names the greenlet and its stack size: {stderr}"
    );
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
    let out = support::run_self(
        "hub_greenlet_overflow_is_reported_too",
        &[("SPROUT_CHILD_OVERFLOW_HUB", "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("stack overflow in greenlet 'hub-diver'"),
        "{stderr}"
    );
}

#[test]
fn running_out_of_memory_maps_is_a_clear_error() {
    if std::env::var_os("SPROUT_CHILD_MAPS").is_some() {
        // Keep creating (unstarted) greenlets until the kernel refuses a stack.
        let mut keep = Vec::new();
        let err = loop {
            match Builder::new().stack_size(16 * 1024).spawn(|_: ()| ()) {
                Ok(g) => keep.push(g),
                Err(e) => break e,
            }
            assert!(keep.len() < 1_000_000, "no limit hit");
        };
        println!("CHILD-ERROR after {}: {err}", keep.len());
        return;
    }
    let out = support::run_self(
        "running_out_of_memory_maps_is_a_clear_error",
        &[("SPROUT_CHILD_MAPS", "1")],
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
}
