//! Sync primitives on the hot path, each beside tokio's equivalent on its current-thread
//! runtime, measured in the same run.
//!
//! - `ping_pong/*`: one round trip of a value between two greenlets (tasks) over a pair of
//!   channels: sprout's rendezvous `Channel`, sprout's `Queue::bounded(1)`, tokio's
//!   `mpsc::channel(1)`.
//! - `semaphore_handoff/*`: one acquisition of a one-permit semaphore contended by 1,000
//!   greenlets (tasks), each holding it across a yield; sprout's `Semaphore` vs tokio's.
//!
//! Run with `cargo bench --bench sync`; medians are in `target/criterion/*/new/estimates.json`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sprout::sync::{Channel, Queue, Semaphore};

const CONTENDERS: u64 = 1_000;

/// Round trips through a put/get pair, with the echo greenlet spawned outside the timing.
fn sprout_ping_pong<Q>(make: impl Fn() -> Q, iters: u64) -> Duration
where
    Q: std::ops::Deref<Target = Queue<u64>> + Clone + 'static,
{
    let (ping, pong) = (make(), make());
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        sprout::spawn(move || {
            while let Ok(v) = ping.get() {
                if pong.put(v + 1).is_err() {
                    break;
                }
            }
        })
    };
    let start = Instant::now();
    let mut v = 0;
    for _ in 0..iters {
        ping.put(v).unwrap();
        v = pong.get().unwrap();
    }
    let elapsed = start.elapsed();
    black_box(v);
    ping.close();
    echo.join().unwrap();
    elapsed
}

/// A `Queue` handle that derefs to itself, so the same driver takes a `Channel` or a queue.
#[derive(Clone)]
struct Bounded(Queue<u64>);

impl std::ops::Deref for Bounded {
    type Target = Queue<u64>;

    fn deref(&self) -> &Queue<u64> {
        &self.0
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current-thread runtime")
}

fn tokio_ping_pong(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    use tokio::sync::mpsc;
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let echo = rt.spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        let mut v = 0;
        for _ in 0..iters {
            ping_tx.send(v).await.unwrap();
            v = pong_rx.recv().await.unwrap();
        }
        let elapsed = start.elapsed();
        black_box(v);
        elapsed
    });
    drop(ping_tx);
    rt.block_on(echo).unwrap();
    elapsed
}

fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("ping_pong");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sprout_channel", |b| {
        b.iter_custom(|iters| sprout_ping_pong(Channel::<u64>::new, iters))
    });
    g.bench_function("sprout_bounded_queue", |b| {
        b.iter_custom(|iters| sprout_ping_pong(|| Bounded(Queue::bounded(1)), iters))
    });
    let rt = tokio_rt();
    g.bench_function("tokio_mpsc", |b| {
        b.iter_custom(|iters| tokio_ping_pong(&rt, iters))
    });
    g.finish();
}

/// Scales the time of `done` acquisitions to `iters` of them.
fn per_iters(elapsed: Duration, done: u64, iters: u64) -> Duration {
    elapsed.mul_f64(iters as f64 / done as f64)
}

fn sprout_semaphore(iters: u64) -> Duration {
    let rounds = iters.div_ceil(CONTENDERS);
    let sem = Semaphore::new(1);
    let contenders: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let sem = sem.clone();
            sprout::spawn(move || {
                for _ in 0..rounds {
                    let _permit = sem.acquire().unwrap();
                    sprout::yield_now();
                }
            })
        })
        .collect();
    // Spawning only queued them; they all start inside the timed join.
    let start = Instant::now();
    assert!(sprout::joinall(&contenders, None));
    per_iters(start.elapsed(), rounds * CONTENDERS, iters)
}

fn tokio_semaphore(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    use std::sync::Arc;
    let rounds = iters.div_ceil(CONTENDERS);
    let sem = Arc::new(tokio::sync::Semaphore::new(1));
    let contenders: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let sem = sem.clone();
            rt.spawn(async move {
                for _ in 0..rounds {
                    let _permit = sem.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let start = Instant::now();
    rt.block_on(async {
        for c in contenders {
            c.await.unwrap();
        }
    });
    per_iters(start.elapsed(), rounds * CONTENDERS, iters)
}

fn semaphore_handoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("semaphore_handoff");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sprout_1000_contenders", |b| {
        b.iter_custom(sprout_semaphore)
    });
    let rt = tokio_rt();
    g.bench_function("tokio_1000_contenders", |b| {
        b.iter_custom(|iters| tokio_semaphore(&rt, iters))
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
    targets = ping_pong, semaphore_handoff
}
criterion_main!(benches);
