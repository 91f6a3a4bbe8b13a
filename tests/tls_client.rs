//! The client side of `sprout::net::tls` (feature `tls`): `TlsStream::connect` against a
//! Python `ssl` server in a child process (BufReader, read_exact, clean close), a certificate
//! that does not verify (unknown issuer, wrong name) giving a clear error on the client and
//! an alert on the server, and the read timeout under a TLS read.

mod support;
#[path = "support/tls.rs"]
mod tls_support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sprout::net::tls::rustls::pki_types::ServerName;
use sprout::net::tls::{rustls, TlsStream};
use sprout::net::{FdStream, TcpListener, TcpStream};
use support::ChildGuard;
use tls_support::{cert, cert_with_subject, client_config, read_line, server_config, temp_file};

/// A Python TLS server: serves `n` connections one after the other; each reads a line and
/// answers it upper-cased, twice (two records), then closes with close_notify. Prints its
/// port first.
const PY_SERVER: &str = r#"
import socket, ssl, sys
certfile, keyfile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certfile, keyfile)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print(srv.getsockname()[1], flush=True)
for _ in range(n):
    raw, _ = srv.accept()
    raw.settimeout(20)
    try:
        s = ctx.wrap_socket(raw, server_side=True)
        f = s.makefile("rb")
        line = f.readline()
        s.sendall(line.upper())
        s.sendall(line.upper())
        s.unwrap().close()
        print("served", flush=True)
    except Exception as e:
        print("failed:", type(e).__name__, e, flush=True)
        raw.close()
"#;

fn python_server(cert: &tls_support::Cert, n: usize) -> (ChildGuard, FdStream, u16) {
    let certfile = temp_file("py-cert.pem", &cert.pem);
    let keyfile = temp_file("py-key.pem", &cert.key_pem);
    let child = Command::new("python3")
        .args(["-c", PY_SERVER])
        .arg(&certfile)
        .arg(&keyfile)
        .arg(n.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut guard = ChildGuard { child };
    let out = FdStream::new(OwnedFd::from(guard.child.stdout.take().unwrap())).unwrap();
    out.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let port = read_line(&out).unwrap().trim().parse().expect("the port");
    (guard, out, port)
}

#[test]
fn sprout_client_talks_to_a_python_tls_server() {
    let c = cert();
    let (_py, out, port) = python_server(&c, 2);
    for (i, target) in [format!("localhost:{port}"), format!("127.0.0.1:{port}")]
        .iter()
        .enumerate()
    {
        let tls = TlsStream::connect(target.as_str(), client_config(&c)).unwrap();
        assert_eq!(
            tls.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        (&tls).write_all(format!("hello {i}\n").as_bytes()).unwrap();
        let mut r = BufReader::new(&tls);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, format!("HELLO {i}\n"));
        let mut second = vec![0u8; line.len()];
        r.read_exact(&mut second).unwrap();
        assert_eq!(second, line.as_bytes());
        // The server's close_notify reads as a clean end of stream.
        let mut rest = Vec::new();
        assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
        // Python's unwrap() waits for ours.
        tls.shutdown_write().unwrap();
        assert_eq!(read_line(&out).unwrap(), "served");
    }
}

#[test]
fn a_certificate_from_an_unknown_issuer_is_a_clear_client_error() {
    let served = cert();
    let other = cert_with_subject("another CA");
    let (_py, out, port) = python_server(&served, 1);
    let err = TlsStream::connect(("localhost", port), client_config(&other)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
        "names the cause: {msg}"
    );
    let cause = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .expect("the rustls error is the source");
    assert!(matches!(cause, rustls::Error::InvalidCertificate(_)));
    // The client told the server why (an alert); Python reports the handshake failure.
    let line = read_line(&out).unwrap();
    assert!(line.starts_with("failed: SSL"), "{line}");
}

#[test]
fn a_certificate_for_another_name_is_refused_and_the_server_sees_the_alert() {
    let c = cert();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = std::sync::Arc::new(server_config(&c));
    let server = sprout::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        TlsStream::accept(sock, config).map(|_| ())
    });
    let sock = TcpStream::connect(addr).unwrap();
    let name = ServerName::try_from("example.com").unwrap();
    let err = TlsStream::client(sock, name, client_config(&c)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains("not valid for name \"example.com\""),
        "{err}"
    );
    let server_err = server.join().unwrap().unwrap_err();
    assert_eq!(server_err.kind(), io::ErrorKind::InvalidData);
    assert!(
        server_err.to_string().contains("received fatal alert"),
        "{server_err}"
    );
}

#[test]
fn the_read_timeout_bounds_a_tls_read_and_a_plain_server_is_refused() {
    let c = cert();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = std::sync::Arc::new(server_config(&c));
    let server = sprout::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let tls = TlsStream::accept(sock, config).unwrap();
        sprout::sleep(Duration::from_millis(600)); // says nothing for a while
        drop(tls);
        // Then a server that answers plain HTTP to a TLS client.
        let (mut sock, _) = listener.accept().unwrap();
        let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        sprout::sleep(Duration::from_millis(100));
    });
    let tls = TlsStream::connect(("localhost", addr.port()), client_config(&c)).unwrap();
    tls.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let start = Instant::now();
    let err = (&tls).read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(100));
    // Dropped without close_notify: the next read is a truncation error, not a clean EOF.
    tls.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let err = (&tls).read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");

    let err = TlsStream::connect(("localhost", addr.port()), client_config(&c)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    server.join().unwrap();
}
