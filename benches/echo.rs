//! Echo round trips per second over loopback, 64-byte messages, 100 connections: sprout's
//! echo server against a tokio current-thread echo server, each on its own thread, both
//! driven in the same run by the same load generator (100 sprout greenlets on the bench
//! thread, each doing closed-loop write/read round trips on its own connection).
//!
//! ```text
//! cargo bench --bench echo
//! ```
//!
//! Throughput is declared in round trips (elements). Syscalls per round trip are measured
//! separately with strace on `examples/echo.rs` (see the `sprout_runtime::reactor` docs):
//!
//! ```text
//! strace -c -f -o /tmp/echo.strace target/release/examples/echo --addr 127.0.0.1:7788 &
//! target/release/examples/echo_load --addr 127.0.0.1:7788 --conns 100 --size 64 --secs 5
//! ```

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sprout::net::TcpListener;

#[path = "support/echo_load.rs"]
mod echo_load;

use echo_load::{Load, CONNS};

/// Round trips per connection per measured iteration.
const ROUNDS: usize = 20;

/// Starts sprout's echo server on its own thread (one hub, a greenlet per connection).
fn sprout_server() -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            sprout::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    rx.recv().unwrap()
}

/// Starts the same echo server on a tokio current-thread runtime on its own thread.
fn tokio_server() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if conn.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn echo(c: &mut Criterion) {
    let sprout_load = Load::connect(sprout_server());
    let tokio_load = Load::connect(tokio_server());
    // Warm both servers up: every handler has started and every stack is touched.
    sprout_load.run(10);
    tokio_load.run(10);

    let mut group = c.benchmark_group("echo_64B_100conns");
    group.throughput(Throughput::Elements((CONNS * ROUNDS) as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("sprout", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sprout_load.run(ROUNDS)).sum())
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| tokio_load.run(ROUNDS)).sum())
    });
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);
