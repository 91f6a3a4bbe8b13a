//! `http_hello` over TLS: sprout's HTTP server with a `rustls::ServerConfig` (feature `tls`),
//! one OS thread, one greenlet per connection, the handshake in the connection's greenlet.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --features tls --example https_hello -- --addr 127.0.0.1:8443
//! ```
//!
//! It prints `listening on ADDR`. Given `--cert CERT.pem --key KEY.pem` it serves that
//! certificate chain and key; without them it makes a self-signed certificate for
//! `localhost` (and `127.0.0.1`) at start, writes it to a fresh file and prints
//! `certificate in PATH` on the next line, so that
//!
//! ```text
//! curl --cacert PATH https://localhost:8443/
//! ```
//!
//! verifies it. Routes: `/` answers `Hello, World!`, `/json` answers
//! `{"message":"Hello, World!"}`, `/echo` answers the request body (any length or
//! chunked), anything else 404. ALPN offers `http/1.1` and `http/1.0`.
//!
//! `SIGTERM` or `SIGINT` stops the server gracefully, as in `http_hello`: it stops accepting,
//! lets requests in flight finish for up to `--grace SECS` (default 10), removes the
//! directory of the certificate it generated, and exits 0.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sprout::net::http::{Request, Response, Server};
use sprout::net::tls::rustls;
use sprout::net::tls::rustls::pki_types::pem::PemObject;
use sprout::net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "https_hello [--addr HOST:PORT] [--cert CERT.pem --key KEY.pem] [--grace SECS]";

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:8443");
    let mut cert: Option<PathBuf> = None;
    let mut key: Option<PathBuf> = None;
    let mut grace = Duration::from_secs(10);
    let mut args = args::Args::new("https_hello", USAGE);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--addr" => addr = args.value(&arg),
            "--cert" => cert = Some(args.value(&arg).into()),
            "--key" => key = Some(args.value(&arg).into()),
            "--grace" => grace = args.seconds(&arg, 86_400.0),
            other => args.unknown(other),
        }
    }

    let (chain, private_key, written) = match (cert, key) {
        (Some(c), Some(k)) => {
            let (chain, key) = load(&c, &k)?;
            (chain, key, None)
        }
        (None, None) => {
            let (chain, key, path) = self_signed()?;
            (chain, key, Some(path))
        }
        _ => args.fail("give both --cert and --key, or neither"),
    };
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| {
            let why = format!("cannot use the certificate and key: {e}");
            io::Error::new(io::ErrorKind::InvalidInput, why)
        })?;

    let server = Server::builder()
        .tls(config)
        .bind(&addr, hello)
        .map_err(args::context(format!("cannot bind {addr}")))?;
    println!("listening on {}", server.local_addr());
    if let Some(written) = &written {
        println!("certificate in {}", written.path.display());
    }
    io::stdout().flush()?;
    server.serve_until_signal(grace)
    // `written` drops here: the generated certificate's directory is removed.
}

/// Reads a PEM certificate chain and private key.
fn load(
    cert: &PathBuf,
    key: &PathBuf,
) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let bad = |what: &str, p: &PathBuf, e: rustls::pki_types::pem::Error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("https_hello: {what} {}: {e}", p.display()),
        )
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read certificates from", cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("bad certificate in", cert, e))?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("https_hello: no certificate in {}", cert.display()),
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad("cannot read a private key from", key, e))?;
    Ok((chain, private_key))
}

/// The generated certificate's file, in a directory of its own that is removed on drop
/// (when the server has stopped, or when starting it failed).
struct Written {
    /// The certificate file (PEM).
    path: PathBuf,
    /// Its directory, made for it.
    dir: PathBuf,
}

impl Drop for Written {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("https_hello: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Makes a self-signed certificate for `localhost` and writes it to a new file (returned).
type SelfSigned = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    Written,
);

fn self_signed() -> io::Result<SelfSigned> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let dir = std::env::temp_dir().join(format!("sprout-https-hello-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(args::context(format!("cannot create {}", dir.display())))?;
    let written = Written {
        path: dir.join("cert.pem"),
        dir,
    };
    std::fs::write(&written.path, certified.cert.pem()).map_err(args::context(format!(
        "cannot write {}",
        written.path.display()
    )))?;
    let key = PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    Ok((vec![certified.cert.der().clone()], key, written))
}

fn hello(req: &mut Request<'_>) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/json" => Response::json(r#"{"message":"Hello, World!"}"#),
        "/echo" => {
            let mut body = Vec::new();
            match req.body().read_to_end(&mut body) {
                Ok(_) => Response::new(200)
                    .with_content_type("application/octet-stream")
                    .with_body(body),
                // The server answers a body that failed (too large, malformed, too slow).
                Err(_) => Response::new(400),
            }
        }
        _ => Response::new(404)
            .with_content_type("text/plain; charset=utf-8")
            .with_body("Not Found\n"),
    }
}
