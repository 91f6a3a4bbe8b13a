//! `examples/echo_std.rs` (std::net only, plus `patch_all`) as a child process: 500
//! concurrent clients, every byte echoed, and the server on exactly one OS thread
//! throughout. The clients are std::net too, in greenlets of this patched process.

mod support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::WaitList;

const CLIENTS: usize = 500;
const ROUNDS: usize = 3;

#[test]
fn echo_std_example_serves_500_concurrent_clients_on_one_thread() {
    sprout::monkey::patch_all();
    let (server, addr) = support::spawn_server_example("echo_std");
    let pid = server.pid();
    assert_eq!(
        support::thread_count(pid),
        1,
        "the server starts with one thread"
    );

    // Sample the server's thread count while the clients run.
    let done = Rc::new(Cell::new(false));
    let sampler = {
        let done = done.clone();
        sprout::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            let stop = Instant::now() + Duration::from_secs(120);
            while !done.get() && Instant::now() < stop {
                max = max.max(support::thread_count(pid));
                samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (max, samples)
        })
    };

    // Every client connects, then waits until all are connected, so all 500 connections are
    // open at once before any data flows.
    let connected = Rc::new(Cell::new(0usize));
    let all_connected = Rc::new(WaitList::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let connected = connected.clone();
            let all_connected = all_connected.clone();
            sprout::spawn(move || -> std::io::Result<usize> {
                let mut conn = TcpStream::connect(addr)?;
                conn.set_read_timeout(Some(Duration::from_secs(30)))?;
                connected.set(connected.get() + 1);
                if connected.get() == CLIENTS {
                    all_connected.notify_all();
                }
                while connected.get() < CLIENTS {
                    all_connected
                        .wait(Some(deadline))
                        .map_err(std::io::Error::from)?;
                }
                let mut echoed = 0;
                for round in 0..ROUNDS {
                    let msg = support::pattern(i * ROUNDS + round, 1 + (i * 37 + round) % 3000);
                    conn.write_all(&msg)?;
                    let mut back = vec![0u8; msg.len()];
                    conn.read_exact(&mut back)?;
                    assert_eq!(back, msg, "client {i} round {round}: echo differs");
                    echoed += back.len();
                }
                Ok(echoed)
            })
        })
        .collect();

    let mut expected = 0;
    for i in 0..CLIENTS {
        for round in 0..ROUNDS {
            expected += 1 + (i * 37 + round) % 3000;
        }
    }
    let mut total = 0;
    for (i, c) in clients.into_iter().enumerate() {
        match c.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => panic!("client {i} failed: {e}"),
            Err(e) => panic!("client {i} panicked: {e}"),
        }
    }
    assert_eq!(connected.get(), CLIENTS);
    assert_eq!(total, expected, "every byte comes back");

    done.set(true);
    let (max_threads, samples) = sampler.join().unwrap();
    assert!(samples > 0);
    assert_eq!(
        max_threads, 1,
        "the std-only echo server serves from one OS thread"
    );
    assert_eq!(support::thread_count(pid), 1);
}
