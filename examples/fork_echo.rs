//! The fork-per-connection echo server of socketserver's `ForkingMixIn`, done right: every
//! connection is served by a child process made with `sprout::fork`, and every child is
//! reaped by a greenlet parked on its pidfd (`sprout::process::wait_pid`), so no zombie is
//! left, no `SIGCHLD` handler exists, and the parent never blocks: it goes on accepting while
//! children run and exit.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example fork_echo -- --addr 127.0.0.1:7789
//! ```
//!
//! It prints `listening on ADDR` and serves until killed; try `nc 127.0.0.1 7789`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::rc::Rc;

use sprout::net::{TcpListener, TcpStream};
use sprout::JoinHandle;

#[path = "support/args.rs"]
mod args;

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut addr = String::from("127.0.0.1:7789");
    let mut args = args::Args::new("fork_echo", "fork_echo [--addr HOST:PORT]");
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--addr" => addr = args.value(&arg),
            other => args.unknown(other),
        }
    }
    // The reaper greenlets by child pid: a forked child inherits them (every greenlet of the
    // thread exists in both processes), and kills its copies, which are not its business.
    let reapers: Rc<RefCell<HashMap<u32, JoinHandle<()>>>> = Rc::default();
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let (conn, _peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fork_echo: accept: {e}");
                sprout::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let pid = match sprout::fork() {
            Ok(pid) => pid,
            Err(e) => {
                eprintln!("fork_echo: fork: {e}");
                continue;
            }
        };
        if pid == 0 {
            // The child: its copies of the listener and of the reapers are not its business.
            drop(listener);
            for (_, reaper) in reapers.borrow_mut().drain() {
                reaper.kill_nowait();
            }
            let code = match echo(conn) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            std::process::exit(code);
        }
        // The parent: the child owns the connection now.
        drop(conn);
        let mine = reapers.clone();
        let parent = std::process::id();
        let reaper = sprout::spawn(move || {
            let waited = sprout::process::wait_pid(pid);
            // A child forked while this reaper was already woken (the pidfd readable) runs
            // its copy despite `kill_nowait` (a pending wake-up wins); that copy's wait fails
            // with ECHILD and is not this process's business.
            if let (Err(e), true) = (waited, std::process::id() == parent) {
                eprintln!("fork_echo: waiting for child {pid}: {e}");
            }
            mine.borrow_mut().remove(&pid);
        });
        if !reaper.is_finished() {
            reapers.borrow_mut().insert(pid, reaper);
        }
    }
}

/// Echoes until the peer closes.
fn echo(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}
