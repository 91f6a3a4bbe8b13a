//! An uncontended `std::sync::Mutex` lock/unlock, and one contended by two plain threads, built
//! with and without the `monkey` feature (with it, after `patch_all`): the cost the `syscall`
//! hook adds to std's locks. Run both and compare the printed lines:
//!
//! ```text
//! cargo bench --bench monkey_mutex
//! cargo bench --features monkey --bench monkey_mutex
//! ```
//!
//! (The uncontended path makes no futex call at all, so the hook cannot be on it; the
//! contended one is measured between two plain threads, whose futex calls go through the
//! hook's pass-through when the feature is on.)

use std::sync::{Arc, Mutex};
use std::time::Instant;

use criterion::{Criterion, Throughput};

/// The build's label.
const BUILD: &str = if cfg!(feature = "monkey") {
    "monkey_patched"
} else {
    "no_feature"
};

fn main() {
    #[cfg(feature = "monkey")]
    sprout::monkey::patch_all();
    let mut c = Criterion::default().configure_from_args();
    let m = Mutex::new(0u64);
    let mut group = c.benchmark_group("std_mutex_uncontended");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BUILD, |b| {
        b.iter(|| *std::hint::black_box(&m).lock().unwrap() += 1)
    });
    group.finish();
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        // Medians of 9 timed blocks, printed as one line per build.
        let mut ns: Vec<f64> = (0..9)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..2_000_000 {
                    *std::hint::black_box(&m).lock().unwrap() += 1;
                }
                t.elapsed().as_nanos() as f64 / 2_000_000.0
            })
            .collect();
        ns.sort_by(f64::total_cmp);
        println!(
            "std_mutex_uncontended {BUILD}: {:.2} ns per lock/unlock",
            ns[4]
        );
        // Two plain threads contending: their futex waits and wakes pass through the hook.
        let shared = Arc::new(Mutex::new(0u64));
        let mut ns: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let hs: Vec<_> = (0..2)
                    .map(|_| {
                        let shared = shared.clone();
                        std::thread::spawn(move || {
                            for _ in 0..200_000 {
                                *shared.lock().unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                t.elapsed().as_nanos() as f64 / 400_000.0
            })
            .collect();
        ns.sort_by(f64::total_cmp);
        println!(
            "std_mutex_two_threads {BUILD}: {:.2} ns per lock/unlock",
            ns[2]
        );
    }
}
