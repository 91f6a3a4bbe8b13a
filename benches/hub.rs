//! Hub hot paths against tokio's current-thread runtime in the same run: spawn + join of a
//! trivial greenlet (steady state, pooled stack), `yield_now` ping-pong between two
//! greenlets, and 10,000 timers armed and fired.
//!
//! Run: `cargo bench --bench hub`

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    // Warm the stack pool.
    sprout::spawn(|| ()).join().unwrap();
    g.bench_function("sprout", |b| {
        b.iter(|| sprout::spawn(|| black_box(1u64)).join().unwrap())
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_current_thread", |b| {
        b.iter(|| rt.block_on(async { tokio::spawn(async { black_box(1u64) }).await.unwrap() }))
    });
    g.finish();
}

/// Two greenlets each yield `n` times; one iteration is one yield (a switch to the other).
fn yield_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield_ping_pong");
    g.bench_function("sprout", |b| {
        b.iter_custom(|iters| {
            let n = iters / 2 + 1;
            let start = std::time::Instant::now();
            let a = sprout::spawn(move || (0..n).for_each(|_| sprout::yield_now()));
            let bb = sprout::spawn(move || (0..n).for_each(|_| sprout::yield_now()));
            a.join().unwrap();
            bb.join().unwrap();
            start.elapsed()
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            let n = iters / 2 + 1;
            rt.block_on(async move {
                let start = std::time::Instant::now();
                let a = tokio::spawn(async move {
                    for _ in 0..n {
                        tokio::task::yield_now().await
                    }
                });
                let bb = tokio::spawn(async move {
                    for _ in 0..n {
                        tokio::task::yield_now().await
                    }
                });
                a.await.unwrap();
                bb.await.unwrap();
                start.elapsed()
            })
        })
    });
    g.finish();
}

/// 10,000 greenlets each sleep 1 ms: every timer is armed, then all fire.
fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers_10k");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.bench_with_input(BenchmarkId::new("sprout", 10_000), &10_000, |b, &n| {
        b.iter(|| {
            let fired = Rc::new(Cell::new(0u32));
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let f = fired.clone();
                    sprout::spawn(move || {
                        sprout::sleep(Duration::from_millis(1));
                        f.set(f.get() + 1);
                    })
                })
                .collect();
            sprout::joinall(&hs, None);
            assert_eq!(fired.get(), n);
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    g.bench_with_input(
        BenchmarkId::new("tokio_current_thread", 10_000),
        &10_000,
        |b, &n| {
            b.iter(|| {
                rt.block_on(async move {
                    let hs: Vec<_> = (0..n)
                        .map(|_| {
                            tokio::spawn(async {
                                tokio::time::sleep(Duration::from_millis(1)).await
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        },
    );
    g.finish();
}

criterion_group!(benches, spawn_join, yield_ping_pong, timers);
criterion_main!(benches);
