//! The server side of `sprout::net::tls` (feature `tls`): `examples/https_hello` under curl
//! and Python's `ssl` + `http.client` (keep-alive, chunked upload); `http::Server` with a
//! certificate serving 100 concurrent TLS clients on one thread; a client stalling in the
//! handshake dropped at the timeout; plain HTTP sent to the TLS port closed; a truncated
//! record closed; `StreamServer` over `TlsListener` on TCP and on a Unix socket, with SNI and
//! ALPN seen by the handler.

#[path = "support/http.rs"]
mod http_support;
mod support;
#[path = "support/tls.rs"]
mod tls_support;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_support::wait_until;
use sprout::net::http::{Response, Server};
use sprout::net::tls::rustls::pki_types::ServerName;
use sprout::net::tls::{rustls, TlsListener, TlsStream};
use sprout::net::{StreamServer, TcpListener, TcpStream, UnixListener, UnixStream};
use tls_support::{cert, client_config, server_config, spawn_https_hello, temp_file};

fn https_hello_cert() -> (support::ChildGuard, String, u16) {
    let (child, addr, cert) = spawn_https_hello(&[], true);
    let cert = cert.expect("https_hello prints `certificate in PATH` without --cert");
    assert!(std::path::Path::new(&cert).exists(), "{cert} exists");
    (child, cert, addr.port())
}

#[test]
fn https_hello_answers_curl_with_cacert_over_one_kept_alive_connection() {
    let (_child, cert, port) = https_hello_cert();
    let base = format!("https://localhost:{port}");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &cert,
            "-w",
            "|%{http_code} %{num_connects}\n",
        ])
        .arg(format!("{base}/"))
        .arg(format!("{base}/json"))
        .output()
        .expect("curl (installed by .ci/run)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two requests, one connection: the second reused the first's (keep-alive).
    assert_eq!(
        text, "Hello, World!|200 1\n{\"message\":\"Hello, World!\"}|200 0\n",
        "curl output"
    );

    // A chunked upload (body from stdin), echoed back.
    let mut up = Command::new("curl")
        .args(["-sS", "--cacert", &cert, "-H", "Transfer-Encoding: chunked"])
        .args(["--data-binary", "@-"])
        .arg(format!("{base}/echo"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let body: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    up.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = up.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), body);

    // Without the certificate, curl refuses: the server is really self-signed.
    let out = Command::new("curl")
        .args(["-sS", &format!("{base}/")])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn https_hello_answers_python_ssl_http_client_keep_alive_and_chunked_upload() {
    let (_child, cert, port) = https_hello_cert();
    let script = r#"
import http.client, ssl, sys
cafile, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=20)
conn.request("GET", "/")
r = conn.getresponse(); body = r.read()
assert r.status == 200 and body == b"Hello, World!", (r.status, body)
sock = conn.sock
assert sock.version() == "TLSv1.3", sock.version()
assert sock.selected_alpn_protocol() in (None, "http/1.1")
conn.request("GET", "/json")
r = conn.getresponse(); body = r.read()
assert r.status == 200 and b"Hello, World!" in body, (r.status, body)
assert conn.sock is sock, "keep-alive: the same connection"
def chunks():
    for i in range(50):
        yield (b"%02d" % i) * 100
conn.request("POST", "/echo", body=chunks(), encode_chunked=True,
             headers={"Transfer-Encoding": "chunked"})
r = conn.getresponse(); body = r.read()
assert r.status == 200 and body == b"".join(chunks()), (r.status, len(body))
assert conn.sock is sock
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &cert, &port.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

/// Sends one keep-alive GET and reads its `Content-Length` response; returns the body.
fn get(conn: &mut BufReader<TlsStream>, path: &str) -> std::io::Result<String> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes())?;
    let mut len = 0usize;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    assert!(line.starts_with("HTTP/1.1 200"), "status line {line:?}");
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body)?;
    Ok(String::from_utf8(body).unwrap())
}

#[test]
fn http_server_with_a_certificate_serves_100_concurrent_tls_clients_on_one_thread() {
    let c = cert();
    let server = Server::builder()
        .tls(server_config(&c))
        .bind("127.0.0.1:0", |req| {
            Response::text(format!("hi {}", req.path()))
        })
        .unwrap();
    server.start().unwrap();
    let port = server.local_addr().port();
    let config = client_config(&c);
    let done = Rc::new(Cell::new(0));
    let max_open = Rc::new(Cell::new(0));
    let clients: Vec<_> = (0..100)
        .map(|i| {
            let config = config.clone();
            let (done, max_open, server) = (done.clone(), max_open.clone(), server.clone());
            sprout::spawn(move || {
                let tls = TlsStream::connect(("localhost", port), config).unwrap();
                assert_eq!(tls.alpn_protocol(), None, "the client offered no ALPN");
                let mut conn = BufReader::new(tls);
                for j in 0..3 {
                    let path = format!("/{i}/{j}");
                    assert_eq!(get(&mut conn, &path).unwrap(), format!("hi {path}"));
                    max_open.set(max_open.get().max(server.connections()));
                    sprout::sleep(Duration::from_millis(10));
                }
                done.set(done.get() + 1);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(done.get(), 100);
    // The clients overlapped: many connections were open at once on this one thread.
    assert!(
        max_open.get() >= 20,
        "at most {} open at once",
        max_open.get()
    );
    server.stop(Duration::from_secs(2));
}

#[test]
fn http_server_offers_alpn_http_1_1_and_drops_a_handshake_stall_at_the_header_timeout() {
    let c = cert();
    let server = Server::builder()
        .tls(server_config(&c))
        .header_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0", |_req| Response::text("ok"))
        .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();

    // ALPN: a client offering h2 and http/1.1 gets http/1.1.
    let mut cc = (*client_config(&c)).clone();
    cc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = TlsStream::connect(("localhost", addr.port()), Arc::new(cc)).unwrap();
    assert_eq!(tls.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(
        tls.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    drop(tls);

    // A client that connects and never says hello, and one that sends half a ClientHello.
    for partial in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00][..]] {
        let mut stall = TcpStream::connect(addr).unwrap();
        stall.write_all(partial).unwrap();
        stall
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 64];
        let r = stall.read(&mut buf);
        let waited = start.elapsed();
        assert!(
            matches!(r, Ok(0)) || r.is_err(),
            "the server closes a stalled handshake: {r:?}"
        );
        assert!(
            waited >= Duration::from_millis(250),
            "closed early: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(8),
            "not closed at the timeout: {waited:?}"
        );
    }
    assert!(wait_until(Duration::from_secs(10), || server.connections() == 0));
    server.stop(Duration::from_secs(1));
}

#[test]
fn plain_http_sent_to_the_tls_port_is_closed_not_answered() {
    let c = cert();
    let server = Server::builder()
        .tls(server_config(&c))
        .bind("127.0.0.1:0", |_req| Response::text("must not be seen"))
        .unwrap();
    server.start().unwrap();
    let mut conn = TcpStream::connect(server.local_addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let r = conn.read_to_end(&mut got);
    // Closed (EOF, or reset): a TLS alert record may precede the close, never HTTP.
    assert!(r.is_ok() || r.as_ref().unwrap_err().kind() != std::io::ErrorKind::TimedOut);
    assert!(!got.starts_with(b"HTTP/"), "answered in plaintext: {got:?}");
    if let Some(&first) = got.first() {
        assert_eq!(first, 0x15, "only a TLS alert record: {got:?}");
    }
    assert!(wait_until(Duration::from_secs(10), || server.connections() == 0));
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_truncated_record_closes_the_connection() {
    let c = cert();
    let server = Server::builder()
        .tls(server_config(&c))
        .bind("127.0.0.1:0", |_req| Response::text("ok"))
        .unwrap();
    server.start().unwrap();
    let sock = TcpStream::connect(server.local_addr()).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsStream::client(sock, name, client_config(&c)).unwrap();
    // Half of an application-data record, then the write half closes.
    let mut raw = tls.get_ref();
    raw.write_all(&[0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3, 4])
        .unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    tls.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    let r = (&tls).read(&mut buf);
    assert!(
        matches!(r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::TimedOut),
        "closed: {r:?}"
    );
    assert!(wait_until(Duration::from_secs(10), || server.connections() == 0));
    server.stop(Duration::from_secs(1));
}

/// A handler for `StreamServer` over TLS: answers `SNI|line`.
fn sni_echo<S: sprout::net::tls::Transport>(conn: TlsStream<S>) {
    let sni = conn.server_name().unwrap_or_default();
    let mut r = BufReader::new(&conn);
    let mut line = String::new();
    if r.read_line(&mut line).is_ok() {
        let mut w = &conn;
        let _ = w.write_all(format!("{sni}|{line}").as_bytes());
        let _ = conn.shutdown_write();
    }
}

#[test]
fn stream_server_serves_tls_over_tcp_and_over_a_unix_socket_with_sni() {
    let c = cert();
    let tcp = TlsListener::new(TcpListener::bind("127.0.0.1:0").unwrap(), server_config(&c))
        .handshake_timeout(Duration::from_secs(5));
    let server = StreamServer::new(tcp, |conn, _peer| sni_echo(conn)).unwrap();
    server.start().unwrap();
    let mut client =
        TlsStream::connect(("localhost", server.local_addr().port()), client_config(&c)).unwrap();
    client.write_all(b"over tcp\n").unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "localhost|over tcp\n");
    server.stop(Duration::from_secs(1));

    let path = support::socket_path("tls");
    let unix = TlsListener::new(UnixListener::bind(&path).unwrap(), server_config(&c));
    let server = StreamServer::new(unix, |conn, _peer| sni_echo(conn)).unwrap();
    server.start().unwrap();
    let sock = UnixStream::connect(&path).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = TlsStream::client(sock, name, client_config(&c)).unwrap();
    client.write_all(b"over unix\n").unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "localhost|over unix\n");
    server.stop(Duration::from_secs(1));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn https_hello_serves_a_given_cert_and_key() {
    let c = cert();
    let cert_path = temp_file("given-cert.pem", &c.pem);
    let key_path = temp_file("given-key.pem", &c.key_pem);
    let (_child, addr, _) = spawn_https_hello(
        &[
            "--cert",
            cert_path.to_str().unwrap(),
            "--key",
            key_path.to_str().unwrap(),
        ],
        false,
    );
    let mut conn =
        BufReader::new(TlsStream::connect(("localhost", addr.port()), client_config(&c)).unwrap());
    assert_eq!(get(&mut conn, "/").unwrap(), "Hello, World!");
}

#[test]
fn a_megabyte_echoes_through_tls_with_one_greenlet_writing_while_another_reads() {
    let c = cert();
    let listener = TlsListener::new(TcpListener::bind("127.0.0.1:0").unwrap(), server_config(&c));
    let server = StreamServer::new(listener, |conn: TlsStream, _peer| {
        let mut buf = vec![0u8; 50_000];
        loop {
            match (&conn).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if (&conn).write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = conn.shutdown_write();
    })
    .unwrap();
    server.start().unwrap();
    let port = server.local_addr().port();
    let tls = Rc::new(TlsStream::connect(("localhost", port), client_config(&c)).unwrap());
    let data = support::pattern(7, 1 << 20);
    let writer = {
        let (tls, data) = (tls.clone(), data.clone());
        sprout::spawn(move || {
            for chunk in data.chunks(70_000) {
                (&*tls).write_all(chunk).unwrap();
            }
            tls.shutdown_write().unwrap();
        })
    };
    let mut back = Vec::new();
    (&*tls).read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs");
    server.stop(Duration::from_secs(1));
}
