//! HTTP requests per second, `GET /` answered `Hello, World!` as `text/plain`, one server
//! thread each: sprout's `http::Server` (the `http_hello` example's handler), hyper 1 on
//! tokio's current-thread runtime, and may_minihttp on one may worker, all in the same run
//! and all driven by the same load generator (`examples/http_load.rs`, included below: one
//! greenlet per keep-alive connection on the bench thread), at 50 and 256 connections and
//! at 256 connections with 16 requests pipelined per write.
//!
//! ```text
//! cargo bench --bench http
//! ```
//!
//! Throughput is declared in requests (elements), so criterion's `thrpt` is requests per
//! second. Then a summary alternates the servers in short rounds and prints, per shape, the
//! median requests per second and the median requests per *server CPU-second* (the CPU
//! time of the server's own threads, from `/proc/self/task/TID/schedstat`, so the load
//! generator and anything else on the machine do not count), and sprout's ratio to each
//! peer on both. Per CPU-second is the number to compare on a shared, loaded machine.
//! Syscalls per request are measured separately with strace on the example:
//!
//! ```text
//! strace -c -f -o /tmp/http.strace target/release/examples/http_hello --addr 127.0.0.1:8080 &
//! target/release/examples/http_load --addr 127.0.0.1:8080 --conns 50 --secs 5
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../examples/http_load.rs"]
#[allow(dead_code)]
mod http_load;

use http_load::{Clients, Until};

/// A server under test: its address and the threads whose CPU time is its own.
struct Peer {
    /// Name in the report.
    name: &'static str,
    /// Where it listens.
    addr: SocketAddr,
    /// Its threads (Linux thread ids of this process).
    tids: Vec<i32>,
}

/// The calling thread's Linux thread id.
fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// This process's thread ids.
fn threads() -> HashSet<i32> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// CPU time the threads `tids` have used so far, in seconds (the scheduler's own account,
/// in nanoseconds: the first field of `schedstat`).
fn cpu_seconds(tids: &[i32]) -> f64 {
    tids.iter()
        .map(|tid| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum::<u64>() as f64
        / 1e9
}

/// Starts sprout's HTTP server on its own thread (one hub, a greenlet per connection).
fn sprout_server() -> (SocketAddr, Vec<i32>) {
    use sprout::net::http::{Response, Server};
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let server = Server::bind("127.0.0.1:0", |req| match req.path() {
            "/" => Response::text("Hello, World!"),
            _ => Response::new(404),
        })
        .unwrap();
        tx.send((server.local_addr(), vec![gettid()])).unwrap();
        server.serve_forever().unwrap();
    });
    rx.recv().unwrap()
}

/// Starts hyper's HTTP/1 server on a tokio current-thread runtime on its own thread.
fn hyper_server() -> (SocketAddr, Vec<i32>) {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::{Request, Response, StatusCode};
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send((listener.local_addr().unwrap(), vec![gettid()]))
                .unwrap();
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let _ = conn.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|req: Request<_>| async move {
                        let resp = if req.uri().path() == "/" {
                            Response::builder()
                                .header("content-type", "text/plain; charset=utf-8")
                                .body(Full::new(Bytes::from_static(b"Hello, World!")))
                        } else {
                            Response::builder()
                                .status(StatusCode::NOT_FOUND)
                                .body(Full::new(Bytes::new()))
                        };
                        Ok::<_, std::convert::Infallible>(resp.unwrap())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .pipeline_flush(true)
                        .serve_connection(hyper_util::rt::TokioIo::new(conn), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// may_minihttp's service: the same answers.
#[derive(Clone)]
struct MayHello;

impl may_minihttp::HttpService for MayHello {
    fn call(
        &mut self,
        req: may_minihttp::Request,
        rsp: &mut may_minihttp::Response,
    ) -> std::io::Result<()> {
        if req.path() == "/" {
            rsp.header("Content-Type: text/plain; charset=utf-8")
                .body("Hello, World!");
        } else {
            rsp.status_code(404, "Not Found");
        }
        Ok(())
    }
}

/// Starts may_minihttp with one may worker thread; its threads are the ones that appear
/// while it starts (may's worker and timer threads).
fn may_server() -> (SocketAddr, Vec<i32>) {
    let before = threads();
    may::config().set_workers(1);
    // may_minihttp binds by itself: find a free port first.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = may_minihttp::HttpServer(MayHello).start(addr).unwrap();
    std::mem::forget(server);
    // Wait until it accepts.
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            let tids = threads().difference(&before).copied().collect();
            return (addr, tids);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("may_minihttp did not start on {addr}");
}

/// One load shape.
struct Shape {
    /// Benchmark group name.
    name: &'static str,
    /// Keep-alive connections.
    conns: usize,
    /// Requests per write.
    pipeline: usize,
    /// Batches per connection per measured iteration.
    batches: usize,
}

fn http(c: &mut Criterion) {
    let peer = |name, (addr, tids)| Peer { name, addr, tids };
    let servers = [
        peer("sprout", sprout_server()),
        peer("hyper_tokio_current_thread", hyper_server()),
        peer("may_minihttp_1_worker", may_server()),
    ];
    let shapes = [
        Shape {
            name: "http_hello_50conns",
            conns: 50,
            pipeline: 1,
            batches: 20,
        },
        Shape {
            name: "http_hello_256conns",
            conns: 256,
            pipeline: 1,
            batches: 8,
        },
        Shape {
            name: "http_hello_256conns_pipeline16",
            conns: 256,
            pipeline: 16,
            batches: 4,
        },
    ];
    for shape in &shapes {
        let loads: Vec<(&str, Clients)> = servers
            .iter()
            .map(|p| (p.name, Clients::connect(p.addr, shape.conns)))
            .collect();
        // Warm up: every connection's handler has started and answered.
        for (name, load) in &loads {
            let r = load.run(shape.pipeline, "/", Until::Batches(5));
            assert_eq!(r.errors, 0, "{name}: errors while warming up");
        }
        let mut group = c.benchmark_group(shape.name);
        group.throughput(Throughput::Elements(
            (shape.conns * shape.pipeline * shape.batches) as u64,
        ));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        for (name, load) in &loads {
            group.bench_function(*name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let r = load.run(shape.pipeline, "/", Until::Batches(shape.batches));
                            assert_eq!(r.errors, 0, "{name}: errors under load");
                            r.elapsed
                        })
                        .sum()
                })
            });
        }
        group.finish();
    }
    interleaved(&servers, &shapes);
}

/// Criterion measures one server after the other, so load from elsewhere on a shared
/// machine can favour whichever ran in a quiet moment. This summary alternates the servers
/// in short rounds instead and prints the median requests per second and per server
/// CPU-second of each, and sprout's ratios to the peers.
fn interleaved(servers: &[Peer], shapes: &[Shape]) {
    const ROUNDS: usize = 5;
    const ROUND: Duration = Duration::from_millis(1000);
    println!(
        "interleaved summary: median of {ROUNDS} alternating rounds of {ROUND:?}; \
         per_cpu = requests per second of the server's own threads' CPU time"
    );
    for shape in shapes {
        let loads: Vec<Clients> = servers
            .iter()
            .map(|p| Clients::connect(p.addr, shape.conns))
            .collect();
        for (load, p) in loads.iter().zip(servers) {
            let r = load.run(shape.pipeline, "/", Until::Batches(3));
            assert_eq!(r.errors, 0, "{}: errors while warming up", p.name);
        }
        let mut rps = vec![Vec::new(); servers.len()];
        let mut per_cpu = vec![Vec::new(); servers.len()];
        for _ in 0..ROUNDS {
            for (i, load) in loads.iter().enumerate() {
                let cpu = cpu_seconds(&servers[i].tids);
                let until = Until::Deadline(std::time::Instant::now() + ROUND);
                let r = load.run(shape.pipeline, "/", until);
                let cpu = cpu_seconds(&servers[i].tids) - cpu;
                assert_eq!(r.errors, 0, "{}: errors under load", servers[i].name);
                rps[i].push(r.rps());
                per_cpu[i].push(r.latencies_us.len() as f64 / cpu.max(1e-9));
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let rps: Vec<f64> = rps.iter_mut().map(median).collect();
        let per_cpu: Vec<f64> = per_cpu.iter_mut().map(median).collect();
        let line = |what: &str, v: &[f64]| {
            let parts: Vec<String> = servers
                .iter()
                .zip(v)
                .map(|(p, x)| format!("{}={x:.0}", p.name))
                .collect();
            println!("{} {what}: {}", shape.name, parts.join(" "));
        };
        line("rps", &rps);
        line("per_cpu", &per_cpu);
        let ratios: Vec<String> = servers[1..]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "vs {}: per_cpu {:.2}x rps {:.2}x",
                    p.name,
                    per_cpu[0] / per_cpu[i + 1],
                    rps[0] / rps[i + 1]
                )
            })
            .collect();
        println!("{} sprout {}", shape.name, ratios.join("; "));
    }
}

criterion_group!(benches, http);
criterion_main!(benches);
