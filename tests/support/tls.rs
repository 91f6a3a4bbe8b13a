//! Helpers for the TLS tests: a self-signed certificate for `localhost` made with rcgen, the
//! rustls configurations that serve and trust it, and `examples/https_hello` as a child.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sprout::net::tls::rustls;
use sprout::net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sprout::net::FdStream;

use super::support::{example_path, ChildGuard};

/// A certificate and its key, in DER and PEM.
pub struct Cert {
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// The PKCS#8 key (DER).
    pub key_der: Vec<u8>,
    /// The certificate (PEM).
    pub pem: String,
    /// The key (PEM).
    pub key_pem: String,
}

/// A fresh self-signed certificate for `localhost` and `127.0.0.1`.
pub fn cert() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    Cert {
        der: c.cert.der().clone(),
        key_der: c.key_pair.serialize_der(),
        pem: c.cert.pem(),
        key_pem: c.key_pair.serialize_pem(),
    }
}

/// A self-signed certificate for `localhost` whose subject is `CN=cn` (a different issuer
/// from [`cert`]'s).
pub fn cert_with_subject(cn: &str) -> Cert {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let c = params.self_signed(&key).unwrap();
    Cert {
        der: c.der().clone(),
        key_der: key.serialize_der(),
        pem: c.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A server configuration serving `cert`.
pub fn server_config(cert: &Cert) -> rustls::ServerConfig {
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der.clone()],
            PrivateKeyDer::Pkcs8(cert.key_der.clone().into()),
        )
        .expect("server config")
}

/// A client configuration trusting `cert` only.
pub fn client_config(cert: &Cert) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).expect("add root");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Writes `text` to a fresh file in the temp dir (unique per call) and returns its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sprout-tls-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Reads one line (without the newline) from a child's stdout, cooperatively.
pub fn read_line(mut r: &FdStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if r.read(&mut byte)? == 0 || byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(byte[0]);
    }
}

/// Starts `examples/https_hello` with `args` (plus `--addr 127.0.0.1:0`) and returns it with
/// the address it prints first (`listening on ADDR`) and, when `self_signed`, the path of
/// the certificate it prints next (`certificate in PATH`).
pub fn spawn_https_hello(
    args: &[&str],
    self_signed: bool,
) -> (ChildGuard, SocketAddr, Option<String>) {
    let child = Command::new(example_path("https_hello"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn https_hello");
    let mut guard = ChildGuard { child };
    let out = FdStream::new(OwnedFd::from(guard.child.stdout.take().unwrap())).unwrap();
    out.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let line = read_line(&out).expect("https_hello prints its address");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .parse()
        .expect("an address");
    let cert = self_signed.then(|| {
        let line = read_line(&out).expect("https_hello prints its certificate's path");
        line.strip_prefix("certificate in ")
            .unwrap_or_else(|| panic!("second line {line:?}"))
            .to_string()
    });
    (guard, addr, cert)
}
