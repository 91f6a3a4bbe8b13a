//! The HTTP server's access log (`Builder::access_log`, `http_hello --access-log`): one line
//! per request, refused requests and a panicking handler's 500 included, in Common Log
//! Format or combined with the duration appended; every line parses.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_support::{exchange, run_curl, start, Client, SOON};
use sprout::net::http::{LogFormat, Request, Response, Server};
use sprout::net::FdStream;
use support::ChildGuard;

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.borrow().clone())
            .expect("the log is ASCII")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One parsed line.
#[derive(Debug, PartialEq)]
struct Line {
    host: String,
    request: String,
    status: u16,
    bytes: Option<u64>,
    referer: Option<String>,
    user_agent: Option<String>,
    seconds: f64,
}

/// Parses `host - - [dd/Mon/yyyy:hh:mm:ss +0000] "request" status bytes ["ref" "ua"]
/// seconds`, strictly.
fn parse(line: &str, combined: bool) -> Line {
    let bad = || -> ! { panic!("malformed log line {line:?}") };
    let (host, rest) = line.split_once(" - - [").unwrap_or_else(|| bad());
    host.parse::<std::net::IpAddr>().unwrap_or_else(|_| bad());
    let (time, rest) = rest.split_once("] \"").unwrap_or_else(|| bad());
    let t = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| t[r].iter().all(u8::is_ascii_digit);
    assert!(
        t.len() == 26
            && digits(0..2)
            && t[2] == b'/'
            && t[3..6].iter().all(u8::is_ascii_alphabetic)
            && t[6] == b'/'
            && digits(7..11)
            && t[11] == b':'
            && digits(12..14)
            && digits(15..17)
            && digits(18..20)
            && &t[20..] == b" +0000",
        "time {time:?} in {line:?}"
    );
    let (request, rest) = rest.split_once("\" ").unwrap_or_else(|| bad());
    assert!(!request.contains('"'), "{line:?}");
    let mut fields = rest.split(' ');
    let status = fields
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| bad());
    let bytes = match fields.next() {
        Some("-") => None,
        Some(n) => Some(n.parse().unwrap_or_else(|_| bad())),
        None => bad(),
    };
    let (mut referer, mut user_agent) = (None, None);
    let rest: Vec<&str> = fields.collect();
    let seconds_text = if combined {
        // "referer" "user-agent" seconds; quoted fields hold no spaces in these tests.
        assert_eq!(rest.len(), 3, "{line:?}");
        let unquote = |s: &str| {
            let inner = s.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
            match inner.unwrap_or_else(|| bad()) {
                "-" => None,
                v => Some(v.to_owned()),
            }
        };
        referer = unquote(rest[0]);
        user_agent = unquote(rest[1]);
        rest[2]
    } else {
        assert_eq!(rest.len(), 1, "{line:?}");
        rest[0]
    };
    let (whole, frac) = seconds_text.split_once('.').unwrap_or_else(|| bad());
    assert!(
        whole.bytes().all(|b| b.is_ascii_digit()) && frac.len() == 6,
        "{line:?}"
    );
    Line {
        host: host.to_owned(),
        request: request.to_owned(),
        status,
        bytes,
        referer,
        user_agent,
        seconds: seconds_text.parse().unwrap_or_else(|_| bad()),
    }
}

fn app(req: &mut Request<'_>) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/echo" => {
            let mut body = Vec::new();
            let _ = req.body().read_to_end(&mut body);
            Response::new(200).with_body(body)
        }
        "/stream" => Response::stream(|w| w.write_all(b"streamed")),
        "/sleep" => {
            sprout::sleep(Duration::from_millis(30));
            Response::text("slept")
        }
        "/panic" => panic!("handler boom (expected by the test)"),
        _ => Response::new(404),
    }
}

#[test]
fn one_common_log_format_line_per_request() {
    let sink = Sink::default();
    let (server, addr) = start(
        Server::builder().access_log(sink.clone(), LogFormat::Common),
        app,
    );
    let mut expected: Vec<(&str, u16, Option<u64>)> = Vec::new();
    let mut c = Client::connect(addr);
    for _ in 0..5 {
        c.get("/").unwrap();
        assert_eq!(c.reply().unwrap().status, 200);
        expected.push(("GET / HTTP/1.1", 200, Some(13)));
    }
    c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    c.read_reply(true).unwrap();
    expected.push(("HEAD / HTTP/1.1", 200, None));
    c.get("/missing?q=\"x\"").unwrap();
    assert_eq!(c.reply().unwrap().status, 404);
    expected.push(("GET /missing?q=\\x22x\\x22 HTTP/1.1", 404, None));
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert_eq!(c.reply().unwrap().text(), "hello");
    expected.push(("POST /echo HTTP/1.1", 200, Some(5)));
    c.get("/stream").unwrap();
    assert_eq!(c.reply().unwrap().text(), "streamed");
    expected.push(("GET /stream HTTP/1.1", 200, Some(8)));
    // Three pipelined in one write.
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3))
        .unwrap();
    for _ in 0..3 {
        assert_eq!(c.reply().unwrap().status, 200);
        expected.push(("GET / HTTP/1.1", 200, Some(13)));
    }
    c.get("/sleep").unwrap();
    assert_eq!(c.reply().unwrap().status, 200);
    expected.push(("GET /sleep HTTP/1.1", 200, Some(5)));
    // A panicking handler's 500, HTTP/1.0, and a request the server refuses.
    let (r, _) = exchange(addr, "GET /panic HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 500);
    expected.push(("GET /panic HTTP/1.1", 500, Some(22)));
    let (r, _) = exchange(addr, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    expected.push(("GET / HTTP/1.0", 200, Some(13)));
    let (r, _) = exchange(addr, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    expected.push(("-", 400, Some(12)));

    // Buffered: nothing is written per request (the flusher runs once a second).
    server.stop(SOON);
    let lines = sink.lines();
    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per request: {lines:#?}"
    );
    for (line, (request, status, bytes)) in lines.iter().zip(&expected) {
        let l = parse(line, false);
        assert_eq!(l.host, "127.0.0.1");
        assert_eq!(
            (l.request.as_str(), l.status, l.bytes),
            (*request, *status, *bytes)
        );
        assert!(l.seconds < SOON.as_secs_f64());
    }
    let slept = parse(&lines[12], false);
    assert_eq!(slept.request, "GET /sleep HTTP/1.1");
    assert!(
        slept.seconds >= 0.025,
        "the duration covers the handler: {slept:?}"
    );
}

#[test]
fn combined_format_and_periodic_flush() {
    let sink = Sink::default();
    let (_server, addr) = start(
        Server::builder().access_log(sink.clone(), LogFormat::Combined),
        app,
    );
    let mut c = Client::connect(addr);
    c.send(
        "GET / HTTP/1.1\r\nHost: t\r\nReferer: http://r.example/\r\nUser-Agent: tester/1\r\n\r\n",
    )
    .unwrap();
    c.reply().unwrap();
    c.get("/").unwrap();
    c.reply().unwrap();
    // Written by the flusher within a second or so, without stopping the server.
    let end = Instant::now() + SOON;
    while sink.lines().len() < 2 && Instant::now() < end {
        sprout::sleep(Duration::from_millis(20));
    }
    let lines = sink.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first = parse(&lines[0], true);
    assert_eq!(first.referer.as_deref(), Some("http://r.example/"));
    assert_eq!(first.user_agent.as_deref(), Some("tester/1"));
    let second = parse(&lines[1], true);
    assert_eq!((second.referer, second.user_agent), (None, None));
}

#[test]
fn http_hello_access_log_goes_to_stderr() {
    let child = Command::new(support::example_path("http_hello"))
        .args(["--addr", "127.0.0.1:0", "--access-log"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn http_hello");
    let mut guard = ChildGuard { child };
    let stdout = FdStream::new(OwnedFd::from(guard.child.stdout.take().unwrap())).unwrap();
    let stderr = FdStream::new(OwnedFd::from(guard.child.stderr.take().unwrap())).unwrap();
    stdout.set_read_timeout(Some(SOON)).unwrap();
    stderr.set_read_timeout(Some(SOON)).unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while matches!((&stdout).read(&mut byte), Ok(1)) && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    let first = String::from_utf8(first).unwrap();
    let addr: std::net::SocketAddr = first
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));

    // Four requests on one raw connection, three through curl (one connection).
    let mut c = Client::connect(addr);
    for path in ["/", "/json", "/nope", "/"] {
        c.get(path).unwrap();
        c.reply().unwrap();
    }
    let url = format!("http://{addr}/");
    let mut expected = 4;
    if let Some((ok, _)) = run_curl(&["-s".into(), url.clone(), url.clone(), url]) {
        assert!(ok);
        expected += 3;
    }
    let mut text = String::new();
    let end = Instant::now() + SOON;
    while text.lines().count() < expected && Instant::now() < end {
        let mut buf = [0u8; 4096];
        match (&stderr).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let lines: Vec<Line> = text.lines().map(|l| parse(l, false)).collect();
    let got: Vec<(&str, u16)> = lines
        .iter()
        .map(|l| (l.request.as_str(), l.status))
        .collect();
    assert_eq!(
        got,
        [
            ("GET / HTTP/1.1", 200),
            ("GET /json HTTP/1.1", 200),
            ("GET /nope HTTP/1.1", 404),
            ("GET / HTTP/1.1", 200),
            ("GET / HTTP/1.1", 200),
            ("GET / HTTP/1.1", 200),
            ("GET / HTTP/1.1", 200),
        ][..expected]
    );
    assert_eq!(lines[1].bytes, Some(27));
}
