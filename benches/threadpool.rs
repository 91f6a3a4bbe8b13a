//! The thread pool and cross-thread wake-ups, each beside tokio's equivalent where one exists,
//! measured in the same run.
//!
//! - `spawn_blocking/*`: one round trip of a trivial job from a greenlet (task) to the pool
//!   and back: submit, run on a pool thread, wake the hub, resume. sprout's `spawn_blocking`
//!   vs tokio's `spawn_blocking` awaited on its current-thread runtime.
//! - `cross_thread_wake/*`: one ping-pong round trip between a plain OS thread and a greenlet
//!   parked on a hub, over two `ThreadEvent`s: the thread sets one (waking the hub through its
//!   notifier), the greenlet sets the other (waking the thread's condvar). Beside it the same
//!   round trip with tokio's `Notify` and a std channel.
//!
//! Run with `cargo bench --bench threadpool`; medians are in
//! `target/criterion/*/new/estimates.json`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sprout::sync::ThreadEvent;

fn sprout_round_trips(iters: u64) -> Duration {
    sprout::spawn(move || {
        // Warm the pool: a thread is started and idle, as in the steady state.
        black_box(sprout::spawn_blocking(|| 0u64));
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..iters {
            sum += sprout::spawn_blocking(move || black_box(i));
        }
        let elapsed = start.elapsed();
        black_box(sum);
        elapsed
    })
    .join()
    .unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current-thread runtime")
}

fn tokio_round_trips(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    rt.block_on(async move {
        black_box(tokio::task::spawn_blocking(|| 0u64).await.unwrap());
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..iters {
            sum += tokio::task::spawn_blocking(move || black_box(i))
                .await
                .unwrap();
        }
        let elapsed = start.elapsed();
        black_box(sum);
        elapsed
    })
}

fn spawn_blocking(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_blocking");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sprout", |b| b.iter_custom(sprout_round_trips));
    let rt = tokio_rt();
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| tokio_round_trips(&rt, iters))
    });
    g.finish();
}

/// `iters` ping-pong rounds between an OS thread and a greenlet over two `ThreadEvent`s; the
/// thread and the greenlet are set up outside the timing.
fn sprout_event_ping_pong(iters: u64) -> Duration {
    let (ping, pong) = (ThreadEvent::new(), ThreadEvent::new());
    let greenlet = {
        let (ping, pong) = (ping.clone(), pong.clone());
        sprout::spawn(move || {
            for _ in 0..=iters {
                ping.wait().unwrap();
                ping.clear();
                pong.set();
            }
        })
    };
    let thread = std::thread::spawn(move || {
        let round = || {
            ping.set();
            pong.wait().unwrap();
            pong.clear();
        };
        round();
        let start = Instant::now();
        for _ in 0..iters {
            round();
        }
        start.elapsed()
    });
    greenlet.join().unwrap();
    thread.join().unwrap()
}

/// The same rounds between an OS thread and a task on tokio's current-thread runtime: the
/// thread wakes the task with a `Notify`, the task answers on a std channel.
fn tokio_notify_ping_pong(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let ping = Arc::new(tokio::sync::Notify::new());
    let (pong_tx, pong_rx) = std::sync::mpsc::channel::<()>();
    let task = {
        let ping = ping.clone();
        rt.spawn(async move {
            for _ in 0..=iters {
                ping.notified().await;
                pong_tx.send(()).unwrap();
            }
        })
    };
    let thread = std::thread::spawn(move || {
        let round = || {
            ping.notify_one();
            pong_rx.recv().unwrap();
        };
        round();
        let start = Instant::now();
        for _ in 0..iters {
            round();
        }
        start.elapsed()
    });
    rt.block_on(task).unwrap();
    thread.join().unwrap()
}

fn cross_thread_wake(c: &mut Criterion) {
    let mut g = c.benchmark_group("cross_thread_wake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sprout_thread_event", |b| {
        b.iter_custom(sprout_event_ping_pong)
    });
    let rt = tokio_rt();
    g.bench_function("tokio_notify", |b| {
        b.iter_custom(|iters| tokio_notify_ping_pong(&rt, iters))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_blocking, cross_thread_wake
}
criterion_main!(benches);
