//! Out of file descriptors: when `accept` fails with `EMFILE`, the HTTP server closes idle
//! keep-alive connections, oldest first (`StreamServer::on_fds_exhausted`), so new clients
//! are served at once instead of waiting for an idle timeout. One test in its own binary:
//! it lowers this process's fd limit.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::time::{Duration, Instant};

use http_support::{start, Client, SOON};
use sprout::net::http::{Response, Server};

/// Sets the soft fd limit; returns the old one.
fn set_nofile(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let old = lim.rlim_cur;
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    old
}

/// The fd limit that leaves exactly `spare` fds free (fds are allocated lowest first,
/// and the limit bounds the fd numbers).
fn limit_leaving(spare: usize) -> u64 {
    let open: std::collections::HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .collect();
    let mut free = 0;
    let mut fd = 0;
    loop {
        // The directory's own fd is among `open` and is closed by now: count it as used
        // anyway (one more spare at most).
        if !open.contains(&fd) {
            free += 1;
            if free == spare {
                return fd + 1;
            }
        }
        fd += 1;
    }
}

#[test]
fn idle_keep_alive_connections_are_closed_oldest_first_when_fds_run_out() {
    // Idle connections wait 60 s by default: without the reclaim a new client would too.
    let (server, addr) = start(Server::builder(), |_req| Response::text("Hello, World!"));
    let mut idle: Vec<Client> = Vec::new();
    const IDLE: usize = 24;
    for _ in 0..IDLE {
        let mut c = Client::connect(addr);
        c.get("/").unwrap();
        assert_eq!(c.reply().unwrap().status, 200);
        idle.push(c);
        // Distinct idle order.
        sprout::sleep(Duration::from_millis(2));
    }
    assert!(http_support::wait_until(SOON, || server.connections() == IDLE));
    // Two spare fds: one new client fits (its socket and the server's), the next does not.
    let old = set_nofile(limit_leaving(2));
    let mut served = 0;
    let start_time = Instant::now();
    let mut fresh = Vec::new();
    for _ in 0..6 {
        let Ok(conn) = sprout::net::TcpStream::connect(addr) else {
            // The client side ran out itself: the server has not closed anything yet.
            sprout::sleep(Duration::from_millis(20));
            continue;
        };
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = Client::from_stream(conn);
        c.get("/").unwrap();
        if c.reply().map(|r| r.status == 200).unwrap_or(false) {
            served += 1;
        }
        fresh.push(c);
    }
    let elapsed = start_time.elapsed();
    set_nofile(old);
    assert!(served >= 4, "new clients were served: {served} of 6");
    assert!(
        elapsed < Duration::from_secs(15),
        "served at once, not after an idle timeout"
    );
    // The oldest idle connections were closed, the newest kept.
    let closed: Vec<bool> = idle
        .iter_mut()
        .map(|c| {
            c.conn
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            c.closed_by_server()
        })
        .collect();
    let n = closed.iter().filter(|c| **c).count();
    assert!(n >= 1, "some idle connections were closed: {closed:?}");
    assert!(
        closed[..n].iter().all(|c| *c) && closed[n..].iter().all(|c| !*c),
        "oldest first: {closed:?}"
    );
    // The survivors still work.
    let last = idle.last_mut().unwrap();
    last.get("/").unwrap();
    assert_eq!(last.reply().unwrap().status, 200);
    server.stop(SOON);
}
