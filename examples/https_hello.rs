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
//! chunked), anything else 404. ALPN offers `http/1.1`.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use sprout::net::http::{Request, Response, Server};
use sprout::net::tls::rustls;
use sprout::net::tls::rustls::pki_types::pem::PemObject;
use sprout::net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn main() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:8443");
    let mut cert: Option<PathBuf> = None;
    let mut key: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--cert" => cert = Some(args.next().expect("--cert needs a path").into()),
            "--key" => key = Some(args.next().expect("--key needs a path").into()),
            other => {
                eprintln!(
                    "usage: https_hello [--addr HOST:PORT] [--cert CERT.pem --key KEY.pem]  \
                     (unknown argument {other:?})"
                );
                std::process::exit(2);
            }
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
        _ => {
            eprintln!("https_hello: give both --cert and --key, or neither");
            std::process::exit(2);
        }
    };
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;

    let server = Server::builder().tls(config).bind(&addr, hello)?;
    println!("listening on {}", server.local_addr());
    if let Some(path) = written {
        println!("certificate in {}", path.display());
    }
    io::stdout().flush()?;
    server.serve_forever()
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

/// Makes a self-signed certificate for `localhost` and writes it to a new file (returned).
type SelfSigned = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    PathBuf,
);

fn self_signed() -> io::Result<SelfSigned> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let dir = std::env::temp_dir().join(format!("sprout-https-hello-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("cert.pem");
    std::fs::write(&path, certified.cert.pem())?;
    let key = PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    Ok((vec![certified.cert.der().clone()], key, path))
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
