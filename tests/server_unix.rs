//! `StreamServer` over a Unix socket: the same API as on TCP (start, pool, connections,
//! graceful stop), with the handler getting a `UnixStream`.

mod support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::{StreamServer, UnixListener, UnixStream};
use sprout::sync::Pool;

fn wait(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        sprout::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn stream_server_on_a_unix_socket_serves_many_clients_then_stops_gracefully() {
    let path = support::socket_path("server");
    let finished = Rc::new(Cell::new(0));
    let f = finished.clone();
    let server = StreamServer::new(
        UnixListener::bind(&path).unwrap(),
        move |mut conn: UnixStream, _peer| {
            let mut buf = [0u8; 64];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if &buf[..n] == b"slow" {
                    sprout::sleep(Duration::from_millis(100));
                }
                if &buf[..n] == b"stuck" {
                    sprout::sleep(Duration::from_secs(60));
                }
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            f.set(f.get() + 1);
        },
    )
    .unwrap()
    .pool(Pool::new(64));
    assert!(server.local_addr().as_pathname().is_some());
    server.start().unwrap();

    let clients: Vec<_> = (0..50)
        .map(|i| {
            let path = path.clone();
            sprout::spawn(move || {
                let mut c = UnixStream::connect(&path).unwrap();
                let msg = format!("client {i}");
                c.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0u8; msg.len()];
                c.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(wait(|| server.connections() == 0));
    assert_eq!(finished.get(), 50);

    // In flight at stop: one finishing within the timeout, one stuck past it.
    let mut slow = UnixStream::connect(&path).unwrap();
    slow.write_all(b"slow").unwrap();
    let mut stuck = UnixStream::connect(&path).unwrap();
    stuck.write_all(b"stuck").unwrap();
    assert!(wait(|| server.connections() == 2));
    let start = Instant::now();
    let stopper = {
        let server = server.clone();
        sprout::spawn(move || server.stop(Duration::from_millis(400)))
    };
    let mut back = [0u8; 4];
    slow.read_exact(&mut back).unwrap(); // answered while stopping
    assert_eq!(&back, b"slow");
    drop(slow);
    stopper.join().unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(server.is_stopped());
    assert_eq!(server.connections(), 0);
    assert_eq!(
        finished.get(),
        51,
        "the stuck handler was killed, not finished"
    );
    // The stuck client sees its connection closed.
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(stuck.read(&mut back), Ok(0) | Err(_)));
    // The listener is closed: nobody accepts any more.
    assert!(UnixStream::connect(&path).is_err());
    let _ = std::fs::remove_file(&path);
}
