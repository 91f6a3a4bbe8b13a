//! `examples/fork_echo` under load prints no false `waiting for child N: No child processes`
//! lines: a forked child's inherited copy of a sibling's reaper (already woken at the fork)
//! keeps quiet about the ECHILD its wait gets.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use sprout::net::TcpStream;

#[test]
fn fork_echo_under_load_reports_no_false_wait_errors() {
    let log = std::env::temp_dir().join(format!("sprout-fork-echo-{}.err", std::process::id()));
    let err = std::fs::File::create(&log).unwrap();
    let child = Command::new(support::example_path("fork_echo"))
        .args(["--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap();
    let mut guard = support::ChildGuard { child };
    let mut line = String::new();
    BufReader::new(guard.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line.trim_end()["listening on ".len()..].parse().unwrap();
    for batch in 0..15 {
        let clients: Vec<_> = (0..20)
            .map(|i| {
                sprout::spawn(move || -> std::io::Result<()> {
                    let mut c = TcpStream::connect(addr)?;
                    c.set_read_timeout(Some(Duration::from_secs(20)))?;
                    let msg = format!("ping {batch} {i}\n");
                    c.write_all(msg.as_bytes())?;
                    let mut back = vec![0u8; msg.len()];
                    c.read_exact(&mut back)?;
                    assert_eq!(back, msg.as_bytes());
                    Ok(())
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap().unwrap();
        }
    }
    sprout::sleep(Duration::from_millis(300));
    drop(guard);
    let mut text = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        !text.contains("waiting for child"),
        "false wait errors on stderr:\n{text}"
    );
}
