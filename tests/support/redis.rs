//! Helpers for the `examples/redis_server` tests: start it, connect with the `redis` crate or
//! a raw socket, run `redis-cli`, poll `INFO`.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{self, ChildGuard};

/// Starts `examples/redis_server` on a free port with extra arguments.
pub fn start(extra: &[&str]) -> (ChildGuard, SocketAddr) {
    support::spawn_server_example_with("redis_server", extra)
}

/// A `redis` crate connection with a generous read timeout.
pub fn conn(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("client");
    let con = client.get_connection().expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    con
}

/// Runs a command built from `args` and returns its reply.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail and returns its error as redis-server sends it
/// (`CODE detail`, e.g. `ERR syntax error`).
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(con) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => panic!("{args:?}: not a server error: {e}"),
        },
    }
}

/// A raw connection with a read timeout.
pub fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends `req` and reads until `want` bytes arrived or the server closed; returns what came
/// and whether the connection ended.
pub fn exchange(addr: SocketAddr, req: &[u8]) -> (Vec<u8>, bool) {
    let mut s = raw(addr);
    s.write_all(req).unwrap();
    read_until_close(&mut s, Duration::from_secs(2))
}

/// Reads until the peer closes, or until nothing arrives for `quiet`. Returns the bytes and
/// whether the peer closed.
pub fn read_until_close(s: &mut TcpStream, quiet: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

/// Reads exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).expect("read reply");
    b
}

/// Runs `redis-cli -h HOST -p PORT args...` to completion.
pub fn cli(addr: SocketAddr, args: &[&str]) -> Output {
    cli_command(addr, args)
        .output()
        .expect("run redis-cli (install Debian's redis-tools; .ci/run does)")
}

/// The `redis-cli` command for `addr` and `args`, not started.
pub fn cli_command(addr: SocketAddr, args: &[&str]) -> Command {
    let mut c = Command::new("redis-cli");
    c.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args);
    c
}

/// `redis-cli`'s standard output, trimmed.
pub fn cli_out(addr: SocketAddr, args: &[&str]) -> String {
    let out = cli(addr, args);
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The value of `field` in `INFO`.
pub fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = q(con, &["INFO"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}: {info}"))
        .trim()
        .to_string()
}

/// Waits (bounded by 30 s) until `INFO`'s `blocked_clients` is `n`.
pub fn wait_blocked(con: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(con, "blocked_clients") != n.to_string() {
        assert!(Instant::now() < deadline, "never saw {n} blocked clients");
        std::thread::sleep(Duration::from_millis(10));
    }
}
