//! `sprout::net::http` through its public API with a raw client written here: keep-alive,
//! HTTP/1.0, pipelining, HEAD, 100-continue, chunked bodies both ways, every limit with its
//! status code (and the server still serving afterwards), slowloris, panics, blocking
//! handlers and graceful stop. Server and clients share the test thread's hub.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_support::{exchange, get, start, wait_until, Client, SOON};
use sprout::net::http::{Request, Response, Server};
use sprout::net::TcpStream;

/// The application most tests run.
fn app(req: &mut Request<'_>) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/target" => Response::text(req.target().to_string()),
        "/version" => Response::text(format!("{:?}", req.version())),
        "/echo" => {
            let mut body = Vec::new();
            match req.body().read_to_end(&mut body) {
                Ok(_) => Response::new(200)
                    .with_header("X-Chunked", req.is_chunked().to_string())
                    .with_body(body),
                // The server answers the body's own fault instead.
                Err(_) => Response::new(200),
            }
        }
        "/sleep" => {
            let ms: u64 = req.query().and_then(|q| q.parse().ok()).unwrap_or(100);
            sprout::sleep(Duration::from_millis(ms));
            Response::text("slept")
        }
        "/panic" => panic!("handler boom"),
        "/stream" => Response::stream(|w| {
            for i in 0..3 {
                write!(w, "part{i};")?;
                sprout::sleep(Duration::from_millis(10));
            }
            Ok(())
        }),
        "/header" => Response::text(req.header("x-test").unwrap_or("none").to_string()),
        "/close" => Response::text("bye").with_header("Connection", "close"),
        _ => Response::new(404),
    }
}

fn start_app() -> (Server, SocketAddr) {
    start(Server::builder(), app)
}

/// The server still answers a fresh client.
fn assert_serving(addr: SocketAddr) {
    let r = get(addr, "/");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
}

#[test]
fn keep_alive_carries_many_requests_on_one_connection() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    for i in 0..20 {
        c.get(&format!("/target?i={i}")).unwrap();
        let r = c.reply().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("/target?i={i}"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
        assert_eq!(r.header("connection"), None);
    }
    c.get("/nope").unwrap();
    assert_eq!(c.reply().unwrap().status, 404);
    c.send("GET /header HTTP/1.1\r\nHost: t\r\nX-Test: hi there\r\n\r\n")
        .unwrap();
    assert_eq!(c.reply().unwrap().text(), "hi there");
}

#[test]
fn http10_closes_unless_keep_alive_is_asked_for() {
    let (_server, addr) = start_app();
    let (r, closed) = exchange(addr, "GET /version HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "Http10"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed);

    let mut c = Client::connect(addr);
    for _ in 0..3 {
        c.send("GET /version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = c.reply().unwrap();
        assert_eq!(r.text(), "Http10");
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn connection_close_from_either_side_closes() {
    let (_server, addr) = start_app();
    let (r, closed) = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed);
    let (r, closed) = exchange(addr, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("bye", Some("close"))
    );
    assert!(closed);
}

#[test]
fn sixteen_pipelined_requests_are_answered_in_order_in_one_write() {
    let (_server, addr) = start_app();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(SOON)).unwrap();
    let batch: String = (0..16)
        .map(|i| format!("GET /target?n={i} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .collect();
    conn.write_all(batch.as_bytes()).unwrap();
    // All sixteen answers arrive together: one write by the server.
    let mut first = vec![0u8; 64 * 1024];
    let n = conn.read(&mut first).unwrap();
    let text = String::from_utf8_lossy(&first[..n]).into_owned();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 16, "{text}");
    let bodies: Vec<usize> = (0..16)
        .map(|i| {
            text.find(&format!("\r\n\r\n/target?n={i}"))
                .expect("answer")
        })
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] < w[1]), "answers in order");
}

#[test]
fn pipelined_requests_with_bodies_and_a_slow_handler_stay_in_order() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    c.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
         GET /sleep?50 HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n\
         GET /target?last HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    assert_eq!(c.reply().unwrap().text(), "abc");
    assert_eq!(c.reply().unwrap().text(), "slept");
    assert_eq!(c.reply().unwrap().text(), "de");
    assert_eq!(c.reply().unwrap().text(), "/target?last");
}

#[test]
fn head_gets_the_headers_of_get_and_no_body() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = c.read_reply(true).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    // No body bytes were sent: the next answer starts right away.
    c.get("/target?after-head").unwrap();
    assert_eq!(c.reply().unwrap().text(), "/target?after-head");
    c.send("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = c.read_reply(true).unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    c.get("/").unwrap();
    assert_eq!(c.reply().unwrap().text(), "Hello, World!");
}

#[test]
fn expect_100_continue_is_sent_when_the_handler_reads_the_body() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let interim = c.reply().unwrap();
    assert_eq!(interim.status, 100);
    c.send("hello").unwrap();
    let r = c.reply().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    // The connection carries on.
    c.get("/").unwrap();
    assert_eq!(c.reply().unwrap().status, 200);

    // A handler that never reads the body: no 100, and the connection closes after the
    // answer (the client may or may not send the body).
    let mut c = Client::connect(addr);
    c.send("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let r = c.reply().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.closed_by_server());

    let (r, closed) = exchange(addr, "GET / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n");
    assert_eq!(r.status, 417);
    assert!(closed);
}

#[test]
fn chunked_upload_in_pieces_and_streamed_chunked_response() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let pieces = [
        "5\r\nhello\r\n",
        "1;ext=1\r\n,\r\n",
        "6\r\n world\r\n",
        "0\r\nX-Trailer: 1\r\n\r\n",
    ];
    for p in pieces {
        sprout::sleep(Duration::from_millis(5));
        c.send(p).unwrap();
    }
    let r = c.reply().unwrap();
    assert_eq!(r.text(), "hello, world");
    assert_eq!(r.header("x-chunked"), Some("true"));

    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in big.chunks(7_777) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    c.send(&raw).unwrap();
    assert_eq!(c.reply().unwrap().body, big);

    let mut raw = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    raw.extend_from_slice(&big);
    c.send(&raw).unwrap();
    assert_eq!(c.reply().unwrap().body, big);

    c.get("/stream").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "part0;part1;part2;");
    // HTTP/1.0 gets the stream until close.
    let (r, closed) = exchange(addr, "GET /stream HTTP/1.0\r\n\r\n");
    assert_eq!(r.text(), "part0;part1;part2;");
    assert!(closed && r.header("transfer-encoding").is_none());
}

#[test]
fn unread_bodies_are_skipped_and_the_connection_kept() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789")
        .unwrap();
    assert_eq!(c.reply().unwrap().status, 200);
    c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(c.reply().unwrap().status, 200);
    c.get("/target?still-open").unwrap();
    assert_eq!(c.reply().unwrap().text(), "/target?still-open");
}

/// Each bad input gets its status code and a closed connection, and the server serves on.
#[test]
fn every_limit_answers_its_status_and_closes() {
    let builder = Server::builder()
        .max_header_bytes(1024)
        .max_headers(10)
        .max_body(1000);
    let (_server, addr) = start(builder, app);
    let many_headers: String = (0..11).map(|i| format!("X-{i}: v\r\n")).collect();
    let cases: Vec<(&str, String, u16)> = vec![
        ("garbage", "HELLO\r\n\r\n".into(), 400),
        ("bad header line", "GET / HTTP/1.1\r\nHost: t\r\nno colon\r\n\r\n".into(), 400),
        ("bad version", "GET / HTTP/3.0\r\n\r\n".into(), 400),
        ("head too large", format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n", "a".repeat(2000)), 431),
        ("endless head", format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}", "a".repeat(3000)), 431),
        ("too many headers", format!("GET / HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n"), 431),
        ("declared body too large", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n".into(), 413),
        (
            "chunked body too large",
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n{}\r\n0\r\n\r\n", "a".repeat(1001)),
            413,
        ),
        ("gzip coding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".into(), 501),
        (
            "length and chunked",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        (
            "conflicting lengths",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".into(),
            400,
        ),
        ("invalid length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5x\r\n\r\nhello".into(), 400),
        ("negative length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".into(), 400),
        ("chunked on 1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        (
            "bad chunk size",
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".into(),
            400,
        ),
        (
            "chunk without CRLF",
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n".into(),
            400,
        ),
    ];
    for (what, raw, status) in cases {
        let (r, closed) = exchange(addr, &raw);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"), "{what}");
        assert!(closed, "{what}: the connection is closed");
        assert_serving(addr);
    }
}

#[test]
fn smuggled_request_after_an_ambiguous_one_is_never_answered() {
    let (_server, addr) = start_app();
    // A front end using Content-Length would see one request; one using chunked, two.
    let (r, closed) = exchange(
        addr,
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /target?smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert!(closed, "nothing after the refusal is read as a request");
}

#[test]
fn slowloris_clients_are_dropped_while_a_normal_client_is_served() {
    let builder = Server::builder()
        .header_timeout(Duration::from_millis(400))
        .idle_timeout(Duration::from_millis(400));
    let (server, addr) = start(builder, app);
    let start_at = Instant::now();
    let slow: Vec<_> = (0..10)
        .map(|_| {
            sprout::spawn(move || {
                let mut c = Client::connect(addr);
                c.send("GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
                // One header byte every 50 ms: the head would take far longer than allowed.
                for _ in 0..200 {
                    sprout::sleep(Duration::from_millis(50));
                    if c.send("X").is_err() {
                        break;
                    }
                    if !c.conn.peek(&mut [0u8; 1]).map_or(true, |n| n == 0) {
                        break;
                    }
                }
                let r = c.reply();
                (
                    r.map(|r| r.status).ok(),
                    c.closed_by_server(),
                    start_at.elapsed(),
                )
            })
        })
        .collect();
    // Meanwhile a well-behaved client is answered promptly.
    let mut c = Client::connect(addr);
    for _ in 0..10 {
        let t = Instant::now();
        c.get("/").unwrap();
        assert_eq!(c.reply().unwrap().status, 200);
        assert!(t.elapsed() < Duration::from_secs(2), "served promptly");
        sprout::sleep(Duration::from_millis(40));
    }
    for h in slow {
        let (status, closed, at) = h.join().unwrap();
        assert_eq!(status, Some(408));
        assert!(closed);
        assert!(
            at < Duration::from_secs(5),
            "dropped after the header timeout, took {at:?}"
        );
    }
    // A connection that never sends anything gets 408 too.
    let mut silent = Client::connect(addr);
    let r = silent.reply().unwrap();
    assert_eq!(r.status, 408);
    // An idle keep-alive connection is closed quietly after the idle timeout.
    let mut idle = Client::connect(addr);
    idle.get("/").unwrap();
    idle.reply().unwrap();
    let t = Instant::now();
    assert!(idle.closed_by_server());
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(wait_until(SOON, || server.connections() == 0));
}

#[test]
fn a_panicking_handler_is_answered_500_and_the_server_goes_on() {
    let (_server, addr) = start_app();
    for _ in 0..3 {
        let (r, closed) = exchange(addr, "GET /panic HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 500);
        assert!(closed);
        assert_serving(addr);
    }
}

#[test]
fn a_blocking_handler_does_not_stop_the_others() {
    let (_server, addr) = start_app();
    let slow = sprout::spawn(move || get(addr, "/sleep?2000"));
    sprout::sleep(Duration::from_millis(20));
    let t = Instant::now();
    for _ in 0..5 {
        assert_serving(addr);
    }
    let fast = t.elapsed();
    let r = slow.join().unwrap();
    assert_eq!(r.text(), "slept");
    assert!(
        fast < Duration::from_millis(1500),
        "others were served while it slept: {fast:?}"
    );
}

#[test]
fn graceful_stop_lets_requests_in_flight_finish() {
    let (server, addr) = start_app();
    // An idle keep-alive connection, and three requests in flight.
    let mut idle = Client::connect(addr);
    idle.get("/").unwrap();
    idle.reply().unwrap();
    let in_flight: Vec<_> = (0..3)
        .map(|_| {
            sprout::spawn(move || {
                let mut c = Client::connect(addr);
                c.get("/sleep?300").unwrap();
                let r = c.reply().unwrap();
                (
                    r.status,
                    r.text(),
                    r.header("connection").map(str::to_owned),
                    c.closed_by_server(),
                )
            })
        })
        .collect();
    sprout::sleep(Duration::from_millis(100));
    let t = Instant::now();
    server.stop(SOON);
    let took = t.elapsed();
    for h in in_flight {
        let (status, text, connection, closed) = h.join().unwrap();
        assert_eq!((status, text.as_str()), (200, "slept"));
        assert_eq!(connection.as_deref(), Some("close"));
        assert!(closed);
    }
    assert!(
        took < Duration::from_secs(10),
        "stop waited only for the requests: {took:?}"
    );
    assert!(idle.closed_by_server(), "the idle connection was closed");
    assert_eq!(server.connections(), 0);
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn stop_kills_handlers_that_outlive_the_timeout() {
    let (server, addr) = start_app();
    let stuck = sprout::spawn(move || {
        let mut c = Client::connect(addr);
        c.get("/sleep?100000").unwrap();
        c.reply().is_err()
    });
    sprout::sleep(Duration::from_millis(50));
    let t = Instant::now();
    server.stop(Duration::from_millis(200));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        stuck.join().unwrap(),
        "the killed handler's client sees the close"
    );
}

#[test]
fn stop_from_another_greenlet_ends_serve_forever() {
    let server = Server::bind("127.0.0.1:0", app).unwrap();
    let addr = server.local_addr();
    let serving = {
        let server = server.clone();
        sprout::spawn(move || server.serve_forever())
    };
    assert_serving(addr);
    let done = Rc::new(Cell::new(false));
    let stopper = {
        let (server, done) = (server.clone(), done.clone());
        sprout::spawn(move || {
            server.stop(Duration::from_secs(1));
            done.set(true);
        })
    };
    serving.join().unwrap().unwrap();
    stopper.join().unwrap();
    assert!(done.get());
}

#[test]
fn a_long_pipelined_stream_is_answered_in_full_and_in_order() {
    let (_server, addr) = start_app();
    let mut c = Client::connect(addr);
    // About 60 KiB of requests in one write, then 5,000 more in pieces cut at odd places:
    // heads straddle reads and buffer ends, and the answers outgrow the output batch.
    let one = |i: usize| format!("GET /target?n={i} HTTP/1.1\r\nHost: t\r\n\r\n");
    let first: String = (0..1500).map(one).collect();
    c.send(&first).unwrap();
    let rest: String = (1500..6500).map(one).collect();
    let writer = {
        let conn = c.conn.try_clone().unwrap();
        sprout::spawn(move || {
            let mut conn = conn;
            for piece in rest.as_bytes().chunks(1000 + 7) {
                conn.write_all(piece).unwrap();
            }
        })
    };
    for i in 0..6500 {
        let r = c.reply().unwrap();
        assert_eq!(r.text(), format!("/target?n={i}"));
    }
    writer.join().unwrap();
}

#[test]
fn a_stalled_body_is_answered_408_and_the_server_goes_on() {
    let builder = Server::builder().idle_timeout(Duration::from_millis(300));
    let (_server, addr) = start(builder, app);
    for raw in [
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let t = Instant::now();
        let (r, closed) = exchange(addr, raw);
        assert_eq!(r.status, 408, "{raw:?}");
        assert!(closed);
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        assert_serving(addr);
    }
}
