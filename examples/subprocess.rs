//! Runs a command with a timeout and streams its output line by line while other greenlets
//! keep running (gevent's `gevent.subprocess`): a ticker greenlet counts every 250 ms
//! throughout, proving the hub was never blocked.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example subprocess -- --timeout 2 -- sh -c 'for i in 1 2 3; do echo line $i; sleep 0.3; done'
//! ```
//!
//! Each line of the command's stdout is printed as `out: LINE` as soon as it arrives. At the
//! end it prints `exit: STATUS`, or `timeout: killed after SECS s` if the command ran longer
//! than `--timeout` (default 10) and was killed (with its whole process group: the command
//! runs in a group of its own, so what it started dies with it and the run ends at the
//! timeout), then `ticks: N`, the ticker's count (about
//! four per second of the command's run).

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::process::{Command, Stdio};

#[path = "support/args.rs"]
mod args;

fn main() -> ExitCode {
    args::exit_code(run())
}

fn run() -> io::Result<()> {
    let mut timeout = Duration::from_secs(10);
    let mut args = args::Args::new(
        "subprocess",
        "subprocess [--timeout SECS] -- COMMAND [ARGS...]",
    );
    let mut command = Vec::new();
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--timeout" => timeout = args.seconds(&arg, 1e9),
            "--" => command.extend(args.remaining()),
            other if other.starts_with('-') && command.is_empty() => args.unknown(other),
            other => command.push(other.to_owned()),
        }
    }
    if command.is_empty() {
        args.fail("no command given");
    }

    let ticks = Rc::new(Cell::new(0u64));
    let counter = ticks.clone();
    let ticker = sprout::spawn(move || loop {
        sprout::sleep(Duration::from_millis(250));
        counter.set(counter.get() + 1);
    });
    let started = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its own process group, so a timeout kills what it started too (`sh -c` children
        // that would otherwise keep running and keep stdout open).
        .process_group(0)
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    // The reader streams lines while this greenlet enforces the deadline.
    let reader = sprout::spawn(move || -> io::Result<()> {
        for line in BufReader::new(stdout).lines() {
            println!("out: {}", line?);
            io::stdout().flush()?;
        }
        Ok(())
    });
    match child.wait_timeout(timeout)? {
        Some(status) => println!("exit: {status}"),
        None => {
            // The whole group: the child and its descendants that stayed in it.
            if child.kill_group().is_err() {
                child.kill()?;
            }
            child.wait()?;
            println!(
                "timeout: killed after {} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let _ = reader.join();
    ticker.kill();
    println!("ticks: {}", ticks.get());
    Ok(())
}
