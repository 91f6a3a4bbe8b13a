//! Helpers shared by the integration tests: child processes that are always reaped, an
//! in-process echo server, and /proc counters for threads and fds.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sprout::net::{FdStream, TcpListener, TcpStream};

/// A child process that is killed and reaped when the guard drops, even if the test fails.
pub struct ChildGuard {
    /// The child; killed and waited for on drop.
    pub child: Child,
}

impl ChildGuard {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    /// `SIGTERM` first, so an example that stops gracefully cleans up after itself
    /// (`https_hello` removes its certificate directory); `SIGKILL` if it is still running
    /// after a second.
    fn drop(&mut self) {
        // SAFETY: kill takes no pointers; the pid is our own child, not yet waited for.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of an example binary built by cargo next to this test binary
/// (`target/<profile>/examples/<name>`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test binary> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not found: plain `cargo test` builds the examples first; with `--test` run \
         `cargo build --example {name}` first",
        path.display()
    );
    path
}

/// Starts `examples/echo` on a free port and returns it with the address it prints.
pub fn spawn_echo_example() -> (ChildGuard, SocketAddr) {
    spawn_server_example("echo")
}

/// Starts the server example `name` with `--addr 127.0.0.1:0` and returns it with the address
/// it prints on its first line (`listening on ADDR`).
pub fn spawn_server_example(name: &str) -> (ChildGuard, SocketAddr) {
    spawn_server_example_with(name, &[])
}

/// Like [`spawn_server_example`], with extra command-line arguments.
pub fn spawn_server_example_with(name: &str, extra: &[&str]) -> (ChildGuard, SocketAddr) {
    let child = Command::new(example_path(name))
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn the {name} example: {e}"));
    let mut guard = ChildGuard { child };
    let stdout = OwnedFd::from(guard.child.stdout.take().expect("piped stdout"));
    let out = FdStream::new(stdout).expect("wrap the child's stdout");
    out.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let line = read_line(&out).expect("the example prints its address");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("a socket address");
    (guard, addr)
}

/// Reads one line (without the newline), a byte at a time, cooperatively.
fn read_line(mut r: &FdStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if r.read(&mut byte)? == 0 || byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(byte[0]);
    }
}

/// Number of threads of process `pid` (entries of /proc/PID/task).
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Number of fds open in this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Starts an echo server greenlet on this thread; returns its address. It lives as long as
/// the thread's hub.
pub fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    sprout::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            sprout::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A connected pair: (client, server side accepted from a fresh listener).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A unique path for a Unix socket in the temp dir (removed first if it exists).
pub fn socket_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("sprout-{}-{name}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Deterministic test bytes: `len` bytes depending on `seed`.
pub fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i.wrapping_mul(31) ^ seed.wrapping_mul(7919)) % 251) as u8)
        .collect()
}

/// Writes all of `buf` through a `&T` (for sockets shared between greenlets).
pub fn write_all_ref<W>(w: &W, buf: &[u8]) -> io::Result<()>
where
    for<'a> &'a W: Write,
{
    let mut w = w;
    w.write_all(buf)
}

/// Path of an example binary (the greenlet and hub tests' name for [`example_path`]).
pub fn example_bin(name: &str) -> PathBuf {
    example_path(name)
}

/// Re-runs the current test binary for one test in a child process with `env` set, for tests
/// that must crash, exhaust a process-wide limit, or count the process's threads.
pub fn run_self(test_name: &str, env: &[(&str, &str)]) -> std::process::Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("spawn self")
}

/// An ordered log shared between greenlets.
#[derive(Clone, Default)]
pub struct Log(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl Log {
    /// Appends an entry.
    pub fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    /// Takes every entry so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Sets a flag when dropped: proves a destructor ran.
pub struct DropFlag(pub std::rc::Rc<std::cell::Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Runs `clients` concurrent echo clients (greenlets of this process) against the server
/// `pid` at `addr`: each connects with `connect`, waits until all are connected (so every
/// connection is open at once), then echoes `rounds` messages of varied sizes and checks
/// every byte. Samples the server's thread count meanwhile; returns the most seen.
pub fn echo_storm<S, C>(
    addr: SocketAddr,
    pid: u32,
    clients: usize,
    rounds: usize,
    connect: C,
) -> usize
where
    S: Read + Write + 'static,
    C: Fn(SocketAddr) -> io::Result<S> + Clone + 'static,
{
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Instant;

    let done = Rc::new(Cell::new(false));
    let sampler = {
        let done = done.clone();
        sprout::spawn(move || {
            let (mut max, stop) = (0, Instant::now() + Duration::from_secs(120));
            while !done.get() && Instant::now() < stop {
                max = max.max(thread_count(pid));
                sprout::sleep(Duration::from_millis(5));
            }
            max
        })
    };
    let connected = Rc::new(Cell::new(0usize));
    let all_connected = Rc::new(sprout::WaitList::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (connected, all_connected, connect) =
                (connected.clone(), all_connected.clone(), connect.clone());
            sprout::spawn(move || -> io::Result<usize> {
                let mut conn = connect(addr)?;
                connected.set(connected.get() + 1);
                if connected.get() == clients {
                    all_connected.notify_all();
                }
                while connected.get() < clients {
                    all_connected
                        .wait(Some(deadline))
                        .map_err(io::Error::from)?;
                }
                let mut echoed = 0;
                for round in 0..rounds {
                    let msg = pattern(i * rounds + round, 1 + (i * 37 + round) % 3000);
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
    let expected: usize = (0..clients)
        .flat_map(|i| (0..rounds).map(move |round| 1 + (i * 37 + round) % 3000))
        .sum();
    let mut total = 0;
    for (i, c) in handles.into_iter().enumerate() {
        match c.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => panic!("client {i} failed: {e}"),
            Err(e) => panic!("client {i} panicked: {e}"),
        }
    }
    assert_eq!(total, expected, "every byte comes back");
    done.set(true);
    sampler.join().unwrap()
}

/// The `key=value` fields of an example's one-line report (`count=N wall_ms=W ...`), in
/// order, with integer values; panics on anything else.
pub fn int_fields(line: &str) -> Vec<(&str, u64)> {
    line.trim()
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k, v.parse().expect("integer value"))
        })
        .collect()
}
