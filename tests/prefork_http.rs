//! `examples/http_hello --workers 2` as a child process: the master prints its address once,
//! a worker killed with SIGKILL is replaced while the port keeps answering, and SIGTERM to
//! the master lets 10 slow requests in flight finish, refuses new connections and exits 0
//! within the grace period.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_support::{get, wait_until, Client};
use sprout::process::{Child, Command, Stdio};

/// The master; on drop (a failed test) its workers and then it are killed.
struct Master(Child);

impl Drop for Master {
    fn drop(&mut self) {
        for w in workers(self.0.id()) {
            // SAFETY: signals a worker process this test started.
            unsafe { libc::kill(w as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait_timeout(Duration::from_secs(5));
    }
}

/// The live (non-zombie) children of `pid`.
fn workers(pid: u32) -> Vec<u32> {
    let list =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn prefork_workers_restart_and_stop_gracefully() {
    let grace = Duration::from_secs(5);
    let mut child = Command::new(support::example_path("http_hello"))
        .args(["--addr", "127.0.0.1:0", "--workers", "2", "--grace", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    stdout.set_timeout(Some(Duration::from_secs(30))).unwrap();
    let master = Master(child);
    let mpid = master.0.id();
    let mut out = BufReader::new(stdout);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let rest = sprout::spawn(move || {
        let mut rest = String::new();
        out.read_to_string(&mut rest).map(|_| rest)
    });

    assert!(
        wait_until(Duration::from_secs(10), || workers(mpid).len() == 2),
        "two workers start"
    );
    assert_eq!(get(addr, "/").status, 200);

    // A worker killed with SIGKILL is replaced; the port keeps answering meanwhile. Killed
    // after `HEALTHY` (1 s) of life, it is replaced without back-off.
    sprout::sleep(sprout::net::prefork::HEALTHY + Duration::from_millis(100));
    let before = workers(mpid);
    let victim = before[0];
    let killed = Instant::now();
    // SAFETY: signals a worker process this test started.
    let r = unsafe { libc::kill(victim as libc::pid_t, libc::SIGKILL) };
    assert_eq!(r, 0);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let now = workers(mpid);
            now.len() == 2 && !now.contains(&victim)
        }),
        "the dead worker is replaced"
    );
    let restart = killed.elapsed();
    for _ in 0..20 {
        assert_eq!(get(addr, "/").status, 200);
    }
    eprintln!("worker restart time (SIGKILL to replacement running): {restart:?}");

    // Ten slow requests in flight, then SIGTERM to the master.
    let slow: Vec<_> = (0..10)
        .map(|_| {
            sprout::spawn(move || {
                let mut c = Client::connect(addr);
                c.get("/sleep/1000")?;
                c.reply()
            })
        })
        .collect();
    sprout::sleep(Duration::from_millis(300));
    let term = Instant::now();
    // SAFETY: signals the master process this test started.
    assert_eq!(unsafe { libc::kill(mpid as libc::pid_t, libc::SIGTERM) }, 0);

    // New connections are refused once every copy of the listener is closed.
    let refused = wait_until(Duration::from_millis(1500), || {
        matches!(
            std::net::TcpStream::connect(addr),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused
        )
    });
    assert!(refused, "new connections are refused after SIGTERM");
    for h in slow {
        let r = h.join().unwrap().expect("the in-flight request completes");
        assert_eq!((r.status, r.text().as_str()), (200, "slept 1000"));
    }
    let mut master = master;
    let status = master
        .0
        .wait_timeout(grace + Duration::from_secs(2))
        .unwrap()
        .expect("the master exits");
    let shutdown = term.elapsed();
    eprintln!(
        "graceful shutdown time (SIGTERM to master exit, 1 s requests in flight): {shutdown:?}"
    );
    assert_eq!(status.code(), Some(0));
    assert!(
        shutdown < grace,
        "the master exits within the grace period: {shutdown:?}"
    );
    assert!(workers(mpid).is_empty());
    assert_eq!(
        rest.join().unwrap().unwrap(),
        "",
        "`listening on` is printed once"
    );
}
