//! `sprout::net::StreamServer` through its public API: a greenlet per connection, the
//! bounded pool, a panicking handler, graceful stop (in-flight handlers finish, stragglers
//! are killed, the listener closes), stop from a handler, and the `EMFILE` back-off in a
//! child process whose fd limit is lowered.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_support::{wait_until, SOON};
use sprout::net::{FdStream, StreamServer, TcpStream};
use sprout::sync::Pool;

/// An echo handler: echoes until EOF.
fn echo(mut conn: TcpStream, _peer: SocketAddr) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(SOON)).unwrap();
    c
}

/// Writes `msg` and reads it back.
fn ping(c: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    c.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    c.read_exact(&mut back)?;
    assert_eq!(back, msg);
    Ok(())
}

#[test]
fn each_connection_gets_its_own_greenlet() {
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    // 100 clients hold their connections open at once: all are served concurrently.
    let mut clients: Vec<TcpStream> = (0..100).map(|_| connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        ping(c, format!("hello {i}").as_bytes()).unwrap();
    }
    assert!(wait_until(SOON, || server.connections() == 100));
    drop(clients);
    assert!(wait_until(SOON, || server.connections() == 0));
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_pool_bounds_the_handlers_alive_at_once() {
    let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let handler = {
        let (now, peak) = (now.clone(), peak.clone());
        move |mut conn: TcpStream, _| {
            now.set(now.get() + 1);
            peak.set(peak.get().max(now.get()));
            sprout::sleep(Duration::from_millis(50));
            let _ = conn.write_all(b"done");
            now.set(now.get() - 1);
        }
    };
    let server = StreamServer::bind("127.0.0.1:0", handler)
        .unwrap()
        .pool(Pool::new(2))
        .max_accept(1);
    server.start().unwrap();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..6)
        .map(|_| {
            sprout::spawn(move || {
                let mut c = connect(addr);
                let mut s = String::new();
                c.read_to_string(&mut s).map(|_| s)
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap().unwrap(), "done");
    }
    assert_eq!(peak.get(), 2, "never more than the pool's size");
    server.stop(Duration::from_secs(1));
}

#[test]
fn a_panicking_handler_ends_only_its_own_connection() {
    let count = Rc::new(Cell::new(0));
    let handler = {
        let count = count.clone();
        move |conn: TcpStream, peer: SocketAddr| {
            count.set(count.get() + 1);
            if count.get() == 1 {
                panic!("handler boom for {peer}");
            }
            echo(conn, peer);
        }
    };
    let server = StreamServer::bind("127.0.0.1:0", handler).unwrap();
    server.start().unwrap();
    let mut first = connect(server.local_addr());
    let mut byte = [0u8; 1];
    // The panicking handler's connection is closed.
    assert_eq!(first.read(&mut byte).unwrap_or(0), 0);
    let mut second = connect(server.local_addr());
    ping(&mut second, b"still serving").unwrap();
    drop(second);
    server.stop(Duration::from_secs(1));
}

#[test]
fn stop_lets_in_flight_handlers_finish_then_kills_the_rest() {
    let finished = Rc::new(Cell::new(0));
    let handler = {
        let finished = finished.clone();
        move |mut conn: TcpStream, _| {
            let mut how_long = [0u8; 1];
            if conn.read_exact(&mut how_long).is_err() {
                return;
            }
            // b'q': quick (100 ms), anything else: forever.
            let d = if how_long[0] == b'q' { 100 } else { 1_000_000 };
            sprout::sleep(Duration::from_millis(d));
            let _ = conn.write_all(b"finished");
            finished.set(finished.get() + 1);
        }
    };
    let server = StreamServer::bind("127.0.0.1:0", handler).unwrap();
    let addr = server.local_addr();
    let serving = {
        let server = server.clone();
        sprout::spawn(move || server.serve_forever())
    };
    let client = |what: &'static [u8]| {
        sprout::spawn(move || {
            let mut c = connect(addr);
            c.write_all(what).unwrap();
            let mut s = String::new();
            let _ = c.read_to_string(&mut s);
            s
        })
    };
    let quick: Vec<_> = (0..3).map(|_| client(b"q")).collect();
    let stuck = client(b"s");
    assert!(wait_until(SOON, || server.connections() == 4));
    let t = Instant::now();
    server.stop(Duration::from_millis(600));
    let took = t.elapsed();
    for q in quick {
        assert_eq!(q.join().unwrap(), "finished");
    }
    assert_eq!(
        stuck.join().unwrap(),
        "",
        "the straggler was killed, its socket closed"
    );
    assert_eq!(finished.get(), 3);
    assert!(
        took >= Duration::from_millis(550),
        "waited for the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(server.connections(), 0);
    assert!(server.is_stopped());
    serving.join().unwrap().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    assert!(
        server.start().is_err(),
        "a stopped server cannot start again"
    );
}

#[test]
fn a_handler_can_stop_its_own_server() {
    let slot: Rc<Cell<Option<StreamServer>>> = Rc::new(Cell::new(None));
    let handler = {
        let slot = slot.clone();
        move |mut conn: TcpStream, _| {
            let server = slot.take().expect("the server");
            server.stop(Duration::from_secs(5));
            // Not killed by its own stop: it can still answer.
            let _ = conn.write_all(b"stopped");
        }
    };
    let server = StreamServer::bind("127.0.0.1:0", handler).unwrap();
    slot.set(Some(server.clone()));
    let addr = server.local_addr();
    let client = sprout::spawn(move || {
        let mut c = connect(addr);
        let mut s = String::new();
        c.read_to_string(&mut s).map(|_| s)
    });
    let t = Instant::now();
    server.serve_forever().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "stop did not wait for its caller"
    );
    assert_eq!(client.join().unwrap().unwrap(), "stopped");
}

/// Env var that makes `emfile_child` run the server.
const CHILD_ENV: &str = "SPROUT_TEST_EMFILE_CHILD";
/// Fds the child may open beyond those it has at start.
const CHILD_SPARE_FDS: u64 = 12;

/// The child side of `accept_backs_off_on_emfile_and_resumes`: lowers its own fd limit,
/// serves echo and prints its address. A no-op in a normal test run.
#[test]
fn emfile_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let server = StreamServer::bind("127.0.0.1:0", echo).unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let limit = libc::rlimit {
        rlim_cur: open + CHILD_SPARE_FDS,
        rlim_max: open + CHILD_SPARE_FDS,
    };
    // SAFETY: setrlimit reads the struct it is given; no other preconditions.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    println!("listening on {}", server.local_addr());
    std::io::stdout().flush().unwrap();
    server.serve_forever().unwrap();
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are utime and stime; here 0-based 11 and 12.
    fields
        .get(11)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
}

#[test]
fn accept_backs_off_on_emfile_and_resumes() {
    let stderr_path =
        std::env::temp_dir().join(format!("sprout-emfile-{}.err", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap();
    let mut guard = support::ChildGuard { child };
    let pid = guard.pid();
    let out = FdStream::new(OwnedFd::from(guard.child.stdout.take().unwrap())).unwrap();
    out.set_read_timeout(Some(SOON)).unwrap();
    let addr: SocketAddr = loop {
        let line = read_line(&out).expect("the child ended before listening");
        // libtest prints `test emfile_child ... ` just before, on the same line.
        if let Some((_, a)) = line.split_once("listening on ") {
            break a.parse().unwrap();
        }
    };
    let errors = || {
        std::fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("accept failed"))
            .count()
    };

    // More clients than the child has fds for. Each sends a ping; the accepted ones are
    // echoed, the rest wait in the listen backlog.
    const CLIENTS: usize = 2 * CHILD_SPARE_FDS as usize;
    let clients: Vec<Rc<TcpStream>> = (0..CLIENTS)
        .map(|i| {
            let c = connect(addr);
            c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            (&c).write_all(&[b'a' + i as u8]).unwrap();
            Rc::new(c)
        })
        .collect();
    let served = |c: &Rc<TcpStream>| {
        let mut b = [0u8; 1];
        matches!((&**c).read(&mut b), Ok(1))
    };
    let mut answered = vec![false; CLIENTS];
    let deadline = Instant::now() + SOON;
    while errors() == 0 && Instant::now() < deadline {
        for (i, c) in clients.iter().enumerate() {
            if !answered[i] {
                answered[i] = served(c);
            }
        }
    }
    assert!(errors() >= 1, "the child reports running out of fds");
    for (i, c) in clients.iter().enumerate() {
        if !answered[i] {
            answered[i] = served(c);
        }
    }
    let first_served = answered.iter().filter(|a| **a).count();
    assert!(
        first_served > 0,
        "some clients were served before the fds ran out"
    );
    assert!(
        first_served < CLIENTS,
        "not all: the limit is below the client count"
    );

    // Backing off, not spinning: little CPU over a second, one report for the burst, and
    // the accepted clients are still served meanwhile.
    let before = cpu_ticks(pid);
    sprout::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    assert!(spent < 30, "the child spun: {spent} ticks in one second");
    assert_eq!(errors(), 1, "logged once per burst");
    let still = clients.iter().zip(&answered).find(|(_, a)| **a).unwrap().0;
    ping(&mut TcpStream::try_clone(still).unwrap(), b"z").unwrap();

    // Freeing the fds lets the waiting clients in.
    let (done, waiting): (Vec<_>, Vec<_>) =
        clients.into_iter().zip(answered).partition(|(_, a)| *a);
    drop(done);
    for (c, _) in &waiting {
        c.set_read_timeout(Some(SOON)).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(
            (&**c).read(&mut b).unwrap(),
            1,
            "accepted once fds were freed"
        );
    }
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    eprintln!("child stderr:\n{log}");
    assert!(log.contains("accepting again"), "{log}");
    drop(guard);
    let _ = std::fs::remove_file(&stderr_path);
}

/// Reads one line (without the newline) a byte at a time, cooperatively; `None` at EOF.
fn read_line(mut r: &FdStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ if line.is_empty() => return None,
            _ => break,
        }
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}
