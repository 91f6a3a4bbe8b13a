//! `examples/redis_server` driven by Redis's own tools (Debian's `redis-tools`): the pub/sub
//! transcript, `BLPOP` woken by `LPUSH` from another client, expiry, and redis-benchmark.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis_support::{cli, cli_command, cli_out, conn, start, wait_blocked};

/// Reads `redis-cli`'s output lines on a thread, so a test can wait for them with a bound.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn next_lines(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("redis-cli printed a line")
        })
        .collect()
}

#[test]
fn pubsub_transcript() {
    let (_server, addr) = start(&[]);
    let child = cli_command(addr, &["SUBSCRIBE", "news"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    let mut sub = support::ChildGuard { child };
    let rx = lines_of(&mut sub.child);
    assert_eq!(next_lines(&rx, 3), ["subscribe", "news", "1"]);
    assert_eq!(cli_out(addr, &["PUBLISH", "news", "hello world"]), "1");
    assert_eq!(next_lines(&rx, 3), ["message", "news", "hello world"]);
    assert_eq!(cli_out(addr, &["PUBLISH", "sports", "ignored"]), "0");
    assert_eq!(cli_out(addr, &["PUBLISH", "news", "second"]), "1");
    assert_eq!(next_lines(&rx, 3), ["message", "news", "second"]);
}

#[test]
fn blpop_woken_by_lpush_from_another_client() {
    let (_server, addr) = start(&[]);
    let child = cli_command(addr, &["BLPOP", "jobs", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    let mut waiter = support::ChildGuard { child };
    let rx = lines_of(&mut waiter.child);
    wait_blocked(&mut conn(addr), 1);
    assert_eq!(cli_out(addr, &["LPUSH", "jobs", "job-1"]), "1");
    assert_eq!(next_lines(&rx, 2), ["jobs", "job-1"]);
    let status = waiter.child.wait().unwrap();
    assert!(status.success());
    assert_eq!(
        cli_out(addr, &["LLEN", "jobs"]),
        "0",
        "the element went to the waiter"
    );

    // And a timeout: nil after the wait.
    let t = Instant::now();
    let out = cli(addr, &["BRPOP", "nothing", "0.3"]);
    assert!(out.status.success());
    assert!(t.elapsed() >= Duration::from_millis(290));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
}

#[test]
fn expiry_through_redis_cli() {
    let (_server, addr) = start(&[]);
    assert_eq!(cli_out(addr, &["SET", "session", "abc", "PX", "300"]), "OK");
    let pttl: i64 = cli_out(addr, &["PTTL", "session"]).parse().unwrap();
    assert!(pttl > 0 && pttl <= 300, "pttl {pttl}");
    assert_eq!(cli_out(addr, &["GET", "session"]), "abc");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(cli_out(addr, &["GET", "session"]), "");
    assert_eq!(cli_out(addr, &["EXISTS", "session"]), "0");
    assert_eq!(cli_out(addr, &["TTL", "session"]), "-2");
    assert_eq!(cli_out(addr, &["SET", "k", "v"]), "OK");
    assert_eq!(cli_out(addr, &["EXPIRE", "k", "100"]), "1");
    assert_eq!(cli_out(addr, &["TTL", "k"]), "100");
    assert_eq!(cli_out(addr, &["PERSIST", "k"]), "1");
    assert_eq!(cli_out(addr, &["TTL", "k"]), "-1");
    // Errors print as redis-cli prints redis-server's.
    assert_eq!(
        cli_out(addr, &["NOSUCH"]),
        "ERR unknown command 'NOSUCH', with args beginning with:"
    );
}

#[test]
fn redis_benchmark_completes_without_errors() {
    let (server, addr) = start(&[]);
    let out = std::process::Command::new("redis-benchmark")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-t", "set,get,lpush,lpop,incr", "-n", "20000", "-q"])
        .stdin(Stdio::null())
        .output()
        .expect("run redis-benchmark (install Debian's redis-tools; .ci/run does)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for test in ["SET", "GET", "LPUSH", "LPOP", "INCR"] {
        assert!(
            // Progress lines end in '\r', results in '\n'.
            stdout.split(['\r', '\n']).any(|l| {
                l.trim_start().starts_with(&format!("{test}: "))
                    && l.contains("requests per second")
            }),
            "no {test} result in:\n{stdout}\n{stderr}"
        );
    }
    let all = format!("{stdout}{stderr}").to_lowercase();
    assert!(!all.contains("error"), "{stdout}\n{stderr}");
    assert_eq!(support::thread_count(server.pid()), 1);
    // 20,000 INCRs of one key: every one counted.
    assert_eq!(cli_out(addr, &["GET", "counter:__rand_int__"]), "20000");
}
