//! The command-line reader the examples share (not a library API: each example includes this
//! file with `#[path = "support/args.rs"] mod args;`, and cargo does not build `support/` as
//! an example since it has no `main.rs`).
//!
//! A missing, malformed or out-of-range value, or an unknown flag, prints one line saying
//! what is wrong and then the example's usage line on stderr, and exits with code 2.
//! [`exit_code`] turns an error returned from `run` into `error: MESSAGE` (its `Display`
//! form) on stderr and exit code 1.
#![allow(dead_code)] // every example uses its own subset

use std::fmt::Display;
use std::io;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// The arguments after the program name, with the example's name and usage for errors.
pub struct Args {
    /// The example's name, the prefix of error lines.
    name: &'static str,
    /// The usage line, printed after every error (`usage: ...`).
    usage: &'static str,
    /// What is left to read.
    rest: std::iter::Skip<std::env::Args>,
}

impl Args {
    /// Reads `std::env::args()` for `name`, whose usage is `usage` (without `usage: `).
    pub fn new(name: &'static str, usage: &'static str) -> Args {
        Args {
            name,
            usage,
            rest: std::env::args().skip(1),
        }
    }

    /// The next argument (a flag, or anything else the example takes), if any.
    pub fn next_arg(&mut self) -> Option<String> {
        self.rest.next()
    }

    /// Everything not read yet.
    pub fn remaining(&mut self) -> Vec<String> {
        self.rest.by_ref().collect()
    }

    /// Prints `NAME: WHY` and the usage line on stderr, and exits with code 2.
    pub fn fail(&self, why: impl Display) -> ! {
        eprintln!("{}: {why}", self.name);
        eprintln!("usage: {}", self.usage);
        std::process::exit(2)
    }

    /// Fails for an argument the example does not know (`-h` and `--help` included).
    pub fn unknown(&self, arg: &str) -> ! {
        if arg == "-h" || arg == "--help" {
            eprintln!("usage: {}", self.usage);
            std::process::exit(2)
        }
        self.fail(format_args!("unknown argument {arg:?}"))
    }

    /// The value of `flag`; fails if there is none.
    pub fn value(&mut self, flag: &str) -> String {
        match self.rest.next() {
            Some(v) => v,
            None => self.fail(format_args!("{flag} needs a value")),
        }
    }

    /// The value of `flag` parsed as `T` and within `min..=max`; fails otherwise, saying
    /// `what` the flag needs.
    pub fn number<T>(&mut self, flag: &str, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let v = self.value(flag);
        match v.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            _ => self.fail(format_args!(
                "bad {flag} value {v:?} (expected a whole number from {min} to {max})"
            )),
        }
    }

    /// The value of `flag` as seconds (a decimal number, `0.5` allowed) within
    /// `0..=max_secs`; fails otherwise.
    pub fn seconds(&mut self, flag: &str, max_secs: f64) -> Duration {
        let v = self.value(flag);
        match v.parse::<f64>() {
            Ok(s) if (0.0..=max_secs).contains(&s) => Duration::from_secs_f64(s),
            _ => self.fail(format_args!(
                "bad {flag} value {v:?} (expected seconds from 0 to {max_secs})"
            )),
        }
    }
}

/// Adds what was being done to an error: `cannot bind ADDR: Address already in use`.
pub fn context(what: impl Display) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The exit code for `run`'s result: success, or `error: MESSAGE` on stderr and code 1.
pub fn exit_code(result: io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
