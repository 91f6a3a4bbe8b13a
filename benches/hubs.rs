//! Many cores: `http_hello`'s handler served by 1 hub thread and by 2 hub threads (one
//! `SO_REUSEPORT` listener each, `sprout::net::serve_reuse_port`), driven in the same run by
//! the same load generator (`examples/http_load.rs`: one greenlet per keep-alive connection,
//! on the bench thread). On a 2-core machine the load generator shares the cores with the
//! servers: for the plaintext `/` the generator is the bottleneck and the ratio stays near
//! 1; `/work` spends about 20 µs of CPU per request in the handler (what a real handler
//! does), which makes the server the bottleneck and shows what the second hub buys.
//!
//! ```text
//! cargo bench --bench hubs
//! ```

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sprout::net::http::{Request, Response, Server};

#[path = "../examples/http_load.rs"]
#[allow(dead_code)]
mod http_load;

use http_load::{Clients, Until};

fn hello(req: &mut Request<'_>) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/work" => Response::text(format!("{:x}", busy_work())),
        _ => Response::new(404),
    }
}

/// About 20 µs of CPU: an FNV-style hash over a counter.
fn busy_work() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..20_000u64 {
        h = (h ^ std::hint::black_box(i)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Starts the server on `threads` hub threads (in a background thread) and returns its address.
fn server(threads: usize) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        sprout::net::serve_reuse_port(
            threads,
            "127.0.0.1:0",
            |addr| {
                tx.send(addr).map_err(std::io::Error::other)?;
                Ok(())
            },
            |listener| Server::builder().listener(listener, hello)?.serve_forever(),
        )
        .unwrap();
    });
    rx.recv().unwrap()
}

fn hubs(c: &mut Criterion) {
    const CONNS: usize = 128;
    const BATCHES: usize = 10;
    let servers = [("1_hub", server(1)), ("2_hubs", server(2))];
    let loads: Vec<(&str, Clients)> = servers
        .iter()
        .map(|(n, a)| (*n, Clients::connect(*a, CONNS)))
        .collect();
    for (name, load) in &loads {
        assert_eq!(
            load.run(1, "/", Until::Batches(5)).errors,
            0,
            "{name}: warm-up errors"
        );
    }
    for path in ["/", "/work"] {
        let group_name = if path == "/" {
            "http_hello_hubs"
        } else {
            "http_work_hubs"
        };
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements((CONNS * BATCHES) as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        for (name, load) in &loads {
            group.bench_function(*name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let r = load.run(1, path, Until::Batches(BATCHES));
                            assert_eq!(r.errors, 0, "{name}: errors under load");
                            r.elapsed
                        })
                        .sum()
                })
            });
        }
        group.finish();

        // Alternate the two in short rounds (a shared machine's load favours whoever runs in
        // a quiet moment) and print the medians and their ratio.
        let mut rps = [Vec::new(), Vec::new()];
        for _ in 0..5 {
            for (i, (_, load)) in loads.iter().enumerate() {
                let until = Until::Deadline(Instant::now() + Duration::from_secs(1));
                rps[i].push(load.run(1, path, until).rps());
            }
        }
        for r in &mut rps {
            r.sort_by(f64::total_cmp);
        }
        let (one, two) = (rps[0][2], rps[1][2]);
        println!(
            "{group_name} {CONNS} conns rps: 1_hub={one:.0} 2_hubs={two:.0} scaling={:.2}",
            two / one
        );
    }
}

criterion_group!(benches, hubs);
criterion_main!(benches);
