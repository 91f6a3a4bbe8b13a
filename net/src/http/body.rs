//! [`Body`]: the request body as a `Read`, framed by `Content-Length` or chunked.
//!
//! The body reader borrows the part of the connection's read buffer that follows the request
//! head: bytes that arrived with the head are served from there first, and more are read from
//! the socket into the same buffer (or, for a large read of a `Content-Length` body, straight
//! into the caller's buffer). Whatever follows the body in the buffer (the next pipelined
//! request) stays there for the connection. Reading it never blocks the hub: a read parks
//! the handler's greenlet only.
//!
//! `Expect: 100-continue` is honoured here: the interim `100 Continue` goes out just before
//! the first read that has to wait for the client.
//!
//! A body that turns out malformed, too large or too slow makes reads fail with
//! `InvalidData`, `TimedOut` or `UnexpectedEof`, and the server answers 400, 413 or 408 in
//! place of the handler's response, then closes the connection.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

use super::chunked::{ChunkedDecoder, Limits, Step};
use super::head::{Fault, Framing};
use crate::conn_stream::ConnStream;

/// The interim response sent for `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the rest of the body is delimited.
#[derive(Debug)]
enum Kind {
    /// No body (or all of it has been read).
    Empty,
    /// `Content-Length`: the bytes still to read.
    Length(u64),
    /// Chunked.
    Chunked(ChunkedDecoder),
}

/// The body of a request: `Read` it from the handler (`req.body().read_to_end(&mut v)`).
pub struct Body<'a> {
    /// The connection, for reads past what is buffered.
    stream: &'a ConnStream,
    /// The connection's read buffer after the head; holds `buf[pos..end]` unread.
    buf: &'a mut [u8],
    /// First unread byte in `buf`.
    pos: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// The framing and what is left of it; advanced by reads.
    kind: Kind,
    /// The largest body accepted (checked here for chunked bodies).
    max_body: u64,
    /// Bound on each wait for the client's bytes.
    timeout: Duration,
    /// `100 Continue` is still owed before the first read that has to wait.
    continue_pending: bool,
    /// Responses to earlier pipelined requests not yet written; they go out before a
    /// `100 Continue`.
    wbuf: &'a mut Vec<u8>,
    /// Why reading failed, if it did; sticky, and answered in place of the response.
    fault: Option<Fault>,
}

/// What the connection gets back from a body once the handler is done with it.
pub(crate) struct Leftover {
    /// Offset of the first byte after what the body consumed, in the buffer lent to it.
    pub(crate) pos: usize,
    /// End of the bytes read into that buffer.
    pub(crate) end: usize,
    /// Whether the body was read to its end, so the connection can carry another request.
    pub(crate) complete: bool,
    /// Why reading failed, if it did.
    pub(crate) fault: Option<Fault>,
}

impl<'a> Body<'a> {
    /// A body framed by `framing` whose first `end` bytes are already in `buf`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        stream: &'a ConnStream,
        buf: &'a mut [u8],
        end: usize,
        framing: Framing,
        limits: Limits,
        expect_continue: bool,
        wbuf: &'a mut Vec<u8>,
        max_body: u64,
        timeout: Duration,
    ) -> Body<'a> {
        let kind = match framing {
            Framing::Empty => Kind::Empty,
            Framing::Length(n) => Kind::Length(n),
            Framing::Chunked => Kind::Chunked(ChunkedDecoder::new(limits)),
        };
        Body {
            stream,
            buf,
            pos: 0,
            end,
            continue_pending: expect_continue && !matches!(kind, Kind::Empty),
            kind,
            max_body,
            timeout,
            wbuf,
            fault: None,
        }
    }

    /// Whether the whole body has been read.
    pub fn is_complete(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Length(left) => *left == 0,
            Kind::Chunked(d) => d.is_done(),
        }
    }

    /// Drops what is left of the body *as far as it is already buffered* (never waiting for
    /// the client), then hands the buffer state back. A body that is not complete after that
    /// makes the connection close after the response, which goes out at once; the rest is
    /// discarded by the closing connection's lingering read, which has a deadline and a
    /// byte cap (nginx's lingering close). A body sent together with
    /// `Expect: 100-continue` (the client did not wait) is dropped the same way, so the
    /// connection is kept and a request pipelined after it is answered.
    pub(crate) fn finish(mut self) -> Leftover {
        if self.fault.is_none() {
            self.skip_buffered();
        }
        Leftover {
            pos: self.pos,
            end: self.end,
            complete: self.is_complete() && self.fault.is_none(),
            fault: self.fault,
        }
    }

    /// Consumes the buffered part of the body without reading the socket.
    fn skip_buffered(&mut self) {
        match &mut self.kind {
            Kind::Empty => {}
            Kind::Length(left) => {
                let n = (*left).min((self.end - self.pos) as u64);
                *left -= n;
                self.pos += n as usize;
            }
            Kind::Chunked(dec) => loop {
                match dec.step(&self.buf[self.pos..self.end], self.max_body) {
                    Ok(Step::Data(n)) => {
                        dec.consumed(n);
                        self.pos += n;
                    }
                    Ok(Step::Skip(n)) => self.pos += n,
                    Ok(Step::Done(n)) => {
                        self.pos += n;
                        break;
                    }
                    Ok(Step::NeedMore) => break,
                    Err(f) => {
                        self.fault = Some(f);
                        break;
                    }
                }
            },
        }
    }

    fn read_body(&mut self, out: &mut [u8]) -> Result<usize, Fault> {
        match &mut self.kind {
            Kind::Empty => Ok(0),
            Kind::Length(left) => {
                let want = (*left).min(out.len() as u64) as usize;
                if want == 0 {
                    return Ok(0);
                }
                let n = if self.pos < self.end {
                    let n = want.min(self.end - self.pos);
                    out[..n].copy_from_slice(&self.buf[self.pos..self.end][..n]);
                    self.pos += n;
                    n
                } else if want >= self.buf.len() {
                    // A large read: straight into the caller's buffer, never past the body.
                    self.pos = 0;
                    self.end = 0;
                    self.read_socket_into(&mut out[..want])?
                } else {
                    self.fill()?;
                    let n = want.min(self.end - self.pos);
                    out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                    self.pos += n;
                    n
                };
                if let Kind::Length(left) = &mut self.kind {
                    *left -= n as u64;
                }
                Ok(n)
            }
            Kind::Chunked(_) => self.read_chunked(out),
        }
    }

    fn read_chunked(&mut self, out: &mut [u8]) -> Result<usize, Fault> {
        let mut produced = 0;
        loop {
            let Kind::Chunked(dec) = &mut self.kind else {
                unreachable!("read_chunked on a chunked body");
            };
            match dec.step(&self.buf[self.pos..self.end], self.max_body)? {
                Step::Data(n) => {
                    let k = n.min(out.len() - produced);
                    out[produced..produced + k].copy_from_slice(&self.buf[self.pos..][..k]);
                    dec.consumed(k);
                    self.pos += k;
                    produced += k;
                    if produced == out.len() {
                        return Ok(produced);
                    }
                }
                Step::Skip(n) => self.pos += n,
                Step::Done(n) => {
                    self.pos += n;
                    return Ok(produced);
                }
                Step::NeedMore if produced > 0 => return Ok(produced),
                Step::NeedMore => self.fill()?,
            }
        }
    }

    /// Reads more of the client's bytes into the buffer, keeping the unread ones.
    fn fill(&mut self) -> Result<(), Fault> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            // A framing line longer than the whole buffer.
            return Err(Fault::BadRequest);
        }
        let (buf, end) = (&mut *self.buf, self.end);
        let n = read_socket(
            self.stream,
            self.wbuf,
            &mut self.continue_pending,
            self.timeout,
            &mut buf[end..],
        )?;
        self.end += n;
        Ok(())
    }

    fn read_socket_into(&mut self, out: &mut [u8]) -> Result<usize, Fault> {
        read_socket(
            self.stream,
            self.wbuf,
            &mut self.continue_pending,
            self.timeout,
            out,
        )
    }
}

/// One read of the client's bytes (sending an owed `100 Continue` first). EOF before the end
/// of the body is a fault.
fn read_socket(
    mut stream: &ConnStream,
    wbuf: &mut Vec<u8>,
    continue_pending: &mut bool,
    timeout: Duration,
    out: &mut [u8],
) -> Result<usize, Fault> {
    if *continue_pending {
        *continue_pending = false;
        wbuf.extend_from_slice(CONTINUE);
        let sent = stream.write_all(wbuf);
        wbuf.clear();
        sent.map_err(|_| Fault::Closed)?;
    }
    let _ = stream.set_read_timeout(Some(timeout));
    match stream.read(out) {
        Ok(0) => Err(Fault::BadRequest),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(Fault::Timeout),
        Err(_) => Err(Fault::Closed),
    }
}

/// The error a failed body read reports to the handler.
fn io_error(fault: Fault) -> io::Error {
    let (kind, what) = match fault {
        Fault::Timeout => (
            io::ErrorKind::TimedOut,
            "request body: the client is too slow",
        ),
        Fault::TooLarge => (
            io::ErrorKind::InvalidData,
            "request body: larger than the limit",
        ),
        Fault::Closed => (
            io::ErrorKind::UnexpectedEof,
            "request body: the client went away",
        ),
        _ => (
            io::ErrorKind::InvalidData,
            "request body: malformed or cut short",
        ),
    };
    io::Error::new(kind, what)
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = self.fault {
            return Err(io_error(f));
        }
        if out.is_empty() {
            return Ok(0);
        }
        self.read_body(out).map_err(|f| {
            self.fault = Some(f);
            io_error(f)
        })
    }
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("kind", &self.kind)
            .field("buffered", &(self.end - self.pos))
            .field("fault", &self.fault)
            .finish()
    }
}
