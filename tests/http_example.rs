//! `examples/http_hello.rs` and `examples/http_load.rs` as child processes: the server
//! answers plaintext, JSON and 404 on one OS thread, and the load generator drives it and
//! prints its one result line.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::collections::HashMap;
use std::process::Command;

use http_support::{get, spawn_server_example, Client};

#[test]
fn http_hello_answers_plaintext_json_and_404_on_one_thread() {
    let (server, addr) = spawn_server_example("http_hello");
    let r = get(addr, "/");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = get(addr, "/json");
    assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(get(addr, "/elsewhere").status, 404);
    // Many keep-alive clients at once, still one thread.
    let clients: Vec<_> = (0..200)
        .map(|_| {
            sprout::spawn(move || {
                let mut c = Client::connect(addr);
                (0..5)
                    .map(|_| {
                        c.get("/").unwrap();
                        c.reply().unwrap().status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), [200; 5]);
    }
    assert_eq!(support::thread_count(server.pid()), 1);
}

/// Runs `examples/http_load` with `args` and returns its result line's fields.
fn http_load(args: &[&str]) -> HashMap<String, String> {
    let out = Command::new(support::example_path("http_load"))
        .args(args)
        .output()
        .expect("run http_load");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {text:?}");
    lines[0]
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn http_load_drives_http_hello_and_reports_one_line() {
    let (_server, addr) = spawn_server_example("http_hello");
    let addr = addr.to_string();
    let r = http_load(&[
        "--addr",
        &addr,
        "--conns",
        "20",
        "--secs",
        "1",
        "--pipeline",
        "4",
    ]);
    let keys: Vec<&str> = [
        "conns", "pipeline", "secs", "rps", "p50_us", "p99_us", "errors",
    ]
    .to_vec();
    let mut got: Vec<&str> = r.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = keys.clone();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!((r["conns"].as_str(), r["pipeline"].as_str()), ("20", "4"));
    assert_eq!(r["errors"], "0");
    assert!(r["rps"].parse::<u64>().unwrap() > 100, "{r:?}");

    // Answers that are not 2xx count as errors.
    let r = http_load(&[
        "--addr", &addr, "--conns", "2", "--secs", "1", "--path", "/missing",
    ]);
    assert_eq!(r["rps"], "0");
    assert!(r["errors"].parse::<u64>().unwrap() > 0);
}
