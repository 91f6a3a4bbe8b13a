//! Monkey patching, a third-party blocking client: `ureq` 3 (plain std::net underneath) from
//! 100 greenlets against a local server whose handler sleeps 200 ms finishes in well under the
//! 20 s the requests would take one after another, on one thread.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const REQUESTS: usize = 100;

/// A tiny HTTP/1.1 server, std::net only (cooperative through the patch): reads a request's
/// head, sleeps 200 ms with `std::thread::sleep`, answers with the request's path.
fn slow_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    sprout::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            sprout::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                std::thread::sleep(Duration::from_millis(200));
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{path}",
                    path.len()
                );
                let _ = conn.write_all(resp.as_bytes());
            });
        }
    });
    addr
}

#[test]
fn ureq_from_100_greenlets_overlaps_on_one_thread() {
    sprout::monkey::patch_all();
    let addr = slow_server();
    let threads_before = support::thread_count(std::process::id());
    let start = Instant::now();
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            sprout::spawn(move || -> Result<String, ureq::Error> {
                // An IP address: no getaddrinfo, which would block the thread.
                let url = format!("http://{addr}/req/{i}");
                ureq::get(&url).call()?.body_mut().read_to_string()
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        let body = c
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(body, format!("/req/{i}"));
    }
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "100 requests of 200 ms took {elapsed:?}: they did not overlap"
    );
    assert_eq!(
        support::thread_count(std::process::id()),
        threads_before,
        "no thread was started for the requests"
    );
}
