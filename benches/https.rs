//! HTTPS per server CPU-second (feature `tls`): `GET /` answered `Hello, World!` over TLS 1.3,
//! one server thread each, sprout's `http::Server` with a `rustls::ServerConfig` against hyper
//! 1 on tokio-rustls on a current-thread tokio runtime. Both use rustls 0.23 with the `ring`
//! provider and the same configuration (one ECDSA P-256 certificate made with rcgen, ALPN
//! `http/1.1`), so they negotiate the same cipher suite (printed).
//!
//! ```text
//! cargo bench --features tls --bench https
//! ```
//!
//! Two loads, from one load generator in this process (a sprout hub on its own thread, one
//! greenlet per client, sprout's TLS client): **keep-alive** (50 connections, requests one
//! after the other on each), and **handshakes** (16 clients, a new connection and a full
//! handshake per request: the client disables session resumption). Each server's thread CPU
//! time is read from `/proc/self/task/TID/schedstat` around each round; the result is
//! requests per server CPU-second, the median of rounds that alternate between the servers
//! (so a noisy neighbour on a shared machine hits both alike), and the ratio sprout/hyper.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sprout::net::tls::rustls;
use sprout::net::tls::rustls::pki_types::PrivateKeyDer;
use sprout::net::tls::TlsStream;

/// Alternating rounds per load; the median is reported.
const ROUNDS: usize = 5;
/// Length of one round.
const ROUND: Duration = Duration::from_secs(2);

/// The certificate both servers serve, and a client configuration trusting it.
struct Keys {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    client_no_resume: Arc<rustls::ClientConfig>,
}

fn keys() -> Keys {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let mut server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![c.cert.der().clone()],
            PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into()),
        )
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(c.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut no_resume = client.clone();
    no_resume.resumption = rustls::client::Resumption::disabled();
    Keys {
        server: Arc::new(server),
        client: Arc::new(client),
        client_no_resume: Arc::new(no_resume),
    }
}

/// This thread's `/proc` task directory (for its CPU time).
fn this_task() -> PathBuf {
    PathBuf::from("/proc").join(std::fs::read_link("/proc/thread-self").expect("/proc/thread-self"))
}

/// Nanoseconds a thread has run on a CPU (first field of its schedstat).
fn cpu_ns(task: &std::path::Path) -> u64 {
    let s = std::fs::read_to_string(task.join("schedstat")).expect("schedstat");
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// sprout's HTTPS server on its own thread (one hub, a greenlet per connection).
fn sprout_server(config: &rustls::ServerConfig) -> (SocketAddr, PathBuf) {
    use sprout::net::http::{Response, Server};
    let (tx, rx) = mpsc::channel();
    let config = config.clone();
    std::thread::spawn(move || {
        let server = Server::builder()
            .tls(config)
            .bind("127.0.0.1:0", |req| match req.path() {
                "/" => Response::text("Hello, World!"),
                _ => Response::new(404),
            })
            .unwrap();
        tx.send((server.local_addr(), this_task())).unwrap();
        server.serve_forever().unwrap();
    });
    rx.recv().unwrap()
}

/// hyper's HTTP/1 server on tokio-rustls, on a current-thread tokio runtime.
fn hyper_server(config: Arc<rustls::ServerConfig>) -> (SocketAddr, PathBuf) {
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
            tx.send((listener.local_addr().unwrap(), this_task()))
                .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let _ = conn.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(conn).await else {
                        return;
                    };
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
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// Sends one GET and reads its response (`Content-Length` framed). Returns whether the
/// server keeps the connection open.
fn request<S: sprout::net::tls::Transport>(
    conn: &mut BufReader<TlsStream<S>>,
    close: bool,
) -> std::io::Result<()> {
    let req: &[u8] = if close {
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    };
    conn.get_mut().write_all(req)?;
    let mut line = String::new();
    let mut len = 0usize;
    conn.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("bad status {line:?}")));
    }
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    Ok(())
}

/// What one round of load did.
struct Round {
    /// Requests answered.
    requests: u64,
    /// Failed requests.
    errors: u64,
    /// The cipher suite of the last connection.
    suite: String,
}

/// Runs `clients` greenlets against `addr` for `d` on a fresh hub thread; `handshakes` opens a
/// new connection per request.
fn load(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    clients: usize,
    handshakes: bool,
    d: Duration,
) -> Round {
    std::thread::spawn(move || {
        use std::cell::{Cell, RefCell};
        use std::rc::Rc;
        let requests = Rc::new(Cell::new(0u64));
        let errors = Rc::new(Cell::new(0u64));
        let suite = Rc::new(RefCell::new(String::new()));
        let end = Instant::now() + d;
        let port = addr.port();
        let hs: Vec<_> = (0..clients)
            .map(|_| {
                let (requests, errors, suite, client) = (
                    requests.clone(),
                    errors.clone(),
                    suite.clone(),
                    client.clone(),
                );
                sprout::spawn(move || {
                    let mut conn: Option<BufReader<TlsStream>> = None;
                    while Instant::now() < end {
                        let c = match conn.as_mut() {
                            Some(c) => c,
                            None => match TlsStream::connect(("localhost", port), client.clone()) {
                                Ok(s) => {
                                    *suite.borrow_mut() = format!("{:?}", s.cipher_suite());
                                    conn.insert(BufReader::new(s))
                                }
                                Err(_) => {
                                    errors.set(errors.get() + 1);
                                    continue;
                                }
                            },
                        };
                        match request(c, handshakes) {
                            Ok(()) => requests.set(requests.get() + 1),
                            Err(_) => {
                                errors.set(errors.get() + 1);
                                conn = None;
                            }
                        }
                        if handshakes {
                            conn = None;
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            let _ = h.join();
        }
        let suite = suite.borrow().clone();
        Round {
            requests: requests.get(),
            errors: errors.get(),
            suite,
        }
    })
    .join()
    .unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run briefly then.
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, round) = if full {
        (ROUNDS, ROUND)
    } else {
        (1, Duration::from_millis(200))
    };
    let keys = keys();
    let servers = [
        ("sprout", sprout_server(&keys.server)),
        (
            "hyper_tokio_rustls_current_thread",
            hyper_server(keys.server.clone()),
        ),
    ];
    println!(
        "https: requests per server CPU-second, median of {rounds} alternating rounds of {round:?} \
         (the machine may be shared: compare the ratio, not the absolute numbers)"
    );
    let shapes = [
        ("keepalive_50conns", 50, false, keys.client.clone()),
        (
            "handshakes_16clients",
            16,
            true,
            keys.client_no_resume.clone(),
        ),
    ];
    // SPROUT_HTTPS_BENCH=handshakes (or keepalive) runs one load only, e.g. under perf.
    let only = std::env::var("SPROUT_HTTPS_BENCH").unwrap_or_default();
    for (sname, (_, task)) in &servers {
        println!("{sname} server thread: {}", task.display());
    }
    for (name, clients, handshakes, client) in shapes {
        if !only.is_empty() && !name.starts_with(&only) {
            continue;
        }
        // Warm up each server once.
        for (_, (addr, _)) in &servers {
            load(
                *addr,
                client.clone(),
                clients,
                handshakes,
                Duration::from_millis(200),
            );
        }
        let mut per_cpu = vec![Vec::new(); servers.len()];
        let mut per_sec = vec![Vec::new(); servers.len()];
        let mut suites = vec![String::new(); servers.len()];
        for _ in 0..rounds {
            for (i, (sname, (addr, task))) in servers.iter().enumerate() {
                let cpu0 = cpu_ns(task);
                let r = load(*addr, client.clone(), clients, handshakes, round);
                let cpu = (cpu_ns(task) - cpu0) as f64 / 1e9;
                assert!(
                    r.errors * 100 <= r.requests.max(1),
                    "{sname}: {} errors for {} requests",
                    r.errors,
                    r.requests
                );
                per_cpu[i].push(r.requests as f64 / cpu.max(1e-9));
                per_sec[i].push(r.requests as f64 / round.as_secs_f64());
                suites[i] = r.suite;
            }
        }
        let meds: Vec<f64> = per_cpu.iter_mut().map(|v| median(v)).collect();
        for (i, (sname, _)) in servers.iter().enumerate() {
            println!(
                "{name} {sname}: {:.0} req per server CPU-s, {:.0} req/s ({})",
                meds[i],
                median(&mut per_sec[i]),
                suites[i]
            );
        }
        println!(
            "{name} ratio sprout/hyper per server CPU-s: {:.2}x",
            meds[0] / meds[1]
        );
    }
}
