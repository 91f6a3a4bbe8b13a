//! Headroom: a process driven to its stack limit gets a clear error from `spawn` and can still
//! start a thread-pool thread, allocate 100 MB, print and exit 0, with `RUST_BACKTRACE=1`.
//! Each case runs in a child process (the limits are process-wide).

use std::hint::black_box;
use std::time::Duration;

mod support;

/// Spawns parked greenlets until `sprout::Builder::spawn` refuses one; returns them (still
/// parked) and the error.
fn spawn_until_refused(stack_size: usize) -> (Vec<sprout::JoinHandle<()>>, std::io::Error) {
    let mut keep = Vec::new();
    loop {
        match sprout::Builder::new()
            .stack_size(stack_size)
            .spawn(|| sprout::sleep(Duration::from_secs(3600)))
        {
            Ok(h) => keep.push(h),
            Err(e) => return (keep, e),
        }
        assert!(keep.len() < 200_000, "no limit hit");
    }
}

/// What must still work at the limit: a job on a new thread-pool thread, 100 MB of memory,
/// printing. Then the parked greenlets are killed and the child exits 0.
fn still_alive_at_the_limit(keep: Vec<sprout::JoinHandle<()>>) {
    sprout::yield_now();
    let me = std::thread::current().id();
    let job = sprout::spawn_blocking(move || {
        assert_ne!(std::thread::current().id(), me, "ran on a pool thread");
        6 * 7
    });
    let mut big = vec![0u8; 100 << 20];
    for i in (0..big.len()).step_by(4096) {
        big[i] = 1;
    }
    println!(
        "CHILD-OK job={job} alloc={} greenlets={}",
        black_box(&big).len(),
        keep.len()
    );
    sprout::killall(&keep);
}

fn check_child(name: &str, env: &[(&str, &str)], error_mentions: &str) {
    let mut all = vec![("SPROUT_CHILD", "1"), ("RUST_BACKTRACE", "1")];
    all.extend_from_slice(env);
    let out = support::run_self(name, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child must exit 0: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("CHILD-ERROR") && stdout.contains(error_mentions),
        "{stdout}"
    );
    assert!(
        stdout.contains("CHILD-OK job=42 alloc=104857600"),
        "{stdout}"
    );
}

#[test]
fn a_stack_cap_gives_a_clear_error_and_the_process_lives_on() {
    if std::env::var_os("SPROUT_CHILD").is_none() {
        check_child(
            "a_stack_cap_gives_a_clear_error_and_the_process_lives_on",
            &[],
            "sprout::stack::set_max_stacks",
        );
        return;
    }
    sprout::stack::set_max_stacks(2_000);
    let (keep, err) = spawn_until_refused(64 * 1024);
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    assert_eq!(keep.len(), 2_000);
    println!("CHILD-ERROR after {}: {err}", keep.len());
    // `sprout::spawn` reports the same error as a panic.
    let panic = std::panic::catch_unwind(|| sprout::spawn(|| ())).unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("set_max_stacks"), "{msg}");
    still_alive_at_the_limit(keep);
}

#[test]
fn the_address_space_limit_leaves_headroom() {
    if std::env::var_os("SPROUT_CHILD").is_none() {
        check_child("the_address_space_limit_leaves_headroom", &[], "RLIMIT_AS");
        return;
    }
    // A real kernel limit: 3 GiB more address space than the process uses now.
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    let limit = pages * 4096 + (3 << 30);
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit with a valid rlimit; lowering our own limit needs no privilege.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
    let (keep, err) = spawn_until_refused(256 * 1024);
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    assert!(keep.len() > 5_000, "{} stacks fit in 2.5 GiB", keep.len());
    println!("CHILD-ERROR after {}: {err}", keep.len());
    still_alive_at_the_limit(keep);
}
