//! Name resolution goes through the thread pool; N hubs share one port with SO_REUSEPORT.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use sprout::net::{lookup_host, TcpListener, TcpStream};
use sprout::sync::ThreadAsyncResult;

mod support;

#[test]
fn connect_by_name_resolves_on_the_pool_and_the_hub_keeps_running() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = sprout::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(b"hi").unwrap();
    });
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = sprout::spawn(move || loop {
        t.set(t.get() + 1);
        sprout::sleep(Duration::from_millis(1));
    });
    let mut conn = TcpStream::connect(format!("localhost:{port}")).unwrap();
    let mut buf = String::new();
    conn.read_to_string(&mut buf).unwrap();
    assert_eq!(buf, "hi");
    server.join().unwrap();
    assert!(
        sprout::threadpool::resolver_threads() >= 1,
        "the lookup ran on the pool's resolver lane"
    );
    ticker.kill();
    assert!(
        ticks.get() >= 1,
        "the ticker ran while the lookup was pending"
    );
}

#[test]
fn lookup_host_forms() {
    let addrs = lookup_host(("localhost", 8080)).unwrap();
    assert!(!addrs.is_empty());
    assert!(addrs
        .iter()
        .all(|a| a.port() == 8080 && a.ip().is_loopback()));
    let numeric = lookup_host("10.1.2.3:4").unwrap();
    assert_eq!(numeric, vec!["10.1.2.3:4".parse::<SocketAddr>().unwrap()]);
    let bad = lookup_host("no-port-here").unwrap_err();
    assert_eq!(bad.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn two_hubs_accept_on_one_port_with_reuse_port() {
    const CLIENTS: usize = 200;
    let first: ThreadAsyncResult<SocketAddr, String> = ThreadAsyncResult::new();
    let bound = Barrier::new(3);
    let served = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let total = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        // Clients on a plain OS thread, once both hubs listen.
        let (first_c, bound_c, total_c) = (first.clone(), &bound, total.clone());
        s.spawn(move || {
            bound_c.wait();
            let addr = first_c.get().unwrap();
            for i in 0..CLIENTS {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.write_all(&[i as u8]).unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap();
                assert_eq!(b[0], i as u8);
            }
            total_c.store(CLIENTS, Ordering::SeqCst);
        });
        sprout::Hubs::new(2)
            .run(|i| {
                let listener = if i == 0 {
                    let l = TcpListener::bind_reuse_port("127.0.0.1:0").unwrap();
                    first.set(l.local_addr().unwrap()).unwrap();
                    l
                } else {
                    TcpListener::bind_reuse_port(first.get().unwrap()).unwrap()
                };
                bound.wait();
                // Serve until the clients are done, then stop accepting.
                let served = &served;
                let counted = std::rc::Rc::new(std::cell::Cell::new(0usize));
                let c2 = counted.clone();
                let server = sprout::spawn(move || loop {
                    let (mut c, _) = listener.accept().unwrap();
                    c2.set(c2.get() + 1);
                    sprout::spawn(move || {
                        let mut b = [0u8; 1];
                        if c.read_exact(&mut b).is_ok() {
                            let _ = c.write_all(&b);
                        }
                    });
                });
                let mut waited = 0;
                while total.load(Ordering::SeqCst) < CLIENTS && waited < 30_000 {
                    sprout::sleep(Duration::from_millis(5));
                    waited += 5;
                }
                server.kill();
                served[i].store(counted.get(), Ordering::SeqCst);
            })
            .unwrap();
    });
    let (a, b) = (
        served[0].load(Ordering::SeqCst),
        served[1].load(Ordering::SeqCst),
    );
    assert_eq!(a + b, CLIENTS);
    assert!(
        a > 0 && b > 0,
        "the kernel spread connections over both hubs: {a} and {b}"
    );
}

#[test]
fn echo_example_with_two_hub_threads() {
    let (guard, addr) = support::spawn_server_example_with("echo", &["--threads", "2"]);
    let clients: Vec<_> = (0..100u8)
        .map(|i| {
            sprout::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(&[i; 64]).unwrap();
                let mut b = [0u8; 64];
                c.read_exact(&mut b).unwrap();
                assert_eq!(b, [i; 64]);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // The main thread waits for the two hub threads, which do the serving.
    assert_eq!(support::thread_count(guard.pid()), 3);
}

#[test]
fn http_hello_with_two_hub_threads() {
    let (guard, addr) = support::spawn_server_example_with("http_hello", &["--threads", "2"]);
    let clients: Vec<_> = (0..50)
        .map(|_| {
            sprout::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut resp = String::new();
                c.read_to_string(&mut resp).unwrap();
                assert!(
                    resp.starts_with("HTTP/1.1 200") && resp.ends_with("Hello, World!"),
                    "{resp}"
                );
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(support::thread_count(guard.pid()), 3);
}
