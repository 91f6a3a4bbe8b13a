//! Helpers shared by the `http_*` and `server_*` tests: a raw HTTP/1.1 test client on sprout
//! sockets (so the server greenlets of the same thread run while it waits), running Python
//! child processes cooperatively, and bounded polling. Included with
//! `#[path = "support/http.rs"] mod http_support;` next to `mod support;`.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sprout::net::http::{Builder, Request, Response, Server};
use sprout::net::{FdStream, TcpStream};

use crate::support::ChildGuard;

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const SOON: Duration = Duration::from_secs(20);

/// Starts `handler` on a server bound to a free loopback port, in this thread's hub.
pub fn start<F>(builder: Builder, handler: F) -> (Server, SocketAddr)
where
    F: Fn(&mut Request<'_>) -> Response + 'static,
{
    let server = builder.bind("127.0.0.1:0", handler).expect("bind");
    server.start().expect("start");
    let addr = server.local_addr();
    (server, addr)
}

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header lines in order.
    pub headers: Vec<(String, String)>,
    /// The body (decoded if chunked).
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client connection with its own read buffer.
pub struct Client {
    /// The connection.
    pub conn: TcpStream,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
}

impl Client {
    /// Connects, with 20 s read and write timeouts.
    pub fn connect(addr: SocketAddr) -> Client {
        let conn = TcpStream::connect(addr).expect("connect");
        conn.set_read_timeout(Some(SOON)).unwrap();
        conn.set_write_timeout(Some(SOON)).unwrap();
        Client {
            conn,
            buf: Vec::new(),
        }
    }

    /// Wraps a connected stream, with 20 s write timeouts.
    pub fn from_stream(conn: TcpStream) -> Client {
        conn.set_write_timeout(Some(SOON)).unwrap();
        Client {
            conn,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, raw: impl AsRef<[u8]>) -> io::Result<()> {
        self.conn.write_all(raw.as_ref())
    }

    /// Sends a `GET` for `path` (keep-alive).
    pub fn get(&mut self, path: &str) -> io::Result<()> {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.conn.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (`head_only` for the answer to a `HEAD`, which has no body).
    pub fn read_reply(&mut self, head_only: bool) -> io::Result<Reply> {
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_len]).into_owned();
        self.buf.drain(..head_len);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.to_owned()))?;
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(reply);
        }
        if let Some(len) = reply.header("content-length") {
            let len: usize = len.parse().expect("numeric Content-Length");
            while self.buf.len() < len {
                if self.fill()? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            reply.body = self.buf.drain(..len).collect();
        } else if reply
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            reply.body = self.read_chunked()?;
        } else {
            while self.fill()? > 0 {}
            reply.body = std::mem::take(&mut self.buf);
        }
        Ok(reply)
    }

    /// Reads one response to a non-`HEAD` request.
    pub fn reply(&mut self) -> io::Result<Reply> {
        self.read_reply(false)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.fill()? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, size_text.clone()))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            if size == 0 {
                // No trailers from our server: the last chunk ends with an empty line.
                assert_eq!(&self.buf[..2], b"\r\n");
                self.buf.drain(..2);
                return Ok(body);
            }
            body.extend_from_slice(&self.buf[..size]);
            assert_eq!(
                &self.buf[size..size + 2],
                b"\r\n",
                "chunk data ends in CRLF"
            );
            self.buf.drain(..size + 2);
        }
    }

    /// Whether the server closed the connection: reads until EOF (true), data (false) or
    /// an error such as a reset (true), bounded by the read timeout.
    pub fn closed_by_server(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        match self.fill() {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::TimedOut,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection, answered in full.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut c = Client::connect(addr);
    c.get(path).expect("send");
    c.reply().expect("reply")
}

/// Sends `raw` on a fresh connection and returns the reply and whether the server then
/// closed the connection.
pub fn exchange(addr: SocketAddr, raw: impl AsRef<[u8]>) -> (Reply, bool) {
    let mut c = Client::connect(addr);
    c.send(raw).expect("send");
    let reply = c.reply().expect("reply");
    let closed = c.closed_by_server();
    (reply, closed)
}

/// Polls `cond` every 5 ms (letting greenlets run) until it holds or `within` passes.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        sprout::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Runs `python3 -c script args...` as a child process without blocking the hub (the server
/// under test runs on this thread): its stdout is read cooperatively. Returns its exit
/// success and stdout. The child is killed if it outlives `SOON`.
pub fn run_python(script: &str, args: &[String]) -> (bool, String) {
    let mut all = vec!["-c".to_string(), script.to_string()];
    all.extend_from_slice(args);
    run_command("python3", &all)
}

/// Runs `program args...` (python3, curl) as a child process without blocking the hub;
/// returns its exit success and stdout. The child is killed if it outlives `SOON`.
pub fn run_command(program: &str, args: &[String]) -> (bool, String) {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed by this test: {e}"));
    let mut guard = ChildGuard { child };
    let stdout = guard.child.stdout.take().unwrap();
    let out = FdStream::new(OwnedFd::from(stdout)).unwrap();
    out.set_read_timeout(Some(SOON)).unwrap();
    let mut text = String::new();
    let read = (&out).read_to_string(&mut text);
    read.unwrap_or_else(|e| panic!("{program}'s output: {e}"));
    let end = Instant::now() + SOON;
    let status = loop {
        if let Some(s) = guard.child.try_wait().expect("wait for the child") {
            break s;
        }
        assert!(Instant::now() < end, "{program} did not exit");
        sprout::sleep(Duration::from_millis(5));
    };
    (status.success(), text)
}

/// Runs curl with `args` (see [`run_command`]), or returns `None` with a note on stderr if
/// curl is not installed (CI installs only python3; the raw-client checks always run).
pub fn run_curl(args: &[String]) -> Option<(bool, String)> {
    let found = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("note: curl is not installed; skipping the curl part of this test");
        return None;
    }
    Some(run_command("curl", args))
}

/// Runs `f` on a plain OS thread (a blocking client such as ureq) while this thread's hub
/// keeps serving; returns its result. Bounded by `SOON`.
pub fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let t = std::thread::spawn(f);
    assert!(
        wait_until(SOON * 2, || t.is_finished()),
        "the client thread did not finish"
    );
    t.join().expect("client thread panicked")
}

/// Starts `examples/NAME --addr 127.0.0.1:0` and returns it with the address it prints.
pub fn spawn_server_example(name: &str) -> (ChildGuard, SocketAddr) {
    let child = Command::new(crate::support::example_path(name))
        .args(["--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn the {name} example: {e}"));
    let mut guard = ChildGuard { child };
    let stdout = guard.child.stdout.take().expect("piped stdout");
    let out = FdStream::new(OwnedFd::from(stdout)).expect("wrap the child's stdout");
    out.set_read_timeout(Some(SOON)).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while matches!((&out).read(&mut byte), Ok(1)) && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"))
        .parse()
        .expect("a socket address");
    (guard, addr)
}
