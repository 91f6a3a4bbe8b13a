//! The examples' command lines: a missing, malformed or out-of-range value and an unknown
//! flag print an error and the usage line on stderr and exit with code 2 (never a panic);
//! an error from `main` (a port in use) prints `error: ...` in its readable form, not Debug.
//! Also `https_hello`'s lifecycle: HTTP/1.0 clients that use ALPN are served, `SIGTERM`
//! stops it gracefully (exit 0) and the directory of the certificate it made is removed.

mod support;
#[cfg(feature = "tls")]
#[path = "support/tls.rs"]
mod tls_support;

use std::process::{Command, Output, Stdio};

/// Runs example `name` with `args` (stdin closed) and returns what it did.
fn run(name: &str, args: &[&str]) -> Output {
    Command::new(support::example_path(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run the {name} example: {e}"))
}

/// Asserts that `name args` is refused as a usage error.
fn assert_usage_error(name: &str, args: &[&str]) {
    let out = run(name, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name} {args:?} exits 2; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{name} {args:?} must not panic; stderr: {stderr}"
    );
    let usage = format!("usage: {name} ");
    assert!(
        stderr.lines().any(|l| l.starts_with(&usage)),
        "{name} {args:?} prints its usage line; stderr: {stderr}"
    );
    assert!(
        stderr.lines().count() <= 2,
        "{name} {args:?}: one error line and the usage line; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{name} {args:?} prints nothing on stdout"
    );
}

/// Bad command lines every server example shares: `--addr` without a value, an unknown flag.
fn assert_common_errors(name: &str) {
    assert_usage_error(name, &["--addr"]);
    assert_usage_error(name, &["--bogus"]);
    assert_usage_error(name, &["--addr", "127.0.0.1:0", "extra"]);
}

#[test]
fn http_hello_refuses_bad_values() {
    assert_common_errors("http_hello");
    for args in [
        &["--workers", "0"][..],
        &["--workers", "abc"],
        &["--workers"],
        &["--workers", "-3"],
        &["--workers", "99999999999999999999999"],
        &["--threads", "0"],
        &["--threads", "x"],
        &["--threads"],
        &["--grace", "abc"],
        &["--grace", "-1"],
        &["--grace", "NaN"],
        &["--grace", "inf"],
        &["--grace", "1e300"],
        &["--grace"],
    ] {
        assert_usage_error("http_hello", args);
    }
}

#[test]
fn echo_and_echo_load_refuse_bad_values() {
    assert_common_errors("echo");
    assert_usage_error("echo", &["--threads", "0"]);
    assert_usage_error("echo", &["--threads"]);
    assert_usage_error("echo", &["--threads", "two"]);
    for args in [
        &["--conns", "0"][..],
        &["--conns", "abc"],
        &["--size", "0"],
        &["--size", "18446744073709551615"],
        &["--secs", "18446744073709551615"],
        &["--secs", "-1"],
        &["--secs"],
        &["--bogus", "1"],
    ] {
        assert_usage_error("echo_load", args);
    }
}

#[test]
fn http_load_refuses_bad_values() {
    for args in [
        &["--conns", "0"][..],
        &["--pipeline", "0"],
        &["--pipeline", "18446744073709551615"],
        &["--secs", "18446744073709551615"],
        &["--secs", "1.5"],
        &["--path", "nope"],
        &["--path"],
        &["--bogus"],
    ] {
        assert_usage_error("http_load", args);
    }
}

#[test]
fn small_servers_refuse_bad_values() {
    for name in ["udp_echo", "fork_echo"] {
        assert_common_errors(name);
    }
    assert_common_errors("redis_server");
    for args in [
        &["--write-timeout", "0"][..],
        &["--write-timeout", "1e300"],
        &["--write-timeout", "abc"],
        &["--proto-max-bulk-len", "0"],
        &["--client-output-limit", "-1"],
        &["--client-output-limit"],
    ] {
        assert_usage_error("redis_server", args);
    }
}

#[test]
fn subprocess_sleep_many_and_ping_pong_refuse_bad_values() {
    for args in [
        &[][..],
        &["--timeout", "abc"],
        &["--timeout", "-1"],
        &["--timeout"],
        &["--timeout", "1"],
        &["--bogus", "--", "true"],
    ] {
        assert_usage_error("subprocess", args);
    }
    for args in [
        &["--count", "abc"][..],
        &["--count", "18446744073709551615"],
        &["--secs", "18446744073709551615"],
        &["--secs"],
        &["--bogus"],
    ] {
        assert_usage_error("sleep_many", args);
    }
    for args in [&["--rounds", "x"][..], &["--rounds"], &["--bogus"]] {
        assert_usage_error("ping_pong", args);
    }
}

/// An error from `main` is printed with `Display` and exits 1: a port already in use.
#[test]
fn a_port_in_use_is_reported_readably() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut names = vec!["echo", "http_hello", "redis_server"];
    names.push("udp_echo");
    let udp_taken = std::net::UdpSocket::bind(&addr).unwrap();
    for name in names {
        let out = run(name, &["--addr", &addr]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: stderr: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: cannot bind {addr}: ")),
            "{name}: a readable error; stderr: {stderr}"
        );
        assert!(
            !stderr.contains("Os {") && !stderr.contains("panicked"),
            "{name}: not the Debug form; stderr: {stderr}"
        );
    }
    // Several hubs, or pre-fork workers: the same readable form.
    for extra in [&["--threads", "2"][..], &["--workers", "2"]] {
        let out = run(
            "http_hello",
            &[&["--addr", addr.as_str()][..], extra].concat(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: stderr: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains("Address already in use"),
            "{extra:?}: a readable error; stderr: {stderr}"
        );
    }
    drop((taken, udp_taken));
}

#[cfg(feature = "tls")]
#[test]
fn https_hello_refuses_bad_values() {
    assert_common_errors("https_hello");
    for args in [
        &["--cert"][..],
        &["--key"],
        &["--cert", "c.pem"],
        &["--grace", "-1"],
        &["--grace", "soon"],
    ] {
        assert_usage_error("https_hello", args);
    }
    // A certificate that cannot be read is a runtime error, readable.
    let out = run(
        "https_hello",
        &[
            "--addr",
            "127.0.0.1:0",
            "--cert",
            "/nonexistent/c.pem",
            "--key",
            "/nonexistent/k.pem",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(!stderr.contains("Custom {"), "stderr: {stderr}");
}

/// Reads `tls` to the end; a close without `close_notify` after the response is fine.
#[cfg(feature = "tls")]
fn read_all(tls: &mut sprout::net::tls::TlsStream) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if !got.is_empty() => {
                eprintln!("after {} bytes: {e}", got.len());
                break;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// `https_hello` serves a client that offers only `http/1.0` in ALPN (it negotiates it), and
/// `curl --http1.0 --cacert` when curl is installed; then `SIGTERM` stops it with exit 0
/// and the generated certificate's directory is gone.
#[cfg(feature = "tls")]
#[test]
fn https_hello_serves_http_1_0_over_alpn_and_stops_gracefully_on_sigterm() {
    use std::io::Write;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sprout::net::tls::rustls::pki_types::pem::PemObject;
    use sprout::net::tls::rustls::pki_types::CertificateDer;
    use sprout::net::tls::{rustls, TlsStream};

    let (mut server, addr, cert) = tls_support::spawn_https_hello(&["--grace", "5"], true);
    let cert = std::path::PathBuf::from(cert.expect("a generated certificate"));
    let dir = cert
        .parent()
        .expect("the certificate's directory")
        .to_owned();
    assert!(cert.is_file(), "{} exists while serving", cert.display());

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert).expect("read the certificate"))
        .expect("trust it");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.0".to_vec()];
    let mut tls = TlsStream::connect(("localhost", addr.port()), Arc::new(config))
        .expect("an HTTP/1.0 ALPN client is accepted");
    assert_eq!(tls.alpn_protocol().as_deref(), Some(&b"http/1.0"[..]));
    tls.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let reply = read_all(&mut tls);
    assert!(reply.starts_with("HTTP/1."), "a response: {reply:?}");
    assert!(reply.contains(" 200 "), "200: {reply:?}");
    assert!(reply.ends_with("Hello, World!"), "the body: {reply:?}");
    drop(tls);

    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok()
    {
        let url = format!("https://localhost:{}/json", addr.port());
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "--http1.0", "--cacert"])
            .arg(&cert)
            .arg(&url)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl --http1.0: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            r#"{"message":"Hello, World!"}"#
        );
    } else {
        eprintln!("curl is not installed: only the rustls client was tried");
    }

    let pid = server.pid() as libc::pid_t;
    // SAFETY: signalling our own child, still unreaped (the guard owns it).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "https_hello stops after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "a graceful stop, not death by SIGTERM"
    );
    assert!(
        !dir.exists(),
        "{} is removed when https_hello stops",
        dir.display()
    );
}

#[cfg(feature = "monkey")]
#[test]
fn echo_std_refuses_bad_values() {
    assert_common_errors("echo_std");
}
