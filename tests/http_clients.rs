//! `sprout::net::http` against clients nobody here wrote: Python's `http.client` (a child
//! process) and the `ureq` crate (a blocking client, on a plain OS thread). The server runs
//! in the test thread's hub meanwhile. Each checks keep-alive from the server's side: every
//! request of one client connection arrives from the same peer address.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::cell::RefCell;
use std::io::Read;
use std::net::SocketAddr;
use std::rc::Rc;

use http_support::{on_thread, run_python, start};
use sprout::net::http::{Request, Response, Server};

/// Starts a server that records each request's peer address and answers `/` with
/// `Hello, World!`, `/echo` with the body it got (and whether it came chunked).
fn recording_server() -> (Server, SocketAddr, Rc<RefCell<Vec<SocketAddr>>>) {
    let peers = Rc::new(RefCell::new(Vec::new()));
    let handler = {
        let peers = peers.clone();
        move |req: &mut Request<'_>| {
            peers.borrow_mut().push(req.peer_addr());
            match req.path() {
                "/" => Response::text("Hello, World!"),
                "/echo" => {
                    let mut body = Vec::new();
                    if req.body().read_to_end(&mut body).is_err() {
                        return Response::new(500);
                    }
                    Response::new(200)
                        .with_header("X-Chunked", req.is_chunked().to_string())
                        .with_header("X-Method", req.method().to_string())
                        .with_body(body)
                }
                _ => Response::new(404),
            }
        }
    };
    let (server, addr) = start(Server::builder(), handler);
    (server, addr, peers)
}

const PY_KEEP_ALIVE: &str = r#"
import http.client, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=20)
for path in ["/", "/", "/nope", "/"]:
    conn.request("GET", path)
    r = conn.getresponse()
    print(r.status, r.getheader("Content-Type"), r.read().decode())
conn.request("HEAD", "/")
r = conn.getresponse()
print(r.status, r.getheader("Content-Length"), repr(r.read()))
conn.close()
"#;

#[test]
fn python_http_client_keeps_one_connection_alive() {
    let (_server, addr, peers) = recording_server();
    let (ok, out) = run_python(
        PY_KEEP_ALIVE,
        &[addr.ip().to_string(), addr.port().to_string()],
    );
    assert!(ok, "python failed: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "200 text/plain; charset=utf-8 Hello, World!",
            "200 text/plain; charset=utf-8 Hello, World!",
            "404 None ",
            "200 text/plain; charset=utf-8 Hello, World!",
            "200 13 b''",
        ]
    );
    let peers = peers.borrow();
    assert_eq!(peers.len(), 5);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection: {peers:?}"
    );
}

const PY_CHUNKED: &str = r#"
import http.client, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=20)
def pieces():
    for i in range(50):
        yield ("piece %d;" % i).encode()
# A generator body without a length: http.client sends it chunked.
conn.request("POST", "/echo", body=pieces())
r = conn.getresponse()
body = r.read().decode()
print(r.status, r.getheader("X-Chunked"), len(body), body[:16])
# And a plain one with a length, on the same connection.
conn.request("PUT", "/echo", body=b"x" * 100000)
r = conn.getresponse()
print(r.status, r.getheader("X-Chunked"), r.getheader("X-Method"), len(r.read()))
"#;

#[test]
fn python_http_client_chunked_upload() {
    let (_server, addr, peers) = recording_server();
    let (ok, out) = run_python(
        PY_CHUNKED,
        &[addr.ip().to_string(), addr.port().to_string()],
    );
    assert!(ok, "python failed: {out}");
    let expected: String = (0..50).map(|i| format!("piece {i};")).collect();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!("200 true {} piece 0;piece 1;", expected.len()).as_str(),
            "200 false PUT 100000",
        ]
    );
    let peers = peers.borrow();
    assert!(peers.len() == 2 && peers[0] == peers[1], "{peers:?}");
}

#[test]
fn ureq_on_an_os_thread_gets_answers_over_keep_alive() {
    let (_server, addr, peers) = recording_server();
    let base = format!("http://{addr}");
    let answers = on_thread(move || -> Result<Vec<String>, ureq::Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut answers = Vec::new();
        for _ in 0..3 {
            let mut r = agent.get(&format!("{base}/")).call()?;
            answers.push(format!(
                "{} {}",
                r.status().as_u16(),
                r.body_mut().read_to_string()?
            ));
        }
        let mut r = agent.post(&format!("{base}/echo")).send("posted by ureq")?;
        let method = r
            .headers()
            .get("x-method")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        answers.push(format!(
            "{} {:?} {}",
            r.status().as_u16(),
            method,
            r.body_mut().read_to_string()?
        ));
        let r = agent.get(&format!("{base}/missing")).call()?;
        answers.push(r.status().as_u16().to_string());
        Ok(answers)
    })
    .expect("ureq requests");
    assert_eq!(
        answers,
        [
            "200 Hello, World!",
            "200 Hello, World!",
            "200 Hello, World!",
            "200 Some(\"POST\") posted by ureq",
            "404",
        ]
    );
    let peers = peers.borrow();
    assert_eq!(peers.len(), 5);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection: {peers:?}"
    );
}
