//! `examples/fork_echo` as a child process: 200 short connections, each served by a forked
//! child; afterwards no child is left, zombie or not, and the parent has one thread.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use sprout::net::TcpStream;

/// `(children, zombies)` of `pid`, from every process's `/proc/PID/stat`.
fn children(pid: u32) -> (usize, usize) {
    let mut kids = 0;
    let mut zombies = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ..."
        let mut f = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid: u32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == pid {
            kids += 1;
            zombies += usize::from(state == "Z");
        }
    }
    (kids, zombies)
}

#[test]
fn fork_echo_serves_200_connections_and_leaves_no_zombie() {
    let (server, addr) = support::spawn_server_example("fork_echo");
    let started = Instant::now();
    for batch in 0..10 {
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
    eprintln!("fork_echo: 200 connections in {:?}", started.elapsed());
    let until = Instant::now() + Duration::from_secs(10);
    while children(server.pid()) != (0, 0) && Instant::now() < until {
        sprout::sleep(Duration::from_millis(20));
    }
    assert_eq!(children(server.pid()), (0, 0), "(children, zombies) left");
    assert_eq!(support::thread_count(server.pid()), 1);
}
