//! The access log: one line per request, in Common Log Format or the combined format, with
//! the duration appended (as gevent's `pywsgi` does), buffered and written in batches.
//!
//! A line (Common Log Format, RFC-less but fixed by NCSA httpd and Apache's `%h %l %u %t
//! "%r" %>s %b`, plus the duration in seconds):
//!
//! ```text
//! 127.0.0.1 - - [29/Nov/2026:15:24:32 +0000] "GET /index.html HTTP/1.1" 200 13 0.000041
//! ```
//!
//! The combined format adds the `Referer` and `User-Agent` in quotes before the duration.
//! The byte count is the response body's bytes sent (`-` for none, as in CLF); the time is
//! UTC. Bytes in the request line, referer and user agent that are not printable ASCII,
//! and `"` and `\`, are written as `\xHH`, so a line always parses and a client cannot
//! forge lines. A request refused before its request line could be read is logged as `"-"`.
//!
//! Lines are appended to a buffer that is written when it passes 64 KiB, when the server's
//! flusher greenlet wakes (every second), when the server stops, and when the log is
//! dropped. The writes are ordinary blocking writes on the server's thread (stderr, a file).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::date::civil_from_days;
use super::response::decimal;
use crate::sys;

/// Buffered bytes past this are written at once.
const FLUSH_AT: usize = 64 * 1024;

/// How often the server's flusher greenlet writes what is buffered.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The layout of an access log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// NCSA Common Log Format plus the duration: `host - - [time] "request" status bytes
    /// seconds`.
    #[default]
    Common,
    /// Common plus `"referer" "user-agent"` (Apache's combined) before the duration.
    Combined,
}

/// What one log line says about one request.
pub(crate) struct Entry<'a> {
    /// The client.
    pub(crate) peer: SocketAddr,
    /// The request line's parts (`None` when the request was refused before they were
    /// known): method, target, minor version.
    pub(crate) request: Option<(&'a [u8], &'a [u8], u8)>,
    /// `Referer` and `User-Agent` (combined format only).
    pub(crate) referer: Option<&'a [u8]>,
    /// The `User-Agent` header.
    pub(crate) user_agent: Option<&'a [u8]>,
    /// The status code sent.
    pub(crate) status: u16,
    /// Response body bytes sent.
    pub(crate) bytes: u64,
    /// From the complete head to the response written.
    pub(crate) duration: Duration,
}

/// A buffered access log.
pub(crate) struct AccessLog {
    /// Where lines go.
    out: RefCell<Box<dyn Write>>,
    /// Lines not yet written.
    buf: RefCell<Vec<u8>>,
    /// The line layout.
    format: LogFormat,
    /// The second `stamp` was formatted for.
    stamp_secs: Cell<u64>,
    /// `[dd/Mon/yyyy:hh:mm:ss +0000]`.
    stamp: Cell<[u8; 28]>,
}

impl AccessLog {
    pub(crate) fn new(out: Box<dyn Write>, format: LogFormat) -> AccessLog {
        AccessLog {
            out: RefCell::new(out),
            buf: RefCell::new(Vec::with_capacity(8192)),
            format,
            stamp_secs: Cell::new(u64::MAX),
            stamp: Cell::new([0; 28]),
        }
    }

    /// Appends one line; writes the buffer if it is large.
    pub(crate) fn log(&self, e: &Entry<'_>) {
        let full = {
            let mut buf = self.buf.borrow_mut();
            self.line(&mut buf, e);
            buf.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    fn line(&self, out: &mut Vec<u8>, e: &Entry<'_>) {
        let _ = write!(out, "{} - - ", e.peer.ip());
        out.extend_from_slice(&self.stamp());
        out.extend_from_slice(b" \"");
        match e.request {
            Some((method, target, minor)) => {
                escaped(out, method);
                out.push(b' ');
                escaped(out, target);
                out.extend_from_slice(if minor == 0 {
                    b" HTTP/1.0"
                } else {
                    b" HTTP/1.1"
                });
            }
            None => out.push(b'-'),
        }
        out.extend_from_slice(b"\" ");
        decimal(out, u64::from(e.status));
        out.push(b' ');
        if e.bytes == 0 {
            out.push(b'-');
        } else {
            decimal(out, e.bytes);
        }
        if self.format == LogFormat::Combined {
            for field in [e.referer, e.user_agent] {
                out.extend_from_slice(b" \"");
                match field {
                    Some(v) => escaped(out, v),
                    None => out.push(b'-'),
                }
                out.push(b'"');
            }
        }
        let micros = e.duration.as_micros();
        let _ = writeln!(out, " {}.{:06}", micros / 1_000_000, micros % 1_000_000);
    }

    /// `[29/Nov/2026:15:24:32 +0000]`, formatted once per second.
    fn stamp(&self) -> [u8; 28] {
        let secs = sys::coarse_unix_secs();
        if self.stamp_secs.get() != secs {
            self.stamp.set(clf_time(secs));
            self.stamp_secs.set(secs);
        }
        self.stamp.get()
    }

    /// Writes what is buffered. A failed write drops the lines (and says so once per
    /// failure on stderr) rather than stopping the server.
    pub(crate) fn flush(&self) {
        let lines = std::mem::take(&mut *self.buf.borrow_mut());
        if lines.is_empty() {
            return;
        }
        let mut out = self.out.borrow_mut();
        if let Err(e) = out.write_all(&lines).and_then(|()| out.flush()) {
            eprintln!("sprout: HTTP access log: write failed, lines lost: {e}");
        }
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            // Give the allocation back for the next lines.
            *buf = lines;
            buf.clear();
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("buffered", &self.buf.borrow().len())
            .finish()
    }
}

/// Appends `s` with every byte outside printable ASCII, `"` and `\` as `\xHH`.
fn escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b);
        } else {
            out.extend_from_slice(b"\\x");
            out.push(b"0123456789abcdef"[usize::from(b >> 4)]);
            out.push(b"0123456789abcdef"[usize::from(b & 15)]);
        }
    }
}

/// `secs` since the Unix epoch as CLF's `[dd/Mon/yyyy:hh:mm:ss +0000]`.
fn clf_time(secs: u64) -> [u8; 28] {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let mut out = *b"[01/Jan/1970:00:00:00 +0000]";
    let two = |dst: &mut [u8], n: u64| {
        dst[0] = b'0' + (n / 10 % 10) as u8;
        dst[1] = b'0' + (n % 10) as u8;
    };
    two(&mut out[1..3], day);
    out[4..7].copy_from_slice(MONTHS[(month - 1) as usize]);
    two(&mut out[8..10], year / 100);
    two(&mut out[10..12], year % 100);
    two(&mut out[13..15], rem / 3600);
    two(&mut out[16..18], rem / 60 % 60);
    two(&mut out[19..21], rem % 60);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::rc::Rc;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn clf_time_formats() {
        assert_eq!(&clf_time(0), b"[01/Jan/1970:00:00:00 +0000]");
        assert_eq!(&clf_time(784_111_777), b"[06/Nov/1994:08:49:37 +0000]");
    }

    #[test]
    fn lines_are_common_or_combined_and_escaped() {
        let sink = Shared::default();
        let log = AccessLog::new(Box::new(sink.clone()), LogFormat::Combined);
        log.log(&Entry {
            peer: "10.0.0.1:5555".parse().unwrap(),
            request: Some((b"GET", b"/a\"b\x01", 1)),
            referer: None,
            user_agent: Some(b"curl/8"),
            status: 404,
            bytes: 0,
            duration: Duration::from_micros(1_234_567),
        });
        assert!(sink.0.borrow().is_empty(), "buffered until flushed");
        log.flush();
        let text = String::from_utf8(sink.0.borrow().clone()).unwrap();
        let (host, rest) = text.split_once(" - - [").unwrap();
        assert_eq!(host, "10.0.0.1");
        let (_, rest) = rest.split_once("] ").unwrap();
        assert_eq!(
            rest,
            "\"GET /a\\x22b\\x01 HTTP/1.1\" 404 - \"-\" \"curl/8\" 1.234567\n"
        );
    }
}
