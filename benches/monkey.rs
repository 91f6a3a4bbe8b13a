//! The cost of monkey patching, in one run:
//!
//! - `interposition`: a 64-byte `write` + `read` on a Unix socketpair outside any greenlet,
//!   through the real libc functions (pointers from `dlsym(RTLD_NEXT)`, which bypass the
//!   hooks) against the same calls through the hooked symbols: before `patch_all` (the
//!   always-on cost of linking the feature), and after it on a socket the hooks manage, from a
//!   thread without a hub (the blocking emulation's fast path: an fd table lookup).
//! - `syscall_passthrough`: `syscall(SYS_getpid)` through the `syscall` hook (every number but
//!   `SYS_futex` is forwarded after one compare) against glibc's `syscall` called directly
//!   (pointer from `dlsym(RTLD_NEXT)`), after `patch_all`.
//! - `std_mutex_uncontended`: an uncontended `std::sync::Mutex` lock/unlock after `patch_all`
//!   from a hub's root code (no futex call happens; the number is for comparison with the
//!   same loop without the feature: `benches/monkey_mutex.rs`, built with and without it).
//! - `echo_64B_100conns`: the std-only echo server (`examples/echo_std.rs`: std::net plus
//!   `patch_all`) against sprout's own (`examples/echo.rs`), each in its own child process
//!   (this binary re-executed), under the same closed-loop load: 100 connections driven by
//!   greenlets of this process, 64-byte messages, as `examples/echo_load.rs` does.
//!
//! Sequential criterion measurements drift on a shared machine by more than the effect looked
//! for, so after them each comparison is also made interleaved: alternating blocks of the two
//! variants, and the median of the per-pair time ratios is printed (`A/B ratio` lines).
//!
//! ```text
//! cargo bench --features monkey --bench monkey
//! ```

use std::ffi::c_void;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

#[path = "support/echo_load.rs"]
mod echo_load;

use echo_load::{Load, CONNS, MSG};

/// The environment variable that turns this binary into an echo server child.
const SERVER_ENV: &str = "SPROUT_MONKEY_BENCH_SERVER";
/// Round trips per connection per measured iteration.
const ROUNDS: usize = 20;

type ReadFn = unsafe extern "C" fn(i32, *mut c_void, usize) -> isize;
type WriteFn = unsafe extern "C" fn(i32, *const c_void, usize) -> isize;

/// The real `read` and `write`, bypassing the hooks.
fn real_read_write() -> (ReadFn, WriteFn) {
    // SAFETY: NUL-terminated names; the addresses are glibc's read and write, whose
    // signatures are the ones spelled here.
    unsafe {
        let r = libc::dlsym(libc::RTLD_NEXT, c"read".as_ptr());
        let w = libc::dlsym(libc::RTLD_NEXT, c"write".as_ptr());
        assert!(!r.is_null() && !w.is_null());
        (
            std::mem::transmute::<*mut c_void, ReadFn>(r),
            std::mem::transmute::<*mut c_void, WriteFn>(w),
        )
    }
}

/// A Unix stream socketpair made through the (hooked) `socketpair`.
fn pair() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0);
    (fds[0], fds[1])
}

/// One 64-byte write on `a` and the read of it on `b`.
#[inline(always)]
fn round(a: i32, b: i32, read: ReadFn, write: WriteFn, buf: &mut [u8; MSG]) {
    // SAFETY: open fds and a live buffer of MSG bytes.
    unsafe {
        assert_eq!(write(a, buf.as_ptr().cast(), MSG), MSG as isize);
        assert_eq!(read(b, buf.as_mut_ptr().cast(), MSG), MSG as isize);
    }
}

/// The interleaved comparison of hooked and real `write` + `read` on the pair `(a, b)`.
fn interposition_ab(variant: &str, a: i32, b: i32) {
    let (real_read, real_write) = real_read_write();
    let block = |read: ReadFn, write: WriteFn, buf: &mut [u8; MSG]| {
        for _ in 0..2_000 {
            round(a, b, read, write, buf);
        }
    };
    let (mut buf, mut buf2) = ([0x5au8; MSG], [0x5au8; MSG]);
    let r = interleaved_ratio(
        300,
        || block(libc::read, libc::write, &mut buf),
        || block(real_read, real_write, &mut buf2),
    );
    println!("A/B ratio interposition_write_read_64B time {variant} / real_libc: {r:.4}");
}

fn interposition(c: &mut Criterion, ab: bool) {
    let (real_read, real_write) = real_read_write();
    let hooked_read: ReadFn = libc::read;
    let hooked_write: WriteFn = libc::write;
    let (a, b) = pair();
    let mut buf = [0x5au8; MSG];

    let mut group = c.benchmark_group("interposition_write_read_64B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("real_libc", |bch| {
        bch.iter(|| round(a, b, real_read, real_write, &mut buf))
    });
    group.bench_function("hooked_unpatched", |bch| {
        bch.iter(|| round(a, b, hooked_read, hooked_write, &mut buf))
    });
    if ab {
        interposition_ab("hooked_unpatched", a, b);
    }
    // Patch from another thread, so this one stays a plain thread without a hub.
    std::thread::spawn(sprout::monkey::patch_all)
        .join()
        .unwrap();
    let (pa, pb) = pair();
    group.bench_function("real_libc_managed_socket", |bch| {
        bch.iter(|| round(pa, pb, real_read, real_write, &mut buf))
    });
    group.bench_function("hooked_patched_managed_socket", |bch| {
        bch.iter(|| round(pa, pb, hooked_read, hooked_write, &mut buf))
    });
    group.finish();
    if ab {
        interposition_ab("hooked_patched_managed_socket", pa, pb);
    }
}

type SyscallFn = unsafe extern "C" fn(libc::c_long, ...) -> libc::c_long;

/// `syscall(SYS_getpid)` through `f`.
#[inline(always)]
fn getpid_via(f: SyscallFn) -> libc::c_long {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { f(libc::SYS_getpid) }
}

/// The `syscall` hook's pass-through for a non-futex number, and an uncontended std Mutex,
/// after `patch_all` (on this thread: root code with a hub).
fn syscall_and_mutex(c: &mut Criterion, ab: bool) {
    sprout::monkey::patch_all();
    // SAFETY: a NUL-terminated name; the address is glibc's variadic `syscall`.
    let real: SyscallFn = unsafe {
        let p = libc::dlsym(libc::RTLD_NEXT, c"syscall".as_ptr());
        assert!(!p.is_null());
        std::mem::transmute::<*mut c_void, SyscallFn>(p)
    };
    let hooked: SyscallFn = libc::syscall;
    assert_eq!(getpid_via(real), getpid_via(hooked));
    let mut group = c.benchmark_group("syscall_passthrough");
    group.throughput(Throughput::Elements(1));
    group.bench_function("getpid_real_libc", |b| {
        b.iter(|| std::hint::black_box(getpid_via(real)))
    });
    group.bench_function("getpid_hooked_patched", |b| {
        b.iter(|| std::hint::black_box(getpid_via(hooked)))
    });
    group.finish();
    if ab {
        let block = |f: SyscallFn| {
            for _ in 0..5_000 {
                std::hint::black_box(getpid_via(f));
            }
        };
        let r = interleaved_ratio(300, || block(hooked), || block(real));
        println!("A/B ratio syscall_passthrough_getpid time hooked_patched / real_libc: {r:.4}");
    }
    let m = std::sync::Mutex::new(0u64);
    let mut group = c.benchmark_group("std_mutex_uncontended");
    group.throughput(Throughput::Elements(1));
    group.bench_function("lock_unlock_patched", |b| {
        b.iter(|| *std::hint::black_box(&m).lock().unwrap() += 1)
    });
    group.finish();
}

/// An echo server child process, killed (by its pid) when dropped.
struct Server {
    /// The child.
    child: Child,
    /// The address it printed.
    addr: SocketAddr,
}

impl Server {
    fn start(kind: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SERVER_ENV, kind)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("re-execute the bench as a server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child: `examples/echo_std.rs` (kind `std`) or `examples/echo.rs` (kind `sprout`).
fn serve(kind: &str) -> ! {
    fn handle<S: Read + Write>(mut conn: S) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            conn.write_all(&buf[..n])?;
        }
    }
    match kind {
        "std" => {
            sprout::monkey::patch_all();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            println!("listening on {}", listener.local_addr().unwrap());
            io::stdout().flush().unwrap();
            loop {
                if let Ok((conn, _)) = listener.accept() {
                    sprout::spawn(move || handle(conn));
                }
            }
        }
        _ => {
            let listener = sprout::net::TcpListener::bind("127.0.0.1:0").unwrap();
            println!("listening on {}", listener.local_addr().unwrap());
            io::stdout().flush().unwrap();
            loop {
                if let Ok((conn, _)) = listener.accept() {
                    sprout::spawn(move || handle(conn));
                }
            }
        }
    }
}

fn echo(c: &mut Criterion) {
    let std_server = Server::start("std");
    let sprout_server = Server::start("sprout");
    let std_load = Load::connect(std_server.addr);
    let sprout_load = Load::connect(sprout_server.addr);
    // Warm both servers up: every handler has started and every stack is touched.
    std_load.run(10);
    sprout_load.run(10);

    let mut group = c.benchmark_group("echo_64B_100conns");
    group.throughput(Throughput::Elements((CONNS * ROUNDS) as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("sprout_net_echo", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sprout_load.run(ROUNDS)).sum())
    });
    group.bench_function("std_net_echo_patched", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| std_load.run(ROUNDS)).sum())
    });
    group.finish();
}

/// Times `a` and `b` in alternating blocks, `pairs` times; returns the median of the
/// per-pair ratios time(a) / time(b).
fn interleaved_ratio(pairs: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> f64 {
    let mut ratios: Vec<f64> = (0..pairs)
        .map(|i| {
            // Alternate which goes first, so neither always runs on a warmer cache.
            let (ta, tb) = if i % 2 == 0 {
                let t = Instant::now();
                a();
                let ta = t.elapsed();
                let t = Instant::now();
                b();
                (ta, t.elapsed())
            } else {
                let t = Instant::now();
                b();
                let tb = t.elapsed();
                let t = Instant::now();
                a();
                (t.elapsed(), tb)
            };
            ta.as_secs_f64() / tb.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// The interleaved comparison of the two echo servers.
fn echo_ab() {
    let std_server = Server::start("std");
    let sprout_server = Server::start("sprout");
    let std_load = Load::connect(std_server.addr);
    let sprout_load = Load::connect(sprout_server.addr);
    std_load.run(10);
    sprout_load.run(10);
    let r = interleaved_ratio(
        60,
        || {
            sprout_load.run(ROUNDS);
        },
        || {
            std_load.run(ROUNDS);
        },
    );
    println!(
        "A/B ratio echo_64B_100conns throughput std_net_echo_patched / sprout_net_echo: {r:.4}"
    );
}

fn main() {
    if let Ok(kind) = std::env::var(SERVER_ENV) {
        serve(&kind);
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not (one quick pass, no A/B).
    let ab = std::env::args().any(|a| a == "--bench");
    // Criterion's first free argument is its name filter.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // A group runs when the filter could match one of its benchmark ids.
    let wanted = |ids: &[&str]| {
        filter
            .as_deref()
            .is_none_or(|f| ids.iter().any(|id| id.contains(f)))
    };
    let mut c = Criterion::default().configure_from_args();
    // The echo runs first, while this process is not patched yet.
    if wanted(&[
        "echo_64B_100conns/sprout_net_echo",
        "echo_64B_100conns/std_net_echo_patched",
    ]) {
        echo(&mut c);
        if ab {
            echo_ab();
        }
    }
    if wanted(&[
        "interposition_write_read_64B/real_libc",
        "interposition_write_read_64B/hooked_unpatched",
        "interposition_write_read_64B/real_libc_managed_socket",
        "interposition_write_read_64B/hooked_patched_managed_socket",
    ]) {
        interposition(&mut c, ab);
    }
    if wanted(&[
        "syscall_passthrough/getpid_real_libc",
        "syscall_passthrough/getpid_hooked_patched",
        "std_mutex_uncontended/lock_unlock_patched",
    ]) {
        syscall_and_mutex(&mut c, ab);
    }
    c.final_summary();
}
