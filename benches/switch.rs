//! Greenlet switch cost: the explicit-switch round trip A -> B -> A against a raw corosensei
//! resume+suspend pair in the same run, and creation+run+finish of a trivial greenlet on a
//! pooled stack.
//!
//! Run: `cargo bench --bench switch`

use std::hint::black_box;

use corosensei::{Coroutine, CoroutineResult};
use criterion::{criterion_group, criterion_main, Criterion};
use sprout::greenlet::Greenlet;

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");

    // Raw corosensei: one resume and one suspend per iteration.
    let mut co = Coroutine::new(|y, mut v: u64| loop {
        v = y.suspend(v + 1);
    });
    g.bench_function("corosensei_resume_suspend", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = match co.resume(black_box(i)) {
                CoroutineResult::Yield(v) => v,
                CoroutineResult::Return(()) => unreachable!(),
            };
        })
    });

    // Greenlet: main switches to B, B switches back to main (A -> B -> A).
    let echo = Greenlet::new(|mut v: u64| {
        let main = Greenlet::main();
        loop {
            v = main.switch::<u64, u64>(v + 1).unwrap();
        }
    });
    g.bench_function("greenlet_round_trip", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = echo.switch::<u64, u64>(black_box(i)).unwrap();
        })
    });

    // Create, run to completion, finish: the stack comes from the pool.
    g.bench_function("greenlet_create_run_finish", |b| {
        b.iter(|| {
            let g = Greenlet::new(|x: u64| x + 1);
            black_box(g.switch::<u64, u64>(black_box(1)).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
